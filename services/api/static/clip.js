// The owner's clip tools on the watch page: "Mark in" / "Mark out" take the player's current
// time, "Make clip" asks for a clip (instant, or precise when ticked) and links to its page.
// Times are on the video's original timeline (for a clip: its own, from 0): player time + the
// window's start when the video is trimmed.
import { api } from './api.js';

const video = JSON.parse(document.getElementById('video-data').textContent);
const player = document.getElementById('player');
const start = document.getElementById('clip-start');
const end = document.getElementById('clip-end');
const result = document.getElementById('clip-result');
const offset = video.window?.start_s ?? 0;
const now = () => (Math.round((player.currentTime + offset) * 10) / 10).toFixed(1);

document.getElementById('mark-in').addEventListener('click', () => { start.value = now(); });
document.getElementById('mark-out').addEventListener('click', () => { end.value = now(); });
document.getElementById('clip-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { start_s: Number(start.value), end_s: Number(end.value) };
  const title = document.getElementById('clip-title').value.trim();
  if (title) body.title = title;
  if (document.getElementById('clip-precise').checked) body.precise = true;
  result.textContent = 'Making the clip…';
  try {
    const { video: clip } = await api('POST', `/api/v1/videos/${video.id}/clips`, body);
    const link = document.createElement('a');
    link.id = 'clip-link';
    link.href = `/watch?v=${clip.id}`;
    link.textContent = clip.title;
    result.replaceChildren(clip.status === 'ready' ? 'Clip ready: ' : 'Clip queued: ', link);
  } catch (err) {
    result.textContent = `Cannot make the clip: ${err.message}`;
  }
});
