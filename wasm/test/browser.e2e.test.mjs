// A real browser: Chromium (the system's, via playwright-core) loads a page served by the
// mock's --static directory; the page imports the package with a plain <script type="module">
// and makes 200 throttled fetches against the mock API, which sends the IETF -08 RateLimit
// headers on every response, then checks the exact release schedule of the same quota on
// virtual time (the Limiter's `clock` option) in the browser.
//
// This runs on real time on a shared machine, so it asserts nothing about timing. The
// server's burst equals the number of requests, so no arrival pattern can be rejected and
// "zero 429s" is certain; that the client paces at the server's rate, and that whole-second
// resets do not stall it, is asserted exactly on virtual time in fetch.test.mjs.
//
// A missing Chromium or playwright-core is a failure, never a skip.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startMock } from './mock.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const COUNT = 200;
const wasmDir = fileURLToPath(new URL('..', import.meta.url));

/** playwright-core's chromium, or a failure saying how to install it. */
async function loadChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install it with \`apt-get install chromium\` ` +
        '(or bash scripts/install-deps.sh), or set CHROMIUM to its path',
    );
  }
  try {
    return (await import('playwright-core')).chromium;
  } catch (e) {
    throw new Error(`playwright-core is missing (run npm install in wasm/): ${e.message}`);
  }
}

let mock;
let browser;
before(async () => {
  mock = await startMock(
    { routes: { '/api': { policy: { gcra: { limit: 100, period_ms: 1000, burst: COUNT } }, headers: 'ietf08' } } },
    { staticDir: wasmDir },
  );
});
after(async () => {
  await browser?.close();
  mock?.stop();
});

test(`${COUNT} throttled fetches from a page, RateLimit headers on: each answered once, zero rejected`, { timeout: 300_000 }, async () => {
  const chromium = await loadChromium();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const nav = await page.goto(`${mock.url}/static/test/e2e.html?count=${COUNT}&limit=100`);
  assert.equal(nav?.status(), 200, 'the page loads');
  // No deadline of its own: the test's timeout catches a page that never finishes.
  await page.waitForFunction(() => window.__result || window.__error, null, { timeout: 0, polling: 250 });
  const { result, error } = await page.evaluate(() => ({ result: window.__result, error: window.__error }));
  assert.equal(error, undefined, `page error: ${error}; ${errors.join('; ')}`);
  assert.deepEqual(result.statuses, Array(COUNT).fill(200), 'every fetch answered once, with a 200');
  assert.deepEqual(result.policies, ['"default";q=100;w=1'], 'the page saw the RateLimit headers');
  assert.deepEqual(result.schedule, [0, 10, 20, 30, 40], 'the release schedule on virtual time');
  const stats = await mock.stats();
  assert.equal(stats.routes['/api'].requests, COUNT, 'one request per fetch: nothing retried');
  assert.equal(stats.routes['/api'].rejected, 0);
  assert.equal(stats.routes['/api'].admitted, COUNT);
  assert.equal(result.stats.rateLimited, 0);
  assert.equal(result.stats.sent, COUNT);
  assert.deepEqual(errors, []);
});
