// The JSON API from a page, with the session cookie: answers the parsed body, or throws an
// Error carrying the server's message and the status.
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const err = new Error(data && data.error ? data.error.message : `HTTP ${response.status}`);
    err.status = response.status;
    throw err;
  }
  return data;
}
