// Opens the watch page of a video and checks that it plays: currentTime advances, the quality
// menu switches to the smallest rendition and playback goes on, no fatal hls.js error, no
// console or page errors.
// Usage: node tests/browser/watch.mjs --base URL --token TOKEN --video ID [--screenshots DIR]
import { parseArgs, report, signIn, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = {
  ok: false, currentTime: 0, qualities: [], switchedTo: null, storyboardPreview: null,
  hlsErrors: [], consoleErrors: [],
};
await report(result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  result.consoleErrors = watchErrors(page);
  await signIn(page, args.base, args.token, args.screenshots);
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/library.png`, fullPage: true });

  await page.goto(`${args.base}/watch?v=${args.video}`);
  await page.waitForFunction(() => window.vodnestPlayer && window.vodnestPlayer.video.currentTime > 0,
    null, { timeout: 60000 });
  const start = await page.evaluate(() => window.vodnestPlayer.video.currentTime);
  await page.waitForFunction((t0) => window.vodnestPlayer.video.currentTime >= t0 + 1.5,
    start, { timeout: 30000 });
  result.currentTime = await page.evaluate(() => window.vodnestPlayer.video.currentTime);

  // Quality menu: every rendition is offered; choosing the smallest switches to it.
  result.qualities = await page.$$eval('#quality option', (options) => options.map((o) => o.textContent));
  if (result.qualities.length > 2) {
    const smallest = await page.$$eval('#quality option', (options) => options[options.length - 1].value);
    await page.selectOption('#quality', smallest);
    await page.waitForFunction((level) => {
      const hls = window.vodnestPlayer.hls;
      return hls.currentLevel === Number(level) && window.vodnestPlayer.height === hls.levels[Number(level)].height;
    }, smallest, { timeout: 30000 });
    result.switchedTo = await page.evaluate(() => window.vodnestPlayer.height);
    const t1 = await page.evaluate(() => window.vodnestPlayer.video.currentTime);
    await page.waitForFunction((t) => window.vodnestPlayer.video.currentTime >= t + 1,
      t1, { timeout: 30000 });
  }
  // Storyboard: hovering the seek bar halfway shows that moment's thumbnail.
  if (await page.isVisible('#scrubber')) {
    const box = await page.locator('#scrubber').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForSelector('#scrub-preview:not(.hidden)', { timeout: 5000 });
    result.storyboardPreview = await page.evaluate(() => ({
      image: document.getElementById('scrub-thumb').style.backgroundImage,
      position: document.getElementById('scrub-thumb').style.backgroundPosition,
      time: document.getElementById('scrub-time').textContent,
    }));
  }
  result.hlsErrors = await page.evaluate(() => window.vodnestErrors);
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/watch.png` });
  const fatal = result.hlsErrors.filter((e) => e.fatal);
  result.ok = fatal.length === 0 && result.consoleErrors.length === 0;
  if (!result.ok) result.reason = 'hls.js or the page reported errors';
});
