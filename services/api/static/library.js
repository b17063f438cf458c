// Library page: durations in h:mm:ss, and live status for videos still in the works,
// renditions still being made included.
import { showEncoding } from './encoding.js';
import { follow, videoPath } from './events.js';
import { clock } from './time.js';

// Lengths are shown to the nearest second.
const length = (seconds) => clock(Math.round(seconds));

// Once a video is ready its poster and duration exist: fetch them without a reload.
async function showFinished(card) {
  const path = videoPath(card.dataset.videoId, { public: card.dataset.public === 'true' });
  const response = await fetch(path, { credentials: 'same-origin' });
  if (!response.ok) return;
  const { video } = await response.json();
  const poster = card.querySelector('[data-role=poster]');
  if (video.playback.poster_url) {
    poster.src = video.playback.poster_url;
    poster.classList.remove('hidden');
  }
  if (video.duration_s) card.querySelector('[data-role=duration]').textContent = length(video.duration_s);
}

function update(card, state) {
  const wasReady = card.dataset.status === 'ready';
  // Public cards carry no status badge: they are all playable.
  const badge = card.querySelector('[data-role=badge]');
  if (badge) {
    badge.className = `badge badge-${state.status}`;
    badge.textContent = state.status.replace('_', ' ');
  }
  card.dataset.status = state.status;
  const progress = card.querySelector('[data-role=progress]');
  const working = state.status === 'queued' || state.status === 'processing';
  progress.classList.toggle('hidden', !working);
  progress.firstElementChild.style.width = `${Math.round(state.progress * 100)}%`;
  showEncoding(card.querySelector('[data-role=encoding]'), state.encoding);
  if (state.status === 'ready' && !wasReady) showFinished(card).catch(() => {});
}

for (const el of document.querySelectorAll('[data-role=duration][data-duration]')) {
  el.textContent = length(Number(el.dataset.duration));
}
for (const card of document.querySelectorAll('.card[data-video-id]')) {
  const status = card.dataset.status;
  const encoding = JSON.parse(card.querySelector('[data-role=encoding]').dataset.encoding);
  showEncoding(card.querySelector('[data-role=encoding]'), encoding);
  if ((status !== 'ready' && status !== 'failed') || encoding) {
    follow(card.dataset.videoId, (state) => update(card, state),
      { public: card.dataset.public === 'true', encoding: true });
  }
}
