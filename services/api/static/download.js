// Watch page, for the owner: "Download MP4" asks the API for the chosen rendition as one MP4
// file. The first request starts making it (202): the page says so and asks again every 2 s
// until the answer is a redirect to the file, which the browser then follows (the file is
// served as an attachment: it downloads, the page stays).
const box = document.getElementById('download-box');
if (box) {
  const video = JSON.parse(document.getElementById('video-data').textContent);
  const button = document.getElementById('download');
  const rendition = document.getElementById('download-rendition');
  const status = document.getElementById('download-status');
  const path = () => `/api/v1/videos/${encodeURIComponent(video.id)}/download?rendition=${encodeURIComponent(rendition.value)}`;

  async function ask() {
    const url = path();
    // `manual`: a redirect is not followed here (that would fetch the whole file into the
    // page); it shows as an opaque answer, and the browser is sent to the route instead.
    const response = await fetch(url, { credentials: 'same-origin', redirect: 'manual' });
    if (response.type === 'opaqueredirect') {
      status.textContent = 'Downloading…';
      button.disabled = false;
      window.location.assign(url);
      return;
    }
    if (response.status === 202) {
      status.textContent = 'Preparing…';
      setTimeout(() => ask().catch(fail), 2000);
      return;
    }
    const body = await response.json().catch(() => null);
    throw new Error(body && body.error ? body.error.message : `HTTP ${response.status}`);
  }

  function fail(err) {
    status.textContent = `Download failed: ${err.message}`;
    button.disabled = false;
  }

  button.addEventListener('click', () => {
    button.disabled = true;
    status.textContent = 'Preparing…';
    ask().catch(fail);
  });
}
