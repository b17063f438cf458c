// The owner's "Edit" panel on the watch page of a 40 s video: a description with three chapter
// lines (the chapter list shows them after the reload); chapters the server refuses (its
// message is shown) and a line that is no chapter (refused in the page); a trim from 10 s to
// 30 s marked with the player; the clip tools' "Mark in" on the trimmed video (original
// timeline); an SRT file as English captions; the poster from the current frame.
// Usage: node tests/browser/owner_panel.mjs --base URL --token TOKEN --video ID [--screenshots DIR]
import { parseArgs, report, signIn, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = { ok: false, pageErrors: [] };
const TIMEOUT = { timeout: 60000, polling: 100 };
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const SRT = '1\r\n00:00:11,000 --> 00:00:14,000\r\nHello from the panel\r\n';

const playing = (page) => page.waitForFunction(
  () => window.vodnestPlayer && window.vodnestPlayer.video.readyState >= 2, null, TIMEOUT,
);
// Pauses the player at `t` (its own timeline) once it has got there.
async function seek(page, t) {
  await page.evaluate((at) => {
    const { video } = window.vodnestPlayer;
    video.pause();
    video.currentTime = at;
  }, t);
  await page.waitForFunction(
    (at) => Math.abs(window.vodnestPlayer.video.currentTime - at) < 0.05 && !window.vodnestPlayer.video.seeking,
    t, TIMEOUT,
  );
}
// Clicks `selector`, which saves and reloads the page, then waits for the player.
async function saveAndReload(page, selector) {
  await Promise.all([page.waitForNavigation({ timeout: 60000 }), page.click(selector)]);
  await playing(page);
}
const resultText = (page) => page.$eval('#edit-result', (p) => p.textContent);
const resultContaining = (page, text) => page.waitForFunction(
  (t) => document.getElementById('edit-result').textContent.includes(t), text, TIMEOUT,
);

await report(result, async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await signIn(page, args.base, args.token);
  await page.goto(`${args.base}/watch?v=${args.video}`);
  await playing(page);

  // Title and description: the description's chapter lines become the chapters.
  await page.click('#edit-tools summary');
  await page.fill('#edit-title', 'Edited on the page');
  await page.fill('#edit-description', "Today's run.\n\n0:00 Intro\n0:12 - Fight\n0:25 End");
  await saveAndReload(page, '#save-details');
  await page.waitForSelector('#chapter-list li', { timeout: 10000 });
  result.title = await page.$eval('h1', (h) => h.textContent);
  result.chapters = await page.$$eval('#chapter-list .chapter-title', (t) => t.map((e) => e.textContent));
  result.afterDetails = await resultText(page);
  result.panelOpen = await page.$eval('#edit-tools', (d) => d.open);
  result.chaptersField = await page.$eval('#edit-chapters', (t) => t.value);

  // Chapters the server refuses, then a line that names no time.
  await page.fill('#edit-chapters', '0:05 Late start');
  await page.click('#save-chapters');
  await resultContaining(page, 'chapters[0]');
  result.refusedChapters = await resultText(page);
  await page.fill('#edit-chapters', '0:00 Intro\nno time here');
  await page.click('#save-chapters');
  await resultContaining(page, 'line 2');
  result.badLine = await resultText(page);

  // Trim to 10–30 s, marked with the player.
  await seek(page, 10);
  await page.click('#trim-mark-start');
  await seek(page, 30);
  await page.click('#trim-mark-end');
  result.marked = [await page.inputValue('#trim-start'), await page.inputValue('#trim-end')];
  await saveAndReload(page, '#trim-apply');
  result.afterTrim = await resultText(page);
  result.window = await page.evaluate(() => JSON.parse(document.getElementById('video-data').textContent).window);
  result.restoreShown = (await page.$('#trim-restore')) !== null;

  // The clip tools mark the original timeline on a trimmed video.
  await page.click('#clip-tools summary');
  await seek(page, 5);
  await page.click('#mark-in');
  result.clipMarkIn = Number(await page.inputValue('#clip-start'));

  // Captions from an SRT file (the type comes from its name).
  await page.fill('#caption-lang', 'en');
  await page.fill('#caption-label', 'English');
  await page.setInputFiles('#caption-file', {
    name: 'subs.srt', mimeType: 'application/octet-stream', buffer: Buffer.from(SRT),
  });
  await saveAndReload(page, '#caption-upload');
  result.afterCaptions = await resultText(page);
  result.captionsLine = await page.$eval('#captions', (p) => p.textContent.replace(/\s+/g, ' ').trim());
  result.removable = await page.$$eval('[data-remove-lang]', (b) => b.map((e) => e.dataset.removeLang));

  // The poster from the current frame.
  const posterName = (page) => page.evaluate(() => {
    const url = window.vodnestPlayer.video.poster;
    return url ? new URL(url).pathname.split('/').pop() : null;
  });
  result.posterBefore = await posterName(page);
  await seek(page, 3);
  await page.click('#poster-frame');
  await resultContaining(page, 'Poster set');
  result.afterPoster = await resultText(page);
  result.posterAfter = await posterName(page);

  // An uploaded PNG poster (a 1x1 image), its type from its name.
  await page.setInputFiles('#poster-file', { name: 'dot.png', mimeType: 'application/octet-stream', buffer: Buffer.from(PNG, 'base64') });
  await page.click('#poster-upload');
  await resultContaining(page, 'Poster uploaded');
  result.uploadedPoster = await posterName(page);
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/owner-panel.png`, fullPage: true });

  await context.close();
  // The refusals log their failed requests; anything else is a problem.
  result.pageErrors = errors.filter((e) => !e.startsWith('Failed to load resource'));
  result.ok = result.pageErrors.length === 0;
  if (!result.ok) result.reason = 'the page reported errors';
});
