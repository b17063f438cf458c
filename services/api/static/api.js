// The JSON API from a page, with the session cookie: answers the parsed body, or throws an
// Error carrying the server's message and the status. A Blob or File `body` (a caption, a
// poster) is sent as it is, with `type` as its Content-Type; anything else as JSON.
export async function api(method, path, body, type) {
  const raw = body instanceof Blob;
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body ? { 'content-type': raw ? type : 'application/json' } : {},
    body: body ? (raw ? body : JSON.stringify(body)) : undefined,
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const err = new Error(data && data.error ? data.error.message : `HTTP ${response.status}`);
    err.status = response.status;
    throw err;
  }
  return data;
}
