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
