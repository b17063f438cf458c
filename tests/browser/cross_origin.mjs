// What a page of another origin can do with a signed-in visitor's browser: it serves a form that
// posts to /logout and opens a video's events websocket. Its server listens on another port of
// 127.0.0.1, so it is another origin but the same site, and SameSite=Lax lets the session cookie
// go along: only the same-origin check refuses them. On the site's own pages both work.
// Usage: node tests/browser/cross_origin.mjs --base URL --token TOKEN --video ID [--screenshots DIR]
import http from 'node:http';
import { parseArgs, report, signIn } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = {
  ok: false, foreignSocket: null, foreignLogout: null, stillSignedIn: null, ownSocket: null, ownLogout: null,
};
const socketUrl = `${args.base.replace(/^http/, 'ws')}/api/v1/videos/${args.video}/events`;

// Run in the page: the type of the socket's first frame, or "refused".
const trySocket = (url) => new Promise((resolve) => {
  const socket = new WebSocket(url);
  const timer = setTimeout(() => { socket.close(); resolve('timeout'); }, 10000);
  socket.onmessage = (event) => { clearTimeout(timer); resolve(JSON.parse(event.data).type); socket.close(); };
  socket.onerror = () => { clearTimeout(timer); resolve('refused'); };
});

const foreign = http.createServer((request, response) => {
  response.setHeader('content-type', 'text/html; charset=utf-8');
  response.end(`<!doctype html><title>Win a prize</title>
<form method="post" action="${args.base}/logout"><button id="prize">Claim</button></form>`);
});
await new Promise((resolve) => foreign.listen(0, '127.0.0.1', resolve));
const foreignUrl = `http://127.0.0.1:${foreign.address().port}/`;
// report() exits the process when done, which closes this server too.

await report(result, async (browser) => {
  const page = await browser.newPage();
  await signIn(page, args.base, args.token);

  await page.goto(foreignUrl);
  result.foreignSocket = await page.evaluate(trySocket, socketUrl);
  const [refused] = await Promise.all([
    page.waitForResponse(`${args.base}/logout`),
    page.click('#prize'),
  ]);
  result.foreignLogout = refused.status();
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/cross-origin-logout.png` });

  await page.goto(`${args.base}/upload`);
  result.stillSignedIn = new URL(page.url()).pathname === '/upload';
  result.ownSocket = await page.evaluate(trySocket, socketUrl);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/logout"] button')]);
  result.ownLogout = new URL(page.url()).pathname;

  result.ok = result.foreignSocket === 'refused' && result.foreignLogout === 403 && result.stillSignedIn
    && result.ownSocket === 'snapshot' && result.ownLogout === '/login';
  if (!result.ok) result.reason = 'another origin acted with the cookie, or the site itself could not';
});
