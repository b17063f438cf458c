// The watch page of a video with chapters (0:00, 0:12, 0:25 of a 40 s video): the marks on the
// seek bar, the list beside the player and its chapters track; a click on a chapter seeks
// there; → seeks 5 s on, K pauses; the speed menu sets the rate; after a reload the player
// resumes where it was, at the same speed; a `?t=` link starts there, on the watch page and
// in the embed player; "Copy link at current time" makes a `t=` link.
// Usage: node tests/browser/chapters.mjs --base URL --token TOKEN --video ID [--screenshots DIR]
import { parseArgs, report, signIn, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = { ok: false, pageErrors: [] };
const TIMEOUT = { timeout: 60000, polling: 100 };

const time = (page) => page.evaluate(() => window.vodnestPlayer.video.currentTime);
const playingFrom = (page, at) => page.waitForFunction(
  (t) => window.vodnestPlayer && window.vodnestPlayer.video.currentTime > t
    && window.vodnestPlayer.video.readyState >= 2, at, TIMEOUT,
);

await report(result, async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  result.pageErrors = watchErrors(page);
  await signIn(page, args.base, args.token);
  await page.goto(`${args.base}/watch?v=${args.video}`);
  await playingFrom(page, 0.2);

  // Marks on the seek bar, the list, the track.
  await page.waitForSelector('#scrubber:not(.hidden)', { timeout: 10000 });
  result.marks = await page.$$eval('#chapter-marks .chapter-mark', (marks) => marks.map((m) => Number(m.dataset.at)));
  result.markLefts = await page.$$eval('#chapter-marks .chapter-mark', (marks) => marks.map((m) => m.style.left));
  result.list = await page.$$eval('#chapter-list .chapter-title', (titles) => titles.map((t) => t.textContent));
  await page.waitForFunction(() => {
    const track = [...window.vodnestPlayer.video.textTracks].find((t) => t.kind === 'chapters');
    return track && track.cues && track.cues.length > 0;
  }, null, TIMEOUT);
  result.trackCues = await page.evaluate(() => [...window.vodnestPlayer.video.textTracks]
    .find((t) => t.kind === 'chapters').cues.length);
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/chapters.png` });

  // A click on the second chapter seeks to 0:12, and highlights it.
  await page.click('#chapter-list li:nth-child(2) button');
  await page.waitForFunction(() => {
    const t = window.vodnestPlayer.video.currentTime;
    return t >= 11.7 && t < 14 && !window.vodnestPlayer.video.seeking;
  }, null, TIMEOUT);
  result.afterChapterClick = await time(page);
  await page.waitForSelector('#chapter-list button.current', { timeout: 10000 });
  result.currentChapter = await page.$eval('#chapter-list button.current .chapter-title', (t) => t.textContent);

  // K pauses; → seeks 5 s on.
  await page.keyboard.press('k');
  await page.waitForFunction(() => window.vodnestPlayer.video.paused, null, TIMEOUT);
  result.pausedByK = true;
  result.beforeArrow = await time(page);
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction((t) => {
    const video = window.vodnestPlayer.video;
    return video.currentTime > t + 1 && !video.seeking;
  }, result.beforeArrow, TIMEOUT);
  result.afterArrow = await time(page);

  // The speed menu.
  await page.selectOption('#speed', '1.5');
  result.rate = await page.evaluate(() => window.vodnestPlayer.video.playbackRate);

  // Resume: at 20 s, paused (which saves the position), then a reload.
  await page.evaluate(() => { window.vodnestPlayer.video.currentTime = 20; });
  await page.waitForFunction(() => {
    const video = window.vodnestPlayer.video;
    return Math.abs(video.currentTime - 20) < 0.5 && !video.seeking;
  }, null, TIMEOUT);
  await page.reload();
  await playingFrom(page, 19.5);
  result.resumedAt = await page.evaluate(() => window.vodnestPlayer.startAt);
  result.rateAfterReload = await page.evaluate(() => window.vodnestPlayer.video.playbackRate);

  // "Copy link at current time": the clipboard or, refused, the field shows it.
  await page.click('#copy-time');
  await page.waitForFunction(() => document.getElementById('time-link').value !== '', null, TIMEOUT);
  result.copiedLink = await page.$eval('#time-link', (field) => field.value);

  // A deep link starts there, whatever was remembered.
  await page.goto(`${args.base}/watch?v=${args.video}&t=0m30s`);
  await playingFrom(page, 29.5);
  result.linkedAt = await page.evaluate(() => window.vodnestPlayer.startAt);

  // The embed player honours `t=` too.
  await page.goto(`${args.base}/embed/${args.video}?t=25`);
  await playingFrom(page, 24.5);
  result.embedAt = await page.evaluate(() => window.vodnestPlayer.startAt);
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/chapters-embed.png` });

  await context.close();
  result.ok = result.pageErrors.length === 0;
  if (!result.ok) result.reason = 'the page reported errors';
});
