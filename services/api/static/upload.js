// Upload page: the file goes in parts straight to S3 through presigned URLs, four at a time;
// then the page follows processing on the websocket. (Resume and retries come with issue 3.)
(function () {
  'use strict';

  const form = document.getElementById('upload-form');
  const fileInput = document.getElementById('file');
  const titleInput = document.getElementById('title');
  const button = document.getElementById('upload-button');
  const panel = document.getElementById('upload-progress');
  const bar = document.getElementById('upload-bar');
  const text = document.getElementById('upload-text');
  const errorBox = document.getElementById('upload-error');
  const done = document.getElementById('upload-done');
  const watchLink = document.getElementById('watch-link');
  const PARALLEL = 4;

  function fail(message) {
    errorBox.textContent = message;
    errorBox.classList.remove('hidden');
    button.disabled = false;
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = response.status === 204 ? null : await response.json();
    if (!response.ok) throw new Error(data && data.error ? data.error.message : `HTTP ${response.status}`);
    return data;
  }

  function mib(bytes) { return (bytes / 1048576).toFixed(1); }

  async function uploadParts(file, id, upload) {
    const etags = new Array(upload.part_count);
    let sent = 0;
    const numbers = Array.from({ length: upload.part_count }, (_, i) => i + 1);
    for (let batch = 0; batch < numbers.length; batch += 100) {
      const { parts } = await api('POST', `/api/v1/videos/${id}/upload/parts`,
        { part_numbers: numbers.slice(batch, batch + 100) });
      const queue = parts.slice();
      const worker = async () => {
        while (queue.length > 0) {
          const part = queue.shift();
          const start = (part.part_number - 1) * upload.part_size;
          const blob = file.slice(start, Math.min(start + upload.part_size, file.size));
          const response = await fetch(part.url, { method: 'PUT', body: blob });
          if (!response.ok) throw new Error(`part ${part.part_number} was refused (HTTP ${response.status})`);
          etags[part.part_number - 1] = response.headers.get('ETag');
          sent += blob.size;
          bar.style.width = `${(100 * sent / file.size).toFixed(1)}%`;
          text.textContent = `Uploaded ${mib(sent)} of ${mib(file.size)} MiB`;
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
    }
    return etags.map((etag, i) => ({ part_number: i + 1, etag }));
  }

  function followProcessing(id) {
    window.vodnestFollow(id, (state) => {
      bar.style.width = `${Math.round(state.progress * 100)}%`;
      text.textContent = `${state.stage || state.status} ${Math.round(state.progress * 100)}%`;
      if (state.status === 'failed') fail(`Processing failed: ${state.error}`);
      if (state.status === 'ready') text.textContent = 'Ready.';
    });
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errorBox.classList.add('hidden');
    const file = fileInput.files[0];
    if (!file) return fail('Choose a file first.');
    if (file.size > Number(form.dataset.maxBytes)) return fail('The file is larger than this server accepts.');
    button.disabled = true;
    panel.classList.remove('hidden');
    try {
      const created = await api('POST', '/api/v1/videos', {
        title: titleInput.value, filename: file.name, size_bytes: file.size,
        content_type: file.type || 'application/octet-stream',
      });
      const id = created.video.id;
      const parts = await uploadParts(file, id, created.upload);
      await api('POST', `/api/v1/videos/${id}/upload/complete`, { parts });
      watchLink.href = `/watch?v=${id}`;
      done.classList.remove('hidden');
      followProcessing(id);
    } catch (err) {
      fail(err.message);
    }
  });
})();
