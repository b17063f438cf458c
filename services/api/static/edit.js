// The owner's "Edit" panel on the watch page: title and description (whose `0:00 Intro` lines
// become the chapters), explicit chapters, the trim, captions and the poster. Times are on the
// original timeline: player time + the window's start (a trimmed video plays a window of it).
// A change that alters what the page shows (a new title, chapters, a trim or captions, which
// give the video a new `hls_url`) reloads the page at the same moment (`?t=`), and the result
// is shown again after the reload; any refusal shows the server's message.
import { api } from './api.js';
import { linkTime, parseTimeParam } from './player_time.js';
import { clock } from './time.js';

const video = JSON.parse(document.getElementById('video-data').textContent);
const player = document.getElementById('player');
const panel = document.getElementById('edit-tools');
const result = document.getElementById('edit-result');
const path = `/api/v1/videos/${encodeURIComponent(video.id)}`;
const offset = video.window?.start_s ?? 0;
const stashKey = `vodnest-edit:${video.id}`;
// The player's current moment on the original timeline, to a tenth of a second.
const originalNow = () => Math.round((player.currentTime + offset) * 10) / 10;

// A result carried over a reload.
const carried = sessionStorage.getItem(stashKey);
if (carried) {
  sessionStorage.removeItem(stashKey);
  result.textContent = carried;
  panel.open = true;
}

function reloadWith(message) {
  sessionStorage.setItem(stashKey, message);
  const t = linkTime(player.currentTime, offset);
  window.location.assign(`/watch?v=${encodeURIComponent(video.id)}&t=${t}`);
}

// Runs `action` for a form's submit (or a button's click), showing `doing` meanwhile and the
// error's message if it fails.
function on(element, event, doing, action) {
  element.addEventListener(event, async (e) => {
    e.preventDefault();
    result.textContent = doing;
    try {
      await action();
    } catch (err) {
      result.textContent = `Not saved: ${err.message}`;
    }
  });
}

// "m:ss Title" lines (also h:mm:ss, or seconds; a "-" after the time is skipped) as chapters.
function parseChapters(text) {
  const chapters = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const match = /^\s*(\S+)\s*[-–]?\s*(.*)$/.exec(line);
    const start = match ? parseTimeParam(match[1]) : null;
    if (start === null) throw new Error(`line ${index + 1}: expected a time like 1:23, then a title`);
    chapters.push({ start_s: start, title: match[2] });
  });
  return chapters;
}

const chaptersField = document.getElementById('edit-chapters');
chaptersField.value = video.chapters
  .map((c) => `${Number.isInteger(c.start_s) ? clock(c.start_s) : c.start_s} ${c.title}`)
  .join('\n');

on(document.getElementById('details-form'), 'submit', 'Saving…', async () => {
  await api('PATCH', path, {
    title: document.getElementById('edit-title').value,
    description: document.getElementById('edit-description').value,
  });
  reloadWith('Title and description saved.');
});

on(document.getElementById('chapters-form'), 'submit', 'Saving the chapters…', async () => {
  const { video: saved } = await api('PUT', `${path}/chapters`, { chapters: parseChapters(chaptersField.value) });
  reloadWith(`Chapters saved: ${saved.chapters.length}.`);
});

const trimStart = document.getElementById('trim-start');
const trimEnd = document.getElementById('trim-end');
document.getElementById('trim-mark-start').addEventListener('click', () => { trimStart.value = originalNow().toFixed(1); });
document.getElementById('trim-mark-end').addEventListener('click', () => { trimEnd.value = originalNow().toFixed(1); });
on(document.getElementById('trim-form'), 'submit', 'Trimming…', async () => {
  const trim = { start_s: Number(trimStart.value), end_s: Number(trimEnd.value) };
  const { video: saved } = await api('PATCH', path, { trim });
  reloadWith(`Trimmed: plays ${clock(saved.window.start_s)} to ${clock(saved.window.end_s)} of the original.`);
});
const restore = document.getElementById('trim-restore');
if (restore) {
  on(restore, 'click', 'Restoring…', async () => {
    await api('PATCH', path, { trim: null });
    reloadWith('The whole video is back.');
  });
}

// The Content-Type the API wants for a file, from its name (browsers often give none for
// .srt), or null.
function fileType(file, types) {
  const extension = file.name.toLowerCase().split('.').pop();
  return types[extension] ?? null;
}

on(document.getElementById('captions-form'), 'submit', 'Uploading the captions…', async () => {
  const file = document.getElementById('caption-file').files[0];
  const type = file && fileType(file, { vtt: 'text/vtt', srt: 'application/x-subrip' });
  if (!type) throw new Error('choose a .vtt or .srt file');
  const lang = document.getElementById('caption-lang').value.trim();
  const label = document.getElementById('caption-label').value.trim();
  const query = label ? `?label=${encodeURIComponent(label)}` : '';
  await api('PUT', `${path}/captions/${encodeURIComponent(lang)}${query}`, file, type);
  reloadWith(`Captions added (${lang}).`);
});
document.querySelectorAll('[data-remove-lang]').forEach((button) => {
  const lang = button.dataset.removeLang;
  on(button, 'click', 'Removing the captions…', async () => {
    await api('DELETE', `${path}/captions/${encodeURIComponent(lang)}`);
    reloadWith(`Captions removed (${lang}).`);
  });
});

// A poster's file name: its URL's last segment (a signed URL changes with its expiry alone).
const posterName = (url) => (url ? new URL(url, location.href).pathname.split('/').pop() : null);

// A poster chosen by time is grabbed by a job: the page asks for the video every 2 s (for at
// most a minute) until its poster is another file.
async function awaitPoster(before) {
  for (let i = 0; i < 30; i += 1) {
    await new Promise((resolve) => { setTimeout(resolve, 2000); });
    const { video: now } = await api('GET', path);
    const url = now.playback.poster_url;
    if (url && posterName(url) !== posterName(before)) return url;
  }
  return null;
}

on(document.getElementById('poster-frame'), 'click', 'Choosing the poster…', async () => {
  const at = originalNow();
  const { video: asked } = await api('PATCH', path, { poster_time_s: at });
  result.textContent = `Grabbing the frame at ${clock(at)}…`;
  const poster = await awaitPoster(asked.playback.poster_url);
  if (!poster) throw new Error('the poster is still being made; it will show later');
  player.poster = poster;
  result.textContent = `Poster set to the frame at ${clock(at)}.`;
});
on(document.getElementById('poster-form'), 'submit', 'Uploading the poster…', async () => {
  const file = document.getElementById('poster-file').files[0];
  const type = file && fileType(file, { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png' });
  if (!type) throw new Error('choose a JPEG or PNG image');
  const { video: saved } = await api('PUT', `${path}/poster`, file, type);
  player.poster = saved.playback.poster_url;
  result.textContent = 'Poster uploaded.';
});
