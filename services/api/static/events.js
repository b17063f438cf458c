// Shared by the pages: follow a video's websocket. `onState` gets the video's state on every
// change: the snapshot's video object, updated by each status frame and each encoding frame
// (`state.encoding`: the renditions still being made). A socket that drops is opened
// again after a pause that doubles from 1 s up to 30 s (with jitter, so that a restarted server
// is not hit by every page at once); the server starts each socket with a fresh snapshot, so
// nothing is missed. Following ends once the video is ready (with `{ encoding: true }`: ready
// and no rendition being made), failed or deleted, or when the returned `stop` is called. The
// session cookie authenticates the socket; with `{ public: true }` it is the public socket of a
// public or unlisted video instead, which needs no one.
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
  let state = null;

  function stop() {
    ended = true;
    clearTimeout(reconnect);
    if (socket) socket.close();
  }

  function open() {
    socket = new WebSocket(url);
    socket.addEventListener('message', (event) => {
      const { type, ...frame } = JSON.parse(event.data);
      if (type === 'deleted') return stop();
      if (type === 'snapshot') state = frame.video;
      else if (type === 'status' || type === 'encoding') state = { ...state, ...frame };
      else return;
      // Reset only once frames arrive: a server that accepts and drops at once still backs off.
      pause = FIRST_PAUSE_MS;
      onState(state);
      const done = state.status === 'ready' && !(options.encoding && state.encoding);
      if (done || state.status === 'failed') stop();
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
