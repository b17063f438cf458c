// Shared by the pages: follow a video's websocket. `onState` gets the video's state (the
// snapshot's video object, or a status frame) on every change. A socket that drops is opened
// again after a pause that doubles from 1 s up to 30 s (with jitter, so that a restarted server
// is not hit by every page at once); the server starts each socket with a fresh snapshot, so
// nothing is missed. Following ends once the video is ready, failed or deleted, or when the
// returned `stop` is called. The session cookie authenticates the socket; with `{ public: true }`
// it is the public socket of a public or unlisted video instead, which needs no one.
const FIRST_PAUSE_MS = 1000;
const LONGEST_PAUSE_MS = 30000;

// Where a video is read: the owner's routes, or the public ones anyone may use.
export function videoPath(id, { public: isPublic = false } = {}) {
  return `/api/v1/${isPublic ? 'public/' : ''}videos/${id}`;
}

export function follow(id, onState, options = {}) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const url = `${scheme}://${location.host}${videoPath(id, options)}/events`;
  let pause = FIRST_PAUSE_MS;
  let ended = false;
  let socket = null;
  let reconnect = null;

  function stop() {
    ended = true;
    clearTimeout(reconnect);
    if (socket) socket.close();
  }

  function open() {
    socket = new WebSocket(url);
    socket.addEventListener('message', (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === 'deleted') return stop();
      if (frame.type !== 'snapshot' && frame.type !== 'status') return;
      // Reset only once frames arrive: a server that accepts and drops at once still backs off.
      pause = FIRST_PAUSE_MS;
      const state = frame.type === 'snapshot' ? frame.video : frame;
      onState(state);
      if (state.status === 'ready' || state.status === 'failed') stop();
    });
    socket.addEventListener('close', () => {
      if (ended) return;
      reconnect = setTimeout(open, pause * (0.8 + Math.random() * 0.4));
      pause = Math.min(LONGEST_PAUSE_MS, pause * 2);
    });
  }

  open();
  return { stop };
}
