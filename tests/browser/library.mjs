// The library updates live: a queued video's badge turns processing (with its progress bar)
// and then ready, and its poster and duration appear, without a reload. The status changes
// are made in Postgres with psql, so they travel the real path: trigger, NOTIFY, the API's
// listener, the websocket. Before the "ready" update the page's socket is dropped (as a
// restarting server would): the page must open a new one by itself, whose first snapshot
// brings the change it missed.
// Usage: node tests/browser/library.mjs --base URL --token TOKEN --video ID --database-url URL
//        [--screenshots DIR]
import { execFileSync } from 'node:child_process';
import { parseArgs, report, signIn, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = {
  ok: false, badges: [], progress: null, poster: null, reloaded: true, reconnected: false, consoleErrors: [],
};
const sql = (statement) => execFileSync('psql', [args['database-url'], '-qtAc', statement]);

await report(result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  result.consoleErrors = watchErrors(page);
  // Every events socket passes through here, so the test can count them and drop one.
  const sockets = [];
  await page.routeWebSocket(/\/api\/v1\/videos\/[^/]+\/events$/, (ws) => {
    ws.connectToServer();
    sockets.push(ws);
  });
  await signIn(page, args.base, args.token);
  await page.goto(`${args.base}/`);
  await page.evaluate(() => { window.vodnestSameDocument = true; });
  const card = `.card[data-video-id="${args.video}"]`;
  const badge = `${card} [data-role=badge]`;
  const badgeIs = (text) => page.waitForFunction(
    ([selector, want]) => document.querySelector(selector)?.textContent.trim() === want,
    [badge, text], { timeout: 15000 });

  result.badges.push(await page.textContent(badge));
  // Give the websocket its snapshot before changing anything.
  await page.waitForTimeout(300);
  sql(`update videos set status = 'processing', stage = 'transcoding', progress = 0.4 where id = '${args.video}'`);
  await badgeIs('processing');
  result.badges.push('processing');
  await page.waitForFunction((selector) => document.querySelector(`${selector} .progress-bar`).style.width === '40%',
    card, { timeout: 15000 });
  result.progress = '40%';
  // The newest socket is this page's (the sign-in's redirect loaded the library once before).
  const dropped = sockets.length;
  await sockets[dropped - 1].close({ code: 1012, reason: 'the test restarts the server' });
  sql(`update videos set status = 'ready', stage = null, progress = 1, playable = true, duration_s = 75, has_poster = true, media_prefix = 'videos/${args.video}/public/1/' where id = '${args.video}'`);
  await badgeIs('ready');
  result.badges.push('ready');
  result.reconnected = sockets.length > dropped;
  await page.waitForFunction((selector) => {
    const img = document.querySelector(`${selector} [data-role=poster]`);
    return img && !img.classList.contains('hidden') && img.src.endsWith('/poster.jpg');
  }, card, { timeout: 15000 });
  result.poster = await page.getAttribute(`${card} [data-role=poster]`, 'src');
  result.duration = await page.textContent(`${card} [data-role=duration]`);
  result.reloaded = !(await page.evaluate(() => window.vodnestSameDocument === true));
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/library-live.png`, fullPage: true });
  await page.waitForFunction((selector) => document.querySelector(`${selector} [data-role=poster]`).naturalWidth > 0,
    card, { timeout: 15000 });
  // Readable on a phone: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  result.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/library-phone.png`, fullPage: true });
  result.ok = !result.reloaded && result.duration === '1:15' && result.phoneOverflow <= 0
    && result.reconnected && result.consoleErrors.length === 0;
  if (!result.ok) result.reason = 'the library did not update in place';
});
