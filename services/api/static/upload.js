// Upload page: the file goes in parts straight to S3 through presigned URLs (asked for in
// batches, five parts in flight), each part retried with backoff. What is being uploaded is
// kept in localStorage, so after a reload or a dropped connection choosing the same file again
// sends only the parts S3 does not hold yet. Then the page follows processing on the websocket.
import { api } from './api.js';
import { follow } from './events.js';
import { inWords } from './time.js';

const $ = (id) => document.getElementById(id);
const form = $('upload-form');
const fileInput = $('file');
const titleInput = $('title');
const button = $('upload-button');
const panel = $('upload-progress');
const bar = $('upload-bar');
const text = $('upload-text');
const errorBox = $('upload-error');
const done = $('upload-done');
const watchLink = $('watch-link');
const cancelButton = $('cancel-button');
const dropZone = $('drop-zone');
const dropText = $('drop-text');
const resumeNote = $('resume-note');
const PARALLEL = 5;
const URL_BATCH = 100;
const ATTEMPTS = 6;
const STORE = 'vodnest.uploads';

// ---- what is being uploaded, across reloads -------------------------------------------
const fileKey = (file) => `${file.name}|${file.size}|${file.lastModified}`;
function pending() {
  try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch (_) { return {}; }
}
function remember(file, id) {
  const all = pending();
  all[fileKey(file)] = { id, name: file.name, size: file.size, at: Date.now() };
  localStorage.setItem(STORE, JSON.stringify(all));
}
function forget(key) {
  const all = pending();
  delete all[key];
  localStorage.setItem(STORE, JSON.stringify(all));
}

// ---- small helpers ----------------------------------------------------------------------
function fail(message) {
  errorBox.textContent = message;
  errorBox.classList.remove('hidden');
  button.disabled = false;
  cancelButton.classList.add('hidden');
}

function size(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
  return `${bytes.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- progress: bytes, speed over the last seconds, ETA ----------------------------------
function meter(total, already) {
  const samples = [];
  let sent = already;
  return {
    add(bytes) {
      sent += bytes;
      const now = performance.now();
      samples.push([now, sent]);
      while (samples.length > 2 && now - samples[0][0] > 8000) samples.shift();
      const [t0, s0] = samples[0];
      const speed = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0;
      bar.style.width = `${((100 * sent) / total).toFixed(1)}%`;
      const eta = speed > 0 ? (total - sent) / speed : Infinity;
      text.textContent = `Uploaded ${size(sent)} of ${size(total)} · ${size(speed)}/s · ${inWords(eta)} left`;
    },
  };
}

// ---- one upload ---------------------------------------------------------------------------
let current = null; // { id, key, requests: Set<XMLHttpRequest>, stopped }

// Ends an upload's transfers: no worker takes another part and the PUTs in flight are
// aborted. S3 keeps the parts it already has, for a resume.
function stopTransfers(upload) {
  upload.stopped = true;
  upload.requests.forEach((xhr) => xhr.abort());
}

// PUT one part with XHR (fetch cannot report upload progress); resolves to its ETag.
function putPart(url, blob, progress, upload) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let reported = 0;
    upload.requests.add(xhr);
    xhr.open('PUT', url);
    xhr.upload.onprogress = (event) => { progress.add(event.loaded - reported); reported = event.loaded; };
    const settle = () => upload.requests.delete(xhr);
    xhr.onload = () => {
      settle();
      const etag = xhr.getResponseHeader('ETag');
      if (xhr.status >= 200 && xhr.status < 300 && etag) return resolve(etag);
      progress.add(-reported);
      const err = new Error(xhr.status >= 200 && xhr.status < 300
        ? 'S3 sent no ETag (CORS must expose it)' : `S3 answered HTTP ${xhr.status}`);
      err.status = xhr.status;
      reject(err);
    };
    xhr.onerror = () => { settle(); progress.add(-reported); reject(new Error('network error')); };
    xhr.onabort = () => { settle(); progress.add(-reported); reject(new Error('canceled')); };
    xhr.send(blob);
  });
}

async function sendParts(file, upload, plan, todo, doneEtags, progress) {
  const urls = new Map();
  let fetching = null;
  // A URL with less than two minutes left could expire mid-PUT: ask for a new one (with the
  // next parts' in one batch). One that was just asked for is used whatever its expiry says,
  // so a short UPLOAD_URL_TTL_SECS or a skewed clock cannot make this ask again and again.
  async function urlFor(n) {
    const fresh = (entry) => entry && Date.parse(entry.expires_at) - Date.now() > 120000;
    while (!fresh(urls.get(n))) {
      if (fetching) {
        await fetching; // another worker's batch may bring this part's URL
        continue;
      }
      const batch = [n, ...todo.filter((p) => p > n && !fresh(urls.get(p)))].slice(0, URL_BATCH);
      fetching = api('POST', `/api/v1/videos/${upload.id}/upload/parts`, { part_numbers: batch })
        .then(({ parts }) => parts.forEach((p) => urls.set(p.part_number, p)))
        .finally(() => { fetching = null; });
      await fetching;
      if (!urls.has(n)) throw new Error(`the server sent no URL for part ${n}`);
      break;
    }
    return urls.get(n).url;
  }

  async function sendOne(n) {
    const start = (n - 1) * plan.part_size;
    const blob = file.slice(start, Math.min(start + plan.part_size, file.size));
    let last;
    for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
      if (attempt > 0) await sleep(Math.min(15000, 500 * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4));
      if (upload.stopped) throw new Error('canceled');
      try {
        doneEtags.set(n, await putPart(await urlFor(n), blob, progress, upload));
        return;
      } catch (err) {
        if (upload.stopped) throw err;
        last = err;
        if (err.status === 403) urls.delete(n); // expired or refused URL: ask for a new one
        else if (err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) break;
      }
    }
    throw new Error(`part ${n} could not be sent (${last.message}); choose the file again to resume`);
  }

  const queue = todo.slice();
  const worker = async () => {
    while (queue.length > 0 && !upload.stopped) await sendOne(queue.shift());
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
  } catch (err) {
    // A part that failed for good ends the upload: the other workers stop with it.
    stopTransfers(upload);
    throw err;
  }
}

// The upload this browser began for this very file, if the server still holds it.
async function resumable(file) {
  const saved = pending()[fileKey(file)];
  if (!saved) return null;
  try {
    const state = await api('GET', `/api/v1/videos/${saved.id}/upload`);
    return { id: saved.id, state };
  } catch (err) {
    if (err.status === 404 || err.status === 409) { forget(fileKey(file)); return null; }
    throw err;
  }
}

async function upload(file, title) {
  const key = fileKey(file);
  let id; let plan; const etags = new Map();
  const resumed = await resumable(file);
  if (resumed) {
    id = resumed.id;
    plan = resumed.state;
    for (const part of resumed.state.parts_done) {
      const expected = Math.min(plan.part_size, file.size - (part.part_number - 1) * plan.part_size);
      if (part.size === expected) etags.set(part.part_number, part.etag);
    }
  } else {
    const created = await api('POST', '/api/v1/videos', {
      title, filename: file.name, size_bytes: file.size,
      content_type: file.type || 'application/octet-stream',
    });
    id = created.video.id;
    plan = created.upload;
    remember(file, id);
  }
  current = { id, key, requests: new Set(), stopped: false };
  const todo = [];
  let already = 0;
  for (let n = 1; n <= plan.part_count; n += 1) {
    if (etags.has(n)) already += Math.min(plan.part_size, file.size - (n - 1) * plan.part_size);
    else todo.push(n);
  }
  const progress = meter(file.size, already);
  progress.add(0);
  if (resumed) text.textContent = `Resuming: ${etags.size} of ${plan.part_count} parts were already uploaded. ${text.textContent}`;
  await sendParts(file, current, plan, todo, etags, progress);
  const parts = Array.from(etags, ([part_number, etag]) => ({ part_number, etag }))
    .sort((a, b) => a.part_number - b.part_number);
  await api('POST', `/api/v1/videos/${id}/upload/complete`, { parts });
  forget(key);
  return id;
}

function followProcessing(id) {
  follow(id, (state) => {
    bar.style.width = `${Math.round(state.progress * 100)}%`;
    const playable = state.playable && state.status !== 'ready' ? ' · playable now' : '';
    text.textContent = `Processing: ${state.stage || state.status} ${Math.round(state.progress * 100)}%${playable}`;
    if (state.status === 'failed') fail(`Processing failed: ${state.error}`);
    if (state.status === 'ready') { bar.style.width = '100%'; text.textContent = 'Ready.'; }
  });
}

// ---- the page -----------------------------------------------------------------------------
function showPending() {
  const entries = Object.entries(pending());
  if (entries.length === 0) { resumeNote.classList.add('hidden'); return; }
  const [key, saved] = entries[0];
  $('resume-text').textContent = `An upload of ${saved.name} (${size(saved.size)}) did not finish. ` +
    'Choose the same file again to resume it.';
  $('resume-forget').onclick = async () => {
    forget(key);
    api('DELETE', `/api/v1/videos/${saved.id}/upload`).catch(() => {});
    showPending();
  };
  resumeNote.classList.remove('hidden');
}

function chosen() {
  const file = fileInput.files[0];
  dropText.textContent = file ? `${file.name} · ${size(file.size)}` : 'Drop a video here, or click to choose a file';
}
fileInput.addEventListener('change', chosen);
['dragenter', 'dragover'].forEach((type) => dropZone.addEventListener(type, (event) => {
  event.preventDefault();
  dropZone.classList.add('over');
}));
['dragleave', 'drop'].forEach((type) => dropZone.addEventListener(type, () => dropZone.classList.remove('over')));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  if (event.dataTransfer.files.length > 0) { fileInput.files = event.dataTransfer.files; chosen(); }
});

cancelButton.addEventListener('click', async () => {
  if (!current) return;
  stopTransfers(current);
  forget(current.key);
  await api('DELETE', `/api/v1/videos/${current.id}/upload`).catch(() => {});
  current = null;
  bar.style.width = '0';
  text.textContent = 'Upload canceled.';
  button.disabled = false;
  cancelButton.classList.add('hidden');
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  errorBox.classList.add('hidden');
  done.classList.add('hidden');
  const file = fileInput.files[0];
  if (!file) return fail('Choose a file first.');
  if (file.size === 0) return fail('The file is empty.');
  if (file.size > Number(form.dataset.maxBytes)) return fail(`The file is larger than this server accepts (${size(Number(form.dataset.maxBytes))}).`);
  button.disabled = true;
  panel.classList.remove('hidden');
  cancelButton.classList.remove('hidden');
  resumeNote.classList.add('hidden');
  try {
    const id = await upload(file, titleInput.value);
    cancelButton.classList.add('hidden');
    watchLink.href = `/watch?v=${id}`;
    done.classList.remove('hidden');
    followProcessing(id);
  } catch (err) {
    if (err.message !== 'canceled') fail(err.message);
  }
});

showPending();
