// Plays an MP4 file in a plain <video src> (Chromium's own demuxer, no hls.js): playback must
// start and go past a few seconds, then a seek to the middle must land there and play on.
// Used on the MP4 downloads, which are fragmented MP4s written without `+faststart`.
// Usage: node tests/browser/mp4_play.mjs --base API_URL --src URL --duration S
import { bareVideoPage, parseArgs, report } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));

const result = { ok: false };
await report(result, async (browser) => {
  const duration = Number(args.duration);
  if (!args.src || !args.base || !(duration > 4)) {
    throw new Error('--base, --src and --duration (over 4 s) are required');
  }
  const { context, page, problems } = await bareVideoPage(browser, args.base, null);
  await page.evaluate((src) => {
    const video = document.querySelector('video');
    window.state = { error: null };
    video.addEventListener('error', () => { window.state.error = video.error ? video.error.message || `code ${video.error.code}` : 'error'; });
    video.src = src;
    video.play().catch(() => {});
  }, args.src);
  // Front to back: past 3 s of playback.
  const played = await page.waitForFunction(() => window.state.error
    || (document.querySelector('video').currentTime > 3 && document.querySelector('video').currentTime),
  null, { timeout: 30000, polling: 100 }).then((t) => t.jsonValue());
  const known = await page.evaluate(() => document.querySelector('video').duration);
  // A seek to the middle: the element reports it done, then plays on from there.
  const middle = duration / 2;
  await page.evaluate((at) => { document.querySelector('video').currentTime = at; }, middle);
  const landed = await page.waitForFunction((at) => window.state.error || (() => {
    const video = document.querySelector('video');
    return !video.seeking && video.currentTime >= at + 1 ? video.currentTime : false;
  })(), middle, { timeout: 30000, polling: 100 }).then((t) => t.jsonValue());
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/mp4-play.png` });
  const error = await page.evaluate(() => window.state.error);
  await context.close();
  Object.assign(result, { played, duration: known, middle, landed, error, pageErrors: problems() });
  const reasons = [];
  if (error) reasons.push(`media error: ${error}`);
  if (typeof played !== 'number') reasons.push('playback did not start');
  if (typeof landed !== 'number' || landed > middle + 10) reasons.push('the seek did not land');
  if (result.pageErrors.length) reasons.push('the page reported errors');
  result.ok = reasons.length === 0;
  if (!result.ok) result.reason = reasons.join('; ');
});
