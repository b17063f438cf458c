// The player's comforts, on the watch page and the embed player: a deep link's start
// (`?t=`) or, without one, where this browser left off (remembered per video, forgotten near
// the end); keyboard shortcuts; playback speed (remembered); picture-in-picture; a link to
// the current moment. Times in links and memory are on the original timeline (`offset` is
// where the player's 0 is on it).
import { linkTime, parseTimeParam, playerStart } from './player_time.js';

const SPEED_KEY = 'vodnest.speed';
const resumeKey = (id) => `vodnest.resume.${id}`;
// Not worth resuming before this; forgotten this close to the end.
const RESUME_AFTER_S = 5;
const FORGET_BEFORE_END_S = 10;
const SAVE_EVERY_MS = 2000;

// localStorage may be refused (privacy settings, a sandboxed frame): then nothing is kept.
const store = {
  get(key) { try { return localStorage.getItem(key); } catch { return null; } },
  set(key, value) { try { localStorage.setItem(key, value); } catch { /* not kept */ } },
  remove(key) { try { localStorage.removeItem(key); } catch { /* nothing kept */ } },
};

// Where playback should start, on the player's timeline: the `t=` of the page's URL, else the
// remembered position; null for the beginning. `fromLink` says which.
export function startPosition(video, offset, length) {
  const linked = playerStart(parseTimeParam(new URLSearchParams(location.search).get('t')), offset, length);
  if (linked !== null) return { at: linked, fromLink: true };
  const saved = Number(store.get(resumeKey(video.id)));
  if (!(saved >= RESUME_AFTER_S)) return { at: null, fromLink: false };
  const at = playerStart(saved, offset, length);
  if (at === null || (Number.isFinite(length) && at > length - FORGET_BEFORE_END_S)) {
    return { at: null, fromLink: false };
  }
  return { at, fromLink: false };
}

export function rememberPosition(element, video, offset, length) {
  let last = 0;
  const save = (force) => {
    const now = Date.now();
    if (!force && now - last < SAVE_EVERY_MS) return;
    last = now;
    const total = length();
    if (element.ended || (Number.isFinite(total) && element.currentTime > total - FORGET_BEFORE_END_S)) {
      store.remove(resumeKey(video.id));
    } else if (element.currentTime >= RESUME_AFTER_S) {
      store.set(resumeKey(video.id), String(Math.floor(element.currentTime + offset)));
    }
  };
  element.addEventListener('timeupdate', () => save(false));
  element.addEventListener('seeked', () => save(true));
  element.addEventListener('pause', () => save(true));
  element.addEventListener('ended', () => save(true));
  window.addEventListener('pagehide', () => save(true));
}

export function setUpSpeed(element) {
  const select = document.getElementById('speed');
  if (!select) return;
  const apply = (rate) => {
    element.defaultPlaybackRate = rate;
    element.playbackRate = rate;
  };
  const saved = Number(store.get(SPEED_KEY));
  if ([...select.options].some((o) => Number(o.value) === saved)) {
    select.value = String(saved);
    apply(saved);
  }
  select.addEventListener('change', () => {
    apply(Number(select.value));
    store.set(SPEED_KEY, select.value);
  });
  // Loading a new source resets the rate to the default, which is kept with it.
  element.addEventListener('loadedmetadata', () => apply(Number(select.value)));
}

export function setUpPictureInPicture(element) {
  const button = document.getElementById('pip');
  if (!button || !document.pictureInPictureEnabled || element.disablePictureInPicture) return;
  button.classList.remove('hidden');
  button.addEventListener('click', async () => {
    try {
      if (document.pictureInPictureElement) await document.exitPictureInPicture();
      else await element.requestPictureInPicture();
    } catch { /* refused: nothing to do */ }
  });
}

// The copy button writes the link to the clipboard; when the browser refuses, the link is shown
// selected in a field for the viewer to copy.
export function setUpTimeLink(element, video, offset) {
  const button = document.getElementById('copy-time');
  const field = document.getElementById('time-link');
  if (!button || !field) return;
  const label = button.textContent;
  button.addEventListener('click', async () => {
    const t = linkTime(element.currentTime, offset);
    field.value = `${location.origin}/watch?v=${encodeURIComponent(video.id)}&t=${t}`;
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = 'Copied';
      field.classList.add('hidden');
    } catch {
      field.classList.remove('hidden');
      field.focus();
      field.select();
      button.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
}

// Keys typed into a field, or a space or Enter on a button or link, are not shortcuts.
function typing(event) {
  const target = event.target;
  if (!(target instanceof Element)) return false;
  if (target.closest('input, textarea, select, [contenteditable]:not([contenteditable="false"])')) return true;
  return (event.key === ' ' || event.key === 'Enter') && Boolean(target.closest('button, a'));
}

function toggleCaptions(element, hls) {
  if (hls && hls.subtitleTracks && hls.subtitleTracks.length > 0) {
    const on = hls.subtitleTrack >= 0;
    hls.subtitleTrack = on ? -1 : 0;
    hls.subtitleDisplay = !on;
    return;
  }
  const tracks = [...element.textTracks].filter((t) => t.kind === 'subtitles' || t.kind === 'captions');
  if (tracks.length === 0) return;
  const showing = tracks.find((t) => t.mode === 'showing');
  if (showing) showing.mode = 'hidden';
  else tracks[0].mode = 'showing';
}

function toggleFullscreen(element) {
  if (document.fullscreenElement) {
    document.exitFullscreen().catch(() => {});
    return;
  }
  const frame = element.closest('.player-frame') || element;
  if (frame.requestFullscreen) frame.requestFullscreen().catch(() => {});
}

// `length()`: how long what the player plays is; `hls()`: the hls.js player, if any.
export function setUpKeys(element, length, hls) {
  const seekBy = (delta) => {
    const total = length();
    const to = element.currentTime + delta;
    element.currentTime = Math.max(0, Number.isFinite(total) ? Math.min(total, to) : to);
  };
  const actions = {
    ' ': () => (element.paused ? element.play().catch(() => {}) : element.pause()),
    k: () => (element.paused ? element.play().catch(() => {}) : element.pause()),
    arrowleft: () => seekBy(-5),
    arrowright: () => seekBy(5),
    j: () => seekBy(-10),
    l: () => seekBy(10),
    f: () => toggleFullscreen(element),
    m: () => { element.muted = !element.muted; },
    c: () => toggleCaptions(element, hls()),
  };
  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    const key = event.key.toLowerCase();
    let action = actions[key];
    if (!action && key.length === 1 && key >= '0' && key <= '9') {
      action = () => {
        const total = length();
        if (Number.isFinite(total)) element.currentTime = (total * Number(key)) / 10;
      };
    }
    if (!action) return;
    event.preventDefault();
    action();
  });
}
