// Uploads a file through the /upload page, reloads the page mid-upload, chooses the file again
// and checks that the page resumes: only the parts S3 did not get are PUT again, and the status
// turns ready. PUTs after the first two are held back before they reach the network, so the
// reload interrupts them the way a closed tab would. Before all that, a first try meets a
// part that S3 refuses for good: the page must say so and abort the other parts in flight
// rather than go on sending.
// Usage: node tests/browser/upload.mjs --base URL --token TOKEN --file PATH [--screenshots DIR]
import { parseArgs, report, signIn, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = {
  ok: false, refused: '', sentWithIt: 0, abortedWithIt: 0, putsBefore: 0, putsAfter: 0, resumeNote: '', status: '',
  consoleErrors: [],
};
const isPart = (request) => request.method() === 'PUT' && request.url().includes('partNumber=');
const partNumber = (request) => new URL(request.url()).searchParams.get('partNumber');
let phase = 'refused';
// The parts held in flight while part 1 is refused.
const held = new Set();
await report(result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await signIn(page, args.base, args.token);
  await page.route('**/*', async (route) => {
    const request = route.request();
    if (!isPart(request)) return route.continue();
    if (phase === 'refused') {
      if (partNumber(request) !== '1') { held.add(request); result.sentWithIt += 1; return; } // held until aborted
      return route.fulfill({
        status: 400, body: 'refused by the test',
        headers: { 'access-control-allow-origin': new URL(args.base).origin },
      });
    }
    if (phase === 'after') { result.putsAfter += 1; return route.continue(); }
    if (result.putsBefore < 2) { result.putsBefore += 1; return route.continue(); }
    // Held: never sent. The reload drops it.
  });
  page.on('requestfailed', (request) => {
    // Only the parts that reached the network count: one aborted earlier (during its CORS
    // preflight, say) was never sent at all.
    if (held.has(request)) result.abortedWithIt += 1;
  });
  let finishedBefore = 0;
  page.on('requestfinished', async (request) => {
    if (!isPart(request) || phase !== 'before') return;
    const response = await request.response();
    if (response && response.status() === 200) finishedBefore += 1;
  });

  await page.goto(`${args.base}/upload`);
  await page.setInputFiles('#file', args.file);
  await page.fill('#title', 'browser upload');
  await page.click('#upload-button');
  await page.waitForSelector('#upload-error:not(.hidden)', { timeout: 30000 });
  result.refused = await page.textContent('#upload-error');
  // The parts in flight beside it are aborted with it.
  const abortDeadline = Date.now() + 5000;
  while (result.abortedWithIt < result.sentWithIt && Date.now() < abortDeadline) await page.waitForTimeout(50);
  if (result.sentWithIt === 0 || result.abortedWithIt !== result.sentWithIt) {
    throw new Error('the other parts went on after part 1 was refused for good');
  }

  phase = 'before';
  await page.click('#upload-button');
  const deadline = Date.now() + 60000;
  while (finishedBefore < 2) {
    if (Date.now() > deadline) throw new Error('the first two parts were not uploaded');
    await page.waitForTimeout(50);
  }
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/upload-progress.png` });

  phase = 'after';
  await page.reload();
  result.consoleErrors = watchErrors(page);
  await page.waitForSelector('#resume-note:not(.hidden)', { timeout: 10000 });
  result.resumeNote = await page.textContent('#resume-text');
  await page.setInputFiles('#file', args.file);
  await page.click('#upload-button');
  await page.waitForFunction(() => {
    const text = document.getElementById('upload-text').textContent;
    return text === 'Ready.' || !document.getElementById('upload-error').classList.contains('hidden');
  }, null, { timeout: 180000 });
  result.status = await page.textContent('#upload-text');
  const error = await page.textContent('#upload-error');
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/upload.png`, fullPage: true });
  result.ok = result.status === 'Ready.' && result.consoleErrors.length === 0;
  if (!result.ok) result.reason = error || 'the page did not reach Ready. without errors';
});
