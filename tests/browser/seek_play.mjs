// Plays a master playlist in hls.js from a given instant for a given time and reports whether
// playback ever stalled: the `waiting` events of the video element and hls.js's
// BUFFER_STALLED_ERROR after the first frame past the seek, how far currentTime went, and any
// error. Used across the boundary of two chunks of a split encode.
// Usage: node tests/browser/seek_play.mjs --base API_URL --master URL --at S --seconds N
import { fileURLToPath } from 'node:url';
import { bareVideoPage, parseArgs, report } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const HLS = fileURLToPath(new URL('../../node_modules/hls.js/dist/hls.min.js', import.meta.url));

const result = { ok: false };
await report(result, async (browser) => {
  const at = Number(args.at);
  const seconds = Number(args.seconds);
  if (!args.master || !args.base || !(at >= 0) || !(seconds > 0)) {
    throw new Error('--base, --master, --at and --seconds are required');
  }
  const { context, page, problems } = await bareVideoPage(browser, args.base, HLS);
  await page.evaluate(([master, at]) => {
    const video = document.querySelector('video');
    window.state = { fatal: null, stalls: 0, waiting: 0, counting: false };
    const hls = new Hls({ startPosition: at });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) window.state.fatal = data.details;
      if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR && window.state.counting) {
        window.state.stalls += 1;
      }
    });
    video.addEventListener('waiting', () => { if (window.state.counting) window.state.waiting += 1; });
    hls.loadSource(master);
    hls.attachMedia(video);
    video.play().catch(() => {});
  }, [args.master, at]);
  // The first frames past the seek: from here on, playback must not stop.
  const from = await page.waitForFunction((at) => {
    const video = document.querySelector('video');
    if (window.state.fatal || !(video.currentTime >= at + 0.2) || video.paused) return false;
    window.state.counting = true;
    window.state.wallStart = performance.now();
    return video.currentTime;
  }, at, { timeout: 45000, polling: 100 }).then((t) => t.jsonValue());
  await page.waitForFunction(([from, seconds]) => window.state.fatal
    || document.querySelector('video').currentTime >= from + seconds,
  [from, seconds], { timeout: (seconds * 3 + 15) * 1000, polling: 100 });
  const got = await page.evaluate(() => ({
    to: document.querySelector('video').currentTime,
    wallSeconds: (performance.now() - window.state.wallStart) / 1000,
    waiting: window.state.waiting,
    stalls: window.state.stalls,
    fatal: window.state.fatal,
  }));
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/seek-play.png` });
  await context.close();
  Object.assign(result, { from, ...got, pageErrors: problems() });
  const reasons = [];
  if (got.fatal) reasons.push(`hls.js: ${got.fatal}`);
  if (got.waiting || got.stalls) reasons.push(`stalled (${got.waiting} waiting, ${got.stalls} stalls)`);
  if (result.pageErrors.length) reasons.push('the page reported errors');
  result.ok = reasons.length === 0;
  if (!result.ok) result.reason = reasons.join('; ');
});
