// Watch page and embed player: play the HLS stream with hls.js (or natively on Safari) with a
// quality menu (auto plus each rendition); while the video is still processing, show its
// progress and start by itself once it is playable. Renditions still being made are shown
// under the player while they are; once they are done, the player loads the new master
// playlist if it lists renditions the player lacks. The owner (or an admin) reads the video
// through the authenticated routes, anyone else through the public ones. When playback first
// starts, a view is counted (once per viewer per day, by the server). Chapters are marked on
// the seek bar and listed beside the player (chapters.js); deep links, resuming, shortcuts,
// speed and picture-in-picture are in comforts.js. Chapters and `?t=` are on the original
// timeline; a trimmed video's player plays its `window` of it (player time = original time −
// window start).
import { showChapters } from './chapters.js';
import {
  rememberPosition, setUpKeys, setUpPictureInPicture, setUpSpeed, setUpTimeLink, startPosition,
} from './comforts.js';
import { showEncoding } from './encoding.js';
import { follow, videoPath } from './events.js';
import { clock } from './time.js';

const video = JSON.parse(document.getElementById('video-data').textContent);
const viewer = JSON.parse(document.getElementById('viewer-data').textContent);
const route = { public: !viewer.owner };
const element = document.getElementById('player');
const status = document.getElementById('status');
const qualityBox = document.getElementById('quality-box');
const quality = document.getElementById('quality');
const encodingLine = document.getElementById('encoding');
window.vodnestErrors = [];
window.vodnestPlayer = { video: element, hls: null, viewCounted: null, reloads: 0, chapters: [] };
let started = false;
// Where the player's 0 is on the original timeline, and how long what it plays is.
const offset = video.window?.start_s ?? 0;
const windowLength = video.window ? video.window.end_s - video.window.start_s : video.duration_s;
const length = () => (Number.isFinite(element.duration) && element.duration > 0
  ? element.duration : (windowLength ?? NaN));
const start = startPosition(video, offset, length());
window.vodnestPlayer.startAt = start.at;
// The renditions of the master playlist the player loaded.
let loadedRenditions = video.renditions.map((r) => r.name);
if (video.playback.poster_url) element.poster = video.playback.poster_url;

// The menu lists renditions tallest first; "Auto" lets hls.js pick by bandwidth and shows
// which one it picked. Built again when a new master playlist is loaded.
function buildQualityMenu(hls) {
  const levels = hls.levels.map((level, index) => ({ index, height: level.height, bitrate: level.bitrate }))
    .sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
  quality.replaceChildren(quality.options[0]);
  quality.options[0].textContent = 'Auto';
  qualityBox.classList.toggle('hidden', levels.length < 2);
  if (levels.length < 2) return;
  for (const level of levels) {
    const option = document.createElement('option');
    option.value = String(level.index);
    option.textContent = `${level.height}p`;
    quality.appendChild(option);
  }
  hls.on(window.Hls.Events.LEVEL_SWITCHED, (_event, data) => {
    const level = hls.levels[data.level];
    window.vodnestPlayer.height = level ? level.height : null;
    quality.options[0].textContent = hls.autoLevelEnabled && level ? `Auto (${level.height}p)` : 'Auto';
  });
}
quality.addEventListener('change', () => { window.vodnestPlayer.hls.currentLevel = Number(quality.value); });

function describe(state) {
  if (state.status === 'failed') return `Processing failed: ${state.error || 'unknown error'}`;
  if (state.status === 'awaiting_upload') return 'Waiting for the upload to finish…';
  const stage = state.stage || state.status;
  return `${stage[0].toUpperCase()}${stage.slice(1)}… ${Math.round(state.progress * 100)}%`;
}

// An hls.js player of `url` from `startPosition`, playing at once unless `autoplay` is false.
function attach(url, startPosition, autoplay = true) {
  const hls = new window.Hls({ startPosition });
  window.vodnestPlayer.hls = hls;
  hls.on(window.Hls.Events.ERROR, (_event, data) => {
    window.vodnestErrors.push({ type: data.type, details: data.details, fatal: data.fatal });
    if (data.fatal) status.textContent = `Playback error: ${data.details}`;
  });
  hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
    buildQualityMenu(hls);
    if (autoplay) element.play().catch(() => { /* autoplay refused: the controls remain */ });
  });
  hls.loadSource(url);
  hls.attachMedia(element);
}

function play(url) {
  if (started) return;
  started = true;
  status.textContent = '';
  if (window.Hls && window.Hls.isSupported()) {
    // While processing, playlists are EVENT playlists: start at the beginning (or the deep
    // link's moment), not the edge.
    attach(url, start.at ?? 0);
  } else if (element.canPlayType('application/vnd.apple.mpegurl')) {
    element.src = url;
    if (start.at) {
      element.addEventListener('loadedmetadata', () => { element.currentTime = start.at; }, { once: true });
    }
    element.play().catch(() => {});
  } else {
    status.textContent = 'This browser cannot play HLS video.';
  }
}

// ---- storyboard: thumbnails while hovering the seek bar under the player -----------------
function vttTime(text) {
  const parts = text.trim().split(':').map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

// Cues of a WebVTT thumbnails track: { start, end, url, x, y, w, h }.
function parseStoryboard(text, base) {
  const cues = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.trim().split(/\r?\n/);
    const timing = lines.findIndex((line) => line.includes('-->'));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [start, end] = lines[timing].split('-->').map(vttTime);
    const [file, fragment] = lines[timing + 1].split('#xywh=');
    if (!fragment) continue;
    const [x, y, w, h] = fragment.split(',').map(Number);
    cues.push({ start, end, url: new URL(file, base).href, x, y, w, h });
  }
  return cues;
}

// The seek bar under the player: always there once the length is known, with the chapters'
// marks, the moment (and its chapter) under the pointer, and the storyboard's tile of it
// when the video has one.
const scrub = { cues: [], chapterOf: () => '' };

function setUpScrubber() {
  const scrubber = document.getElementById('scrubber');
  const fill = document.getElementById('scrub-fill');
  const preview = document.getElementById('scrub-preview');
  const thumb = document.getElementById('scrub-thumb');
  const time = document.getElementById('scrub-time');
  const chapter = document.getElementById('scrub-chapter');
  const at = (event) => {
    const box = scrubber.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    return { fraction, seconds: fraction * length(), box };
  };
  scrubber.addEventListener('mousemove', (event) => {
    const { fraction, seconds, box } = at(event);
    if (!Number.isFinite(seconds)) return;
    const { cues } = scrub;
    const cue = cues.find((c) => seconds >= c.start && seconds < c.end) || cues[cues.length - 1];
    thumb.classList.toggle('hidden', !cue);
    if (cue) {
      thumb.style.width = `${cue.w}px`;
      thumb.style.height = `${cue.h}px`;
      thumb.style.backgroundImage = `url("${cue.url}")`;
      thumb.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    }
    time.textContent = clock(seconds);
    chapter.textContent = scrub.chapterOf(seconds);
    const half = (cue ? cue.w : preview.offsetWidth) / 2;
    const left = Math.min(box.width - half, Math.max(half, fraction * box.width));
    preview.style.left = `${left}px`;
    preview.classList.remove('hidden');
  });
  scrubber.addEventListener('mouseleave', () => preview.classList.add('hidden'));
  scrubber.addEventListener('click', (event) => {
    const { seconds } = at(event);
    if (Number.isFinite(seconds)) element.currentTime = seconds;
  });
  element.addEventListener('timeupdate', () => {
    fill.style.width = `${(100 * element.currentTime) / length()}%`;
  });
  const show = () => scrubber.classList.toggle('hidden', !Number.isFinite(length()));
  element.addEventListener('durationchange', show);
  show();
}

async function loadStoryboard(url) {
  const response = await fetch(url);
  if (!response.ok) return;
  scrub.cues = parseStoryboard(await response.text(), url);
  window.vodnestPlayer.storyboard = scrub.cues.length;
}

async function playWhenReady() {
  const response = await fetch(videoPath(video.id, route), { credentials: 'same-origin' });
  if (!response.ok) return;
  const body = await response.json();
  if (body.video.playable && body.video.playback.hls_url) play(body.video.playback.hls_url);
}

// Renditions were being made and are no longer: the processor has published a master playlist
// that lists them. hls.js reads the master once, so a player on the old one starts a new
// player where it was (a short rebuffer) when the video now has renditions it lacks.
async function loadAddedRenditions() {
  const hls = window.vodnestPlayer.hls;
  if (!hls) return;
  const response = await fetch(videoPath(video.id, route), { credentials: 'same-origin' });
  if (!response.ok) return;
  const { video: now } = await response.json();
  const names = now.renditions.map((r) => r.name);
  if (!now.playback.hls_url || names.every((name) => loadedRenditions.includes(name))) return;
  loadedRenditions = names;
  const { currentTime, paused } = element;
  hls.destroy();
  window.vodnestPlayer.reloads += 1;
  attach(now.playback.hls_url, currentTime, !paused);
}

function followVideo() {
  follow(video.id, (state) => {
    if (!started) status.textContent = describe(state);
    if (state.playable && !started) playWhenReady();
    const wasEncoding = !encodingLine.classList.contains('hidden');
    showEncoding(encodingLine, state.encoding);
    if (wasEncoding && !state.encoding && started) loadAddedRenditions().catch(() => {});
  }, { ...route, encoding: true });
}

// Counted when playback starts, not when the page is served: link-preview robots fetch the
// page for its tags and never play. Private videos have no public count route.
async function countView() {
  const response = await fetch(`${videoPath(video.id, { public: true })}/views`, {
    method: 'POST', credentials: 'omit',
  });
  window.vodnestPlayer.viewCounted = response.status;
}

if (video.visibility !== 'private') {
  element.addEventListener('playing', () => { countView().catch(() => {}); }, { once: true });
}

setUpScrubber();
scrub.chapterOf = showChapters({
  element, chapters: video.chapters, offset, length,
  trackUrl: `${videoPath(video.id, route)}/chapters.vtt`,
});
if (video.playback.storyboard_url) loadStoryboard(video.playback.storyboard_url).catch(() => {});
setUpSpeed(element);
setUpPictureInPicture(element);
setUpTimeLink(element, video, offset);
setUpKeys(element, length, () => window.vodnestPlayer.hls);
rememberPosition(element, video, offset, length);
showEncoding(encodingLine, video.encoding);
if (video.playable && video.playback.hls_url) {
  play(video.playback.hls_url);
} else {
  status.textContent = describe(video);
}
if ((video.status !== 'ready' && video.status !== 'failed') || video.encoding) followVideo();
