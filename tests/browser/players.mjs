// Plays one master playlist in three HLS players, each on a bare page of its own: hls.js,
// Shaka Player and video.js (its VHS engine). For each: playback starts and currentTime
// advances, Chromium decodes audio (webkitAudioDecodedByteCount grows), the audio comes from
// the master's audio group, the player's parser lists the audio-only variant (hls.js and Shaka
// then set it aside beside audio+video variants, by design), and no fatal error is reported.
// Usage: node tests/browser/players.mjs --base API_URL --master URL [--token T --screenshots DIR]
import { fileURLToPath } from 'node:url';
import { bareVideoPage, parseArgs, report } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const vendor = (file) => fileURLToPath(new URL(`../../node_modules/${file}`, import.meta.url));

// Each player: its script, and what it reports once the video plays (run in the page).
const PLAYERS = {
  'hls.js': {
    script: 'hls.js/dist/hls.min.js',
    start: async (master) => {
      const video = document.querySelector('video');
      window.state = { fatal: null, manifestLevels: [] };
      const hls = new Hls();
      hls.on(Hls.Events.MANIFEST_LOADED, (_, data) => {
        window.state.manifestLevels = data.levels.map((l) => ({ codecs: l.attrs.CODECS, uri: l.url }));
      });
      hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.state.fatal = data.details; });
      hls.loadSource(master);
      hls.attachMedia(video);
      window.describe = () => ({
        audioTracks: hls.audioTracks.map((t) => ({ group: t.groupId, name: t.name, uri: t.url })),
        levels: hls.levels.map((l) => l.height),
        audioOnlyListed: window.state.manifestLevels.some((l) => l.codecs === 'mp4a.40.2'),
        fatal: window.state.fatal,
      });
    },
  },
  shaka: {
    script: 'shaka-player/dist/shaka-player.compiled.js',
    start: async (master) => {
      const video = document.querySelector('video');
      window.state = { fatal: null, parsed: [] };
      shaka.polyfill.installAll();
      // Shaka drops audio-only variants beside audio+video ones right after parsing (media
      // source cannot switch between the two): its parser's own result is recorded first.
      const mime = 'application/x-mpegurl';
      shaka.media.ManifestParser.registerParserByMime(mime, () => {
        const parser = new shaka.hls.HlsParser();
        const start = parser.start.bind(parser);
        parser.start = async (uri, playerInterface) => {
          const manifest = await start(uri, playerInterface);
          window.state.parsed = manifest.variants.map((v) => ({
            video: v.video && v.video.codecs, audio: v.audio && v.audio.codecs,
          }));
          return manifest;
        };
        return parser;
      });
      const player = new shaka.Player();
      await player.attach(video);
      player.addEventListener('error', (e) => { window.state.fatal = String(e.detail && e.detail.code); });
      await player.load(master, null, mime);
      window.describe = () => {
        const tracks = player.getVariantTracks();
        const active = tracks.find((t) => t.active);
        return {
          variants: tracks.map((t) => ({ video: t.videoCodec, audio: t.audioCodec, height: t.height })),
          parsedVariants: window.state.parsed,
          activeAudioCodec: active && active.audioCodec,
          audioOnlyListed: window.state.parsed.some((v) => !v.video && v.audio === 'mp4a.40.2'),
          fatal: window.state.fatal,
        };
      };
    },
  },
  'video.js': {
    script: 'video.js/dist/video.min.js',
    start: async (master) => {
      window.state = { fatal: null };
      const player = videojs(document.querySelector('video'));
      player.on('error', () => { window.state.fatal = String(player.error() && player.error().message); });
      player.src({ src: master, type: 'application/x-mpegURL' });
      window.describe = () => {
        const vhs = player.tech(true).vhs;
        const main = vhs && (vhs.playlists.main || vhs.playlists.master);
        const playlists = main ? main.playlists : [];
        return {
          audioTracks: Array.from(player.audioTracks()).map((t) => t.label),
          variants: playlists.map((p) => p.attributes.CODECS),
          audioOnlyListed: playlists.some((p) => p.attributes.CODECS === 'mp4a.40.2'),
          fatal: window.state.fatal,
        };
      };
      await player.play();
    },
  },
};

async function play(browser, name, player) {
  const { context, page, problems } = await bareVideoPage(browser, args.base, vendor(player.script));
  await page.evaluate(`(${player.start.toString()})(${JSON.stringify(args.master)})`);
  await page.evaluate(() => { document.querySelector('video').play().catch(() => {}); });
  const started = await page.waitForFunction(() => {
    const video = document.querySelector('video');
    return video.currentTime > 0.5 && video.webkitAudioDecodedByteCount > 0 && video.currentTime;
  }, null, { timeout: 45000, polling: 250 }).then((t) => t.jsonValue());
  const audioBytes = await page.evaluate(() => document.querySelector('video').webkitAudioDecodedByteCount);
  // Playback goes on, and so does the sound.
  await page.waitForFunction(([t0, bytes0]) => {
    const video = document.querySelector('video');
    return video.currentTime >= t0 + 1.5 && video.webkitAudioDecodedByteCount > bytes0;
  }, [started, audioBytes], { timeout: 30000 });
  const got = await page.evaluate(() => ({
    ...window.describe(),
    currentTime: document.querySelector('video').currentTime,
    audioDecodedBytes: document.querySelector('video').webkitAudioDecodedByteCount,
  }));
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/players-${name.replace('.', '')}.png` });
  await context.close();
  return { ...got, pageErrors: problems() };
}

const result = { ok: false, players: {} };
await report(result, async (browser) => {
  if (!args.master || !args.base) throw new Error('--master and --base are required');
  const failures = [];
  for (const [name, player] of Object.entries(PLAYERS)) {
    try {
      const got = await play(browser, name, player);
      result.players[name] = got;
      if (got.fatal || got.pageErrors.length) failures.push(`${name} reported errors`);
      if (!got.audioOnlyListed) failures.push(`${name} does not list the audio-only variant`);
    } catch (err) {
      result.players[name] = { error: String(err && err.message ? err.message : err) };
      failures.push(`${name} did not play`);
    }
  }
  result.ok = failures.length === 0;
  if (!result.ok) result.reason = failures.join('; ');
});
