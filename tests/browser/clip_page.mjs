// The owner's clip tools on the watch page: play a little, "Mark in", play on, "Mark out",
// title, "Make clip"; then the link to the clip, whose page says "Clip of <parent>" with a link
// back and plays.
// Usage: node tests/browser/clip_page.mjs --base URL --token TOKEN --video ID [--screenshots DIR]
import { parseArgs, report, signIn, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = { ok: false, marks: null, clip: null, clipOf: null, parentLink: null, consoleErrors: [] };
await report(result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  result.consoleErrors = watchErrors(page);
  await signIn(page, args.base, args.token, args.screenshots);
  await page.goto(`${args.base}/watch?v=${args.video}`);
  await page.waitForFunction(() => window.vodnestPlayer && window.vodnestPlayer.video.currentTime > 1,
    null, { timeout: 60000 });
  await page.click('#clip-tools summary');
  await page.click('#mark-in');
  const markIn = Number(await page.inputValue('#clip-start'));
  await page.waitForFunction((t) => window.vodnestPlayer.video.currentTime > t + 2.5, markIn,
    { timeout: 30000 });
  await page.click('#mark-out');
  const markOut = Number(await page.inputValue('#clip-end'));
  result.marks = [markIn, markOut];
  await page.fill('#clip-title', 'made on the page');
  await page.click('#clip-make');
  await page.waitForSelector('#clip-link', { timeout: 30000 });
  result.clip = await page.textContent('#clip-link');
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/clip-tools.png` });
  await page.click('#clip-link');
  await page.waitForSelector('#clip-of', { timeout: 30000 });
  result.clipOf = (await page.textContent('#clip-of')).trim();
  result.parentLink = await page.getAttribute('#clip-of a', 'href');
  await page.waitForFunction(() => window.vodnestPlayer && window.vodnestPlayer.video.currentTime > 1,
    null, { timeout: 60000 });
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/clip-page.png` });
  result.ok = markOut > markIn && result.clip === 'made on the page'
    && result.parentLink === `/watch?v=${args.video}` && result.consoleErrors.length === 0;
  if (!result.ok) result.reason = 'the clip tools or the clip page misbehaved';
});
