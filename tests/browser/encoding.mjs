// Renditions still being made, on the pages: the library shows them and follows them live;
// the watch page shows them, follows them, hides them once they are cleared and then plays the
// new master playlist, whose quality menu lists the added renditions. The changes are made in
// Postgres with psql, so they travel the real path: trigger, NOTIFY, the API's listener, the
// websocket's `encoding` frames.
// Usage: node tests/browser/encoding.mjs --base URL --token TOKEN --video ID --database-url URL
//        --renditions JSON (the video's renditions once done) --prefix PREFIX (the version
//        that plays them) [--screenshots DIR]
import { execFileSync } from 'node:child_process';
import { parseArgs, report, signIn, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = { ok: false, library: [], watch: [], qualities: [], consoleErrors: [] };
const sql = (statement) => execFileSync('psql', [args['database-url'], '-qtAc', statement]);
const setEncoding = (encoding) => sql(
  `update videos set encoding = '${JSON.stringify(encoding)}' where id = '${args.video}'`);
const making = (progress, eta) => ({ renditions: ['480p', '360p'], progress, eta_s: eta });

// Waits until the text of `selector` is `want`, and returns it.
async function textIs(page, selector, want) {
  await page.waitForFunction(([s, w]) => document.querySelector(s)?.textContent === w,
    [selector, want], { timeout: 15000 });
  return want;
}

await report(result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  result.consoleErrors = watchErrors(page);
  await signIn(page, args.base, args.token);

  // The library: the video is both among the caller's own and among the public ones.
  await page.goto(`${args.base}/`);
  const cardText = `.card[data-video-id="${args.video}"] [data-role=encoding-text]`;
  result.library.push(await page.textContent(cardText));
  result.libraryCards = await page.$$eval(`.card[data-video-id="${args.video}"] [data-role=encoding]:not(.hidden)`,
    (lines) => lines.length);
  // Give the websockets their snapshots before changing anything.
  await page.waitForTimeout(300);
  setEncoding(making(0.5, null));
  result.library.push(await textIs(page, cardText, '480p and 360p … 50 %'));
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/library-encoding.png`, fullPage: true });

  // The watch page.
  await page.goto(`${args.base}/watch?v=${args.video}`);
  const watchText = '#encoding [data-role=encoding-text]';
  result.watch.push(await page.textContent(watchText));
  await page.waitForFunction(() => window.vodnestPlayer && window.vodnestPlayer.video.currentTime > 0,
    null, { timeout: 60000 });
  result.qualitiesBefore = await page.$$eval('#quality option', (options) => options.map((o) => o.textContent));
  setEncoding(making(0.6, 360));
  result.watch.push(await textIs(page, watchText, '480p and 360p in ~6 min'));
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/watch-encoding.png` });
  // Done: the renditions exist and the version that lists them is current.
  sql(`update videos set encoding = null, renditions = '${args.renditions}', media_prefix = '${args.prefix}'
       where id = '${args.video}'`);
  await page.waitForSelector('#encoding.hidden', { state: 'attached', timeout: 15000 });
  result.watch.push('hidden');
  await page.waitForFunction(() => window.vodnestPlayer.reloads === 1
    && document.querySelectorAll('#quality option').length === 4, null, { timeout: 30000 });
  result.qualities = await page.$$eval('#quality option', (options) => options.map((o) => o.textContent));
  const t0 = await page.evaluate(() => window.vodnestPlayer.video.currentTime);
  await page.waitForFunction((t) => window.vodnestPlayer.video.currentTime > t + 0.5, t0, { timeout: 30000 });
  result.hlsErrors = await page.evaluate(() => window.vodnestErrors);
  const fatal = result.hlsErrors.filter((e) => e.fatal);
  result.ok = result.libraryCards === 2 && fatal.length === 0 && result.consoleErrors.length === 0;
  if (!result.ok) result.reason = 'hidden encoding lines, a fatal hls.js error or console errors';
});
