// The account page in Chromium, signed in with the admin token: making a key shows its token
// once (through the JSON API, with the session cookie), revoking it removes it from the list;
// adding a webhook shows its secret once, its delivery log opens, deleting it removes it;
// and /admin/users adds a user and shows the invite link; no console error (a CSP violation is
// one).
// Usage: node tests/browser/account.mjs --base URL --token TOKEN [--screenshots DIR]
import { parseArgs, report, signIn, watchErrors } from './lib.mjs';

const args = parseArgs(process.argv.slice(2));
const result = {
  ok: false, token: null, keysAfterRevoke: null, secret: null, logShown: false, webhooksAfterDelete: null,
  inviteUrl: null, consoleErrors: [],
};

await report(result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  result.consoleErrors = watchErrors(page);
  page.on('dialog', (dialog) => dialog.accept());
  await signIn(page, args.base, args.token);
  await page.goto(`${args.base}/account`);
  await page.fill('#key-name', 'from the browser');
  await page.click('#key-form button[type=submit]');
  await page.waitForSelector('#new-key:not(.hidden)', { timeout: 10000 });
  result.token = await page.textContent('#new-key-token');
  if (args.screenshots) await page.screenshot({ path: `${args.screenshots}/account.png`, fullPage: true });
  await page.reload();
  await Promise.all([page.waitForNavigation(), page.click('.revoke-key')]);
  result.keysAfterRevoke = await page.locator('.revoke-key').count();

  // Nothing listens on port 9: the endpoint only has to be a loopback address tests may use.
  await page.fill('#webhook-url', 'http://127.0.0.1:9/hook');
  await page.click('#webhook-form button[type=submit]');
  await page.waitForSelector('#new-webhook:not(.hidden)', { timeout: 10000 });
  result.secret = await page.textContent('#new-webhook-secret');
  await page.reload();
  await page.click('.show-deliveries');
  await page.waitForSelector('#deliveries:not(.hidden)', { timeout: 10000 });
  result.logShown = true;
  await Promise.all([page.waitForNavigation(), page.click('.delete-webhook')]);
  result.webhooksAfterDelete = await page.locator('.delete-webhook').count();

  await page.goto(`${args.base}/admin/users`);
  await page.fill('#new-username', 'browser-made');
  await page.click('#user-form button[type=submit]');
  await page.waitForSelector('#invite:not(.hidden)', { timeout: 10000 });
  result.inviteUrl = await page.textContent('#invite-url');
  result.ok = /^vn_[0-9a-f]{64}$/.test(result.token || '') && result.keysAfterRevoke === 0
    && /^whsec_[A-Za-z0-9_-]{43}$/.test(result.secret || '') && result.logShown
    && result.webhooksAfterDelete === 0
    && (result.inviteUrl || '').startsWith(`${args.base}/signup?invite=`)
    && result.consoleErrors.length === 0;
});
