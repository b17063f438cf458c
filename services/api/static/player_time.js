// The player's notions of time, without the DOM (unit-tested by tests/browser/player_time.test.mjs):
// deep-link times (`?t=1h2m3s`, `?t=62m`, `?t=3723`, `?t=1:02:03`), the original timeline
// versus the player's (a trimmed video plays a window of the original: player time = original
// time − window start), and which chapter a moment is in.

// Longest `t=` value looked at, and the latest time accepted (about 11 days): anything else
// is not a link this site wrote.
const MAX_PARAM_CHARS = 24;
const MAX_SECONDS = 1e6;

// Seconds of the original timeline a `t=` value names, or null when it names none.
export function parseTimeParam(text) {
  if (typeof text !== 'string') return null;
  const t = text.trim().toLowerCase();
  if (t.length === 0 || t.length > MAX_PARAM_CHARS) return null;
  let seconds = null;
  let match;
  if ((match = /^(\d+(?:\.\d+)?)s?$/.exec(t))) {
    seconds = Number(match[1]);
  } else if ((match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(t))) {
    const [, h = '0', m = '0', s = '0'] = match;
    seconds = Number(h) * 3600 + Number(m) * 60 + Number(s);
  } else if ((match = /^(?:(\d+):)?(\d+):([0-5]\d)$/.exec(t))) {
    const [, h = '0', m, s] = match;
    seconds = Number(h) * 3600 + Number(m) * 60 + Number(s);
  }
  if (seconds === null || !Number.isFinite(seconds) || seconds > MAX_SECONDS) return null;
  return seconds;
}

// Where the player starts for a deep link to `original` seconds: before the window's start,
// at 0; past the end of what it plays (`duration`, when known), nowhere (null: ignored).
export function playerStart(original, offset, duration) {
  if (original === null || original === undefined) return null;
  const at = Math.max(0, original - offset);
  if (Number.isFinite(duration) && duration > 0 && at >= duration) return null;
  return at;
}

// The `t=` of a link to the player's `current` time, in whole seconds of the original timeline.
export function linkTime(current, offset) {
  return Math.max(0, Math.floor(current + offset));
}

// The index of the chapter that `original` seconds fall in, or -1 before the first.
export function chapterAt(chapters, original) {
  let found = -1;
  for (let i = 0; i < chapters.length; i += 1) {
    if (chapters[i].start_s <= original + 1e-6) found = i;
    else break;
  }
  return found;
}

// The chapters a player of `duration` seconds from `offset` shows: { index, title, at } with
// `at` on the player's timeline (the first clamped to 0), those past the end left out.
export function playerChapters(chapters, offset, duration) {
  const shown = [];
  chapters.forEach((chapter, index) => {
    const next = chapters[index + 1];
    if (next && next.start_s <= offset) return;
    const at = Math.max(0, chapter.start_s - offset);
    if (Number.isFinite(duration) && duration > 0 && at >= duration) return;
    shown.push({ index, title: chapter.title, at });
  });
  return shown;
}
