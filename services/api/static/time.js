// Time shown on the pages, formatted in one place: `clock` for positions and lengths
// (0:10, 1:15, 1:02:05), `inWords` for estimates (45 s, 3 min 5 s, 2 h 10 min), `roughly` for
// estimates of long work, to the minute (< 1 min, ~6 min, ~1 h 5 min).

// Whole hours, minutes and seconds of a number of seconds (negative counts as 0).
function split(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
}

const twoDigits = (n) => String(n).padStart(2, '0');

export function clock(seconds) {
  const [h, m, s] = split(seconds);
  return h > 0 ? `${h}:${twoDigits(m)}:${twoDigits(s)}` : `${m}:${twoDigits(s)}`;
}

export function inWords(seconds) {
  if (!Number.isFinite(seconds)) return '…';
  const [h, m, s] = split(Math.round(seconds));
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s} s`;
  return `${s} s`;
}

export function roughly(seconds) {
  if (!Number.isFinite(seconds)) return '…';
  if (seconds < 45) return '< 1 min';
  const [h, m] = split(Math.max(60, Math.round(seconds / 60) * 60));
  if (h === 0) return `~${m} min`;
  return m > 0 ? `~${h} h ${m} min` : `~${h} h`;
}
