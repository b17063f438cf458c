// The watch page's "Download MP4" for the owner: signed in, click it; the page says it is
// preparing, then the browser downloads the file (served as an attachment). Reports the
// statuses the page showed, the file's suggested name and size.
// Usage: node tests/browser/download_button.mjs --base URL --token TOKEN --video ID [--screenshots DIR]
import { stat } from 'node:fs/promises';
import { parseArgs, report, signIn, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = { ok: false, statuses: [], filename: null, bytes: 0, consoleErrors: [] };
await report(result, async (browser) => {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  result.consoleErrors = watchErrors(page);
  await signIn(page, args.base, args.token, args.screenshots);
  await page.goto(`${args.base}/watch?v=${args.video}`);
  await page.exposeFunction('sawStatus', (text) => result.statuses.push(text));
  await page.evaluate(() => {
    const status = document.getElementById('download-status');
    new MutationObserver(() => window.sawStatus(status.textContent))
      .observe(status, { childList: true, characterData: true, subtree: true });
  });
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 120000 }),
    page.click('#download'),
  ]);
  result.filename = download.suggestedFilename();
  const path = await download.path();
  result.bytes = path ? (await stat(path)).size : 0;
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/download-button.png` });
  await context.close();
  const errors = result.consoleErrors.filter((e) => !e.startsWith('Failed to load resource'));
  result.ok = result.bytes > 0 && result.filename.endsWith('.mp4') && errors.length === 0;
  if (!result.ok) result.reason = 'no MP4 was downloaded, or the page reported errors';
});
