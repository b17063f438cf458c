// An anonymous viewer (no sign-in): the library lists the public video and not the private
// one; the watch pages of the public and the unlisted video play; the embed player plays inside
// an iframe of a page served from another origin (another port of 127.0.0.1); the private
// video's watch page is a 404. No console or page errors anywhere.
// Usage: node tests/browser/viewer.mjs --base URL --token TOKEN --public ID --unlisted ID
//        --private ID [--screenshots DIR]
import http from 'node:http';
import { parseArgs, report, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = {
  ok: false, library: {}, played: {}, viewCounted: {}, embedPlayed: null, embedOrigin: null, hostOrigin: null,
  privateStatus: null, ogImage: null, consoleErrors: [],
};

// A page of another origin that frames the embed player.
const foreign = http.createServer((request, response) => {
  response.setHeader('content-type', 'text/html; charset=utf-8');
  response.end(`<!doctype html><title>A blog</title><h1>My post</h1>
<iframe id="player" src="${args.base}/embed/${args.public}" width="640" height="360"
  allow="autoplay; fullscreen" allowfullscreen></iframe>`);
});
await new Promise((resolve) => foreign.listen(0, '127.0.0.1', resolve));
const foreignUrl = `http://127.0.0.1:${foreign.address().port}/`;
// report() exits the process when done, which closes this server too.

// Waits until the player of `target` (a page or a frame) has played a second.
async function plays(target) {
  await target.waitForFunction(() => window.vodnestPlayer && window.vodnestPlayer.video.currentTime > 1,
    null, { timeout: 60000 });
  return target.evaluate(() => window.vodnestPlayer.video.currentTime);
}

await report(result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  result.consoleErrors = watchErrors(page);

  await page.goto(`${args.base}/`);
  const cards = await page.$$eval('.card[data-video-id]', (els) => els.map((el) => el.dataset.videoId));
  result.library = { public: cards.includes(args.public), private: cards.includes(args.private) };
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/public-library.png`, fullPage: true });

  for (const kind of ['public', 'unlisted']) {
    await page.goto(`${args.base}/watch?v=${args[kind]}`);
    result.played[kind] = await plays(page);
    await page.waitForFunction(() => window.vodnestPlayer.viewCounted !== null, null, { timeout: 10000 });
    result.viewCounted[kind] = await page.evaluate(() => window.vodnestPlayer.viewCounted);
    if (kind === 'public') {
      result.ogImage = await page.getAttribute('meta[property="og:image"]', 'content');
      if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/public-watch.png` });
    }
  }

  await page.goto(foreignUrl);
  const frame = await (await page.waitForSelector('#player')).contentFrame();
  result.embedPlayed = await plays(frame);
  result.embedOrigin = await frame.evaluate(() => location.origin);
  result.hostOrigin = await page.evaluate(() => location.origin);
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/embed.png` });

  const missing = await page.goto(`${args.base}/watch?v=${args.private}`);
  result.privateStatus = missing.status();
  // The 404 page itself logs a console error for its status: only earlier ones count.
  const errors = result.consoleErrors.filter((e) => !e.includes('404'));

  result.ok = result.library.public && !result.library.private
    && result.played.public > 1 && result.played.unlisted > 1 && result.embedPlayed > 1
    && result.hostOrigin !== result.embedOrigin
    && result.viewCounted.public === 204 && result.viewCounted.unlisted === 204
    && result.privateStatus === 404 && Boolean(result.ogImage) && errors.length === 0;
  if (!result.ok) result.reason = 'an anonymous viewer could not watch, or saw what is private';
});
