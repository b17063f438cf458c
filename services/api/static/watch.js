// Watch page: play the HLS stream with hls.js (or natively on Safari) with a quality menu
// (auto plus each rendition); while the video is still processing, show its progress and start
// by itself once it is playable.
(function () {
  'use strict';

  const video = JSON.parse(document.getElementById('video-data').textContent);
  const element = document.getElementById('player');
  const status = document.getElementById('status');
  const qualityBox = document.getElementById('quality-box');
  const quality = document.getElementById('quality');
  window.vodnestErrors = [];
  window.vodnestPlayer = { video: element, hls: null };
  let started = false;
  if (video.playback.poster_url) element.poster = video.playback.poster_url;

  // The menu lists renditions tallest first; "Auto" lets hls.js pick by bandwidth and shows
  // which one it picked.
  function buildQualityMenu(hls) {
    const levels = hls.levels.map((level, index) => ({ index, height: level.height, bitrate: level.bitrate }))
      .sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
    if (levels.length < 2) return;
    for (const level of levels) {
      const option = document.createElement('option');
      option.value = String(level.index);
      option.textContent = `${level.height}p`;
      quality.appendChild(option);
    }
    quality.addEventListener('change', () => { hls.currentLevel = Number(quality.value); });
    hls.on(window.Hls.Events.LEVEL_SWITCHED, (_event, data) => {
      const level = hls.levels[data.level];
      window.vodnestPlayer.height = level ? level.height : null;
      quality.options[0].textContent = hls.autoLevelEnabled && level ? `Auto (${level.height}p)` : 'Auto';
    });
    qualityBox.classList.remove('hidden');
  }

  function describe(state) {
    if (state.status === 'failed') return `Processing failed: ${state.error || 'unknown error'}`;
    if (state.status === 'awaiting_upload') return 'Waiting for the upload to finish…';
    const stage = state.stage || state.status;
    return `${stage[0].toUpperCase()}${stage.slice(1)}… ${Math.round(state.progress * 100)}%`;
  }

  function play(url) {
    if (started) return;
    started = true;
    status.textContent = '';
    if (window.Hls && window.Hls.isSupported()) {
      // While processing, playlists are EVENT playlists: start at the beginning, not the edge.
      const hls = new window.Hls({ startPosition: 0 });
      window.vodnestPlayer.hls = hls;
      hls.on(window.Hls.Events.ERROR, (_event, data) => {
        window.vodnestErrors.push({ type: data.type, details: data.details, fatal: data.fatal });
        if (data.fatal) status.textContent = `Playback error: ${data.details}`;
      });
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
        buildQualityMenu(hls);
        element.play().catch(() => { /* autoplay refused: the controls remain */ });
      });
      hls.loadSource(url);
      hls.attachMedia(element);
    } else if (element.canPlayType('application/vnd.apple.mpegurl')) {
      element.src = url;
      element.play().catch(() => {});
    } else {
      status.textContent = 'This browser cannot play HLS video.';
    }
  }

  async function playWhenReady() {
    const response = await fetch(`/api/v1/videos/${video.id}`, { credentials: 'same-origin' });
    if (!response.ok) return;
    const body = await response.json();
    if (body.video.playable && body.video.playback.hls_url) play(body.video.playback.hls_url);
  }

  function follow() {
    window.vodnestFollow(video.id, (state) => {
      if (!started) status.textContent = describe(state);
      if (state.playable && !started) playWhenReady();
    });
  }

  if (video.playable && video.playback.hls_url) {
    play(video.playback.hls_url);
  } else {
    status.textContent = describe(video);
    follow();
  }
})();
