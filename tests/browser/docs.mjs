// The API reference at /docs: Swagger UI, served by the API from its npm install, renders
// every operation of /api/v1/openapi.json under the pages' Content-Security-Policy, with no
// console error (a CSP violation is one) and no request to another host.
// Usage: node tests/browser/docs.mjs --base URL --token TOKEN [--screenshots DIR]
import { parseArgs, report, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = { ok: false, operations: 0, documented: 0, foreignRequests: [], consoleErrors: [] };

await report(result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  result.consoleErrors = watchErrors(page);
  const origin = new URL(args.base).origin;
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.protocol.startsWith('http') && url.origin !== origin) result.foreignRequests.push(req.url());
  });
  const doc = await (await page.request.get(`${args.base}/api/v1/openapi.json`)).json();
  result.documented = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  await page.goto(`${args.base}/docs`);
  await page.waitForSelector('.swagger-ui .opblock', { timeout: 15000 });
  // Let the rendering settle so that late errors show up too.
  await page.waitForTimeout(500);
  result.operations = await page.locator('.swagger-ui .opblock').count();
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/docs.png`, fullPage: true });
  result.ok = result.operations === result.documented && result.documented > 0
    && result.consoleErrors.length === 0 && result.foreignRequests.length === 0;
});
