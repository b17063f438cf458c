// Shared helpers for the browser tests: launch Debian's Chromium headless, sign in, collect
// everything that went wrong on a page.
import { chromium } from 'playwright-core';

export function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  return args;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

// Records console errors and uncaught page errors.
export function watchErrors(page) {
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}

export async function signIn(page, base, token, screenshots) {
  await page.goto(`${base}/login`);
  if (screenshots) await page.screenshot({ path: `${screenshots}/login.png` });
  await page.fill('#token', token);
  await Promise.all([page.waitForNavigation(), page.click('#token-form button[type=submit]')]);
  if (new URL(page.url()).pathname === '/login') throw new Error('sign-in was refused');
}

// A bare page for a player: the API's /healthz (`base`), its body replaced by a muted
// autoplaying video element, with `script` (a path) added, if any. It must really come from a loopback
// address: Chromium's Local Network Access refuses a page of any other (or of none, as a page
// Playwright made up) the loopback media bucket. The player's script is added inline, which
// the API's Content-Security-Policy forbids: the context bypasses it. `failed` collects
// responses of 400 and up by URL (the console's "Failed to load resource" names none).
export async function bareVideoPage(browser, base, script) {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const failed = [];
  page.on('response', (r) => {
    // Chromium may ask the bare page's origin for a favicon.
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) failed.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(new URL('/healthz', base).href);
  await page.evaluate(() => {
    document.body.innerHTML = '<video muted autoplay playsinline width="320"></video>';
  });
  if (script) await page.addScriptTag({ path: script });
  // What went wrong on the page, console noise about failed loads aside (`failed` names them).
  const problems = () => errors.filter((e) => !e.startsWith('Failed to load resource')).concat(failed);
  return { context, page, problems };
}

// Runs `body(browser)`, then prints `result` as one JSON line and exits 1 unless `result.ok`.
export async function report(result, body) {
  const browser = await launch();
  try {
    await body(browser);
  } catch (err) {
    result.ok = false;
    result.reason = String(err && err.message ? err.message : err);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
