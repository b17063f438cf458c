// Plays a master playlist in hls.js and reports what a viewer would get: the subtitle tracks
// hls.js lists, the text tracks of the video element, and each cue that was on screen (active
// in a showing text track) with the player time it was seen at; where playback started
// (currentTime when the first frame played) and how far it went. With --lang, that subtitle
// track is turned on. It stops once --cue was seen, or after --seconds of playback.
// Usage: node tests/browser/subtitles.mjs --base API_URL --master URL [--lang en --cue TEXT]
//        --seconds N
import { fileURLToPath } from 'node:url';
import { bareVideoPage, parseArgs, report } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const HLS = fileURLToPath(new URL('../../node_modules/hls.js/dist/hls.min.js', import.meta.url));

const result = { ok: false };
await report(result, async (browser) => {
  const seconds = Number(args.seconds);
  if (!args.master || !args.base || !(seconds > 0)) {
    throw new Error('--base, --master and --seconds are required');
  }
  const { context, page, problems } = await bareVideoPage(browser, args.base, HLS);
  await page.evaluate(([master, lang]) => {
    const video = document.querySelector('video');
    window.state = { fatal: null, subtitleTracks: null, cues: [], startTime: null };
    const hls = new Hls({ subtitleDisplay: true });
    window.hls = hls;
    hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.state.fatal = data.details; });
    // The subtitle tracks are known once the master is parsed (MANIFEST_PARSED comes first).
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, data) => {
      window.state.subtitleTracks = data.subtitleTracks.map((t) => ({ name: t.name, lang: t.lang }));
    });
    window.state.lang = lang;
    hls.loadSource(master);
    hls.attachMedia(video);
    video.play().catch(() => {});
  }, [args.master, args.lang || null]);
  const sample = () => page.evaluate(() => {
    const video = document.querySelector('video');
    const s = window.state;
    if (s.startTime === null && !video.paused && video.currentTime > 0) s.startTime = video.currentTime;
    // Turned on as a viewer would, in the player's captions menu (hls.js follows the mode).
    const wanted = s.lang && window.hls.subtitleTracks.findIndex((t) => t.lang === s.lang);
    if (s.lang && wanted >= 0 && window.hls.subtitleTrack !== wanted) window.hls.subtitleTrack = wanted;
    for (const track of video.textTracks) {
      if (s.lang && track.language === s.lang && track.mode !== 'showing') track.mode = 'showing';
    }
    for (const track of video.textTracks) {
      if (track.mode !== 'showing') continue;
      for (const cue of track.activeCues || []) {
        if (!s.cues.some((c) => c.text === cue.text)) {
          s.cues.push({ text: cue.text, at: video.currentTime, start: cue.startTime, end: cue.endTime });
        }
      }
    }
    return {
      time: video.currentTime,
      fatal: s.fatal,
      textTracks: [...video.textTracks].map((t) => ({ kind: t.kind, label: t.label, language: t.language, mode: t.mode })),
      subtitleTracks: s.subtitleTracks,
      cues: s.cues,
      startTime: s.startTime,
    };
  });
  const deadline = Date.now() + (seconds * 3 + 20) * 1000;
  let got = await sample();
  let shot = false;
  while (!got.fatal && Date.now() < deadline) {
    if (args.cue && got.cues.some((c) => c.text.includes(args.cue))) {
      if (args.screenshots && !shot) await page.screenshot({ path: `${args.screenshots}/subtitles.png` });
      shot = true;
      break;
    }
    if (!args.cue && got.startTime !== null && got.time >= got.startTime + seconds) break;
    await new Promise((r) => setTimeout(r, 100));
    got = await sample();
  }
  if (args.screenshots && !shot) await page.screenshot({ path: `${args.screenshots}/subtitles.png` });
  await context.close();
  Object.assign(result, got, { pageErrors: problems() });
  const reasons = [];
  if (got.fatal) reasons.push(`hls.js: ${got.fatal}`);
  if (got.startTime === null) reasons.push('never played');
  if (args.cue && !got.cues.some((c) => c.text.includes(args.cue))) reasons.push(`the cue "${args.cue}" was never shown`);
  if (result.pageErrors.length) reasons.push('the page reported errors');
  result.ok = reasons.length === 0;
  if (!result.ok) result.reason = reasons.join('; ');
});
