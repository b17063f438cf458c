// Shared by the pages: follow a video's websocket. `onState` gets the video's state (the
// snapshot's video object, or a status frame) on every change; the socket closes by itself
// once the video is ready or failed. The session cookie authenticates it.
window.vodnestFollow = function followVideo(id, onState) {
  'use strict';
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/videos/${id}/events`);
  socket.addEventListener('message', (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type !== 'snapshot' && frame.type !== 'status') return;
    const state = frame.type === 'snapshot' ? frame.video : frame;
    onState(state);
    if (state.status === 'ready' || state.status === 'failed') socket.close();
  });
  return socket;
};
