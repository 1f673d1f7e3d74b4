// Throttled fetch against the workspace's mock API, started as a process on loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import { Limiter, RateLimitError, TimeoutError } from '../pkg/index.js';
import { startMock } from './mock.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let mock;
before(async () => {
  mock = await startMock({});
});
after(() => mock?.stop());

test('zero 429s under a strict quota', async () => {
  await mock.configure({
    routes: { '/strict': { policy: { gcra: { limit: 20, period_ms: 1000, burst: 2 } }, headers: 'ietf08' } },
  });
  await mock.reset();
  const limiter = new Limiter({ limit: 20, per: '1s' });
  const t0 = performance.now();
  const responses = await Promise.all(
    Array.from({ length: 40 }, (_, i) => limiter.fetch(`${mock.url}/strict/item/${i}`)),
  );
  const took = performance.now() - t0;
  assert.deepEqual([...new Set(responses.map((r) => r.status))], [200]);
  const stats = await mock.stats();
  assert.equal(stats.routes['/strict'].rejected, 0);
  assert.equal(stats.routes['/strict'].admitted, 40);
  assert.ok(took >= 1900, `40 requests at 20/s took only ${took} ms`);
  const mine = limiter.stats();
  assert.equal(mine.rateLimited, 0);
  assert.equal(mine.sent, 40);
  assert.ok(mine.keys[new URL(mock.url).origin], 'one key per origin');
});

test('a Retry-After pauses the whole origin', async () => {
  await mock.configure({
    routes: { '/busy': { faults: { outage: { start_after_ms: 0, duration_ms: 800, retry_after_secs: 1 } } } },
  });
  await mock.reset();
  const limiter = new Limiter();
  const t0 = performance.now();
  const first = limiter.fetch(`${mock.url}/busy/first`);
  await sleep(150); // the 429 has arrived and paused the origin
  assert.ok(limiter.stats().keys[new URL(mock.url).origin].pausedForMs > 0, 'origin paused');
  const rest = Array.from({ length: 4 }, (_, i) => limiter.fetch(`${mock.url}/busy/${i}`));
  const all = await Promise.all([first, ...rest]);
  const took = performance.now() - t0;
  assert.deepEqual(all.map((r) => r.status), [200, 200, 200, 200, 200]);
  const stats = await mock.stats();
  assert.equal(stats.routes['/busy'].rejected, 1, 'only the first request saw the 429');
  assert.equal(stats.routes['/busy'].admitted, 5);
  assert.ok(took >= 950, `resumed after ${took} ms`);
  assert.equal(limiter.stats().retries, 1);
});

test('aborting a queued fetch releases its place and never reaches the server', async () => {
  await mock.configure({});
  await mock.reset();
  const limiter = new Limiter({ limit: 2, per: '1s' });
  const controller = new AbortController();
  const t0 = performance.now();
  const a = limiter.fetch(`${mock.url}/a`);
  const b = limiter.fetch(`${mock.url}/b`, { signal: controller.signal });
  const c = limiter.fetch(`${mock.url}/c`);
  await sleep(100);
  controller.abort();
  await assert.rejects(b, { name: 'AbortError' });
  assert.equal((await a).status, 200);
  assert.equal((await c).status, 200);
  const took = performance.now() - t0;
  assert.ok(took < 800, `c took B's place: ${took} ms`);
  const stats = await mock.stats();
  assert.equal(stats.total.requests, 2);
});

test('a huge Retry-After fails fast with RateLimitError instead of sleeping', async () => {
  await mock.configure({
    routes: { '/down': { faults: { outage: { start_after_ms: 0, duration_ms: 60000, retry_after_secs: 99999999999 } } } },
  });
  await mock.reset();
  const limiter = new Limiter({ maxWaitMs: 5000 });
  const t0 = performance.now();
  const err = await limiter.fetch(`${mock.url}/down`).catch((e) => e);
  assert.ok(err instanceof RateLimitError, String(err));
  assert.ok(err.retryAfterMs > 5000);
  assert.ok(performance.now() - t0 < 2000);
});

test('hostile headers never hang and never throw from parsing', async () => {
  const hostile = [
    ['Retry-After', '1e309'],
    ['Retry-After', '-5'],
    ['Retry-After', 'Thu, 01 Jan 1970 00:00:00 GMT'],
    ['Retry-After', '99999999999999999999'],
    ['X-RateLimit-Reset', '99999999999999999999'],
    ['X-RateLimit-Remaining', '-1'],
    ['RateLimit', 'limit=abc, remaining=, reset=NaN'],
    ['RateLimit-Policy', '"x";q=0;w=0'],
    ['Date', 'not a date'],
  ];
  let hits = 0;
  const server = createServer((req, res) => {
    const [name, value] = hostile[hits++ % hostile.length];
    res.writeHead(hits % 3 === 0 ? 200 : 429, { [name]: value, 'Access-Control-Allow-Origin': '*' });
    res.end('x');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  try {
    const limiter = new Limiter({ retries: 3, maxWaitMs: 3000 });
    const t0 = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: hostile.length }, (_, i) => limiter.fetch(`${url}/h/${i}`)),
    );
    const took = performance.now() - t0;
    for (const r of results) {
      if (r.status === 'rejected') assert.ok(r.reason instanceof RateLimitError, String(r.reason));
      else assert.ok([200, 429].includes(r.value.status));
    }
    assert.ok(took < 15_000, `took ${took} ms`);
  } finally {
    server.close();
  }
});

/** A server whose first `hang` requests never get an answer; records when each one closed. */
async function hangingServer(hang) {
  const seen = [];
  const server = createServer((req, res) => {
    const entry = { url: req.url, closedAt: null, answered: false };
    seen.push(entry);
    res.on('close', () => {
      entry.closedAt = performance.now();
    });
    if (seen.length > hang) {
      entry.answered = true;
      res.writeHead(200, { 'Access-Control-Allow-Origin': '*' });
      res.end('ok');
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, server };
}

test('a timed-out attempt is aborted: the server sees its connection close', async () => {
  const { url, seen, server } = await hangingServer(Infinity);
  try {
    const limiter = new Limiter({ timeoutMs: 200, retries: 0 });
    const t0 = performance.now();
    const err = await limiter.fetch(`${url}/slow`).catch((e) => e);
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(err.timeoutMs, 200);
    await sleep(300);
    assert.equal(seen.length, 1);
    assert.ok(seen[0].closedAt !== null, 'the request was left running after the timeout');
    assert.ok(seen[0].closedAt - t0 < 450, `closed after ${seen[0].closedAt - t0} ms`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('a timed-out attempt is aborted before its retry is sent', async () => {
  const { url, seen, server } = await hangingServer(1);
  try {
    const limiter = new Limiter({ timeoutMs: 200, retries: 2 });
    const res = await limiter.fetch(`${url}/retry`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    assert.equal(seen.length, 2);
    assert.ok(seen[0].closedAt !== null, 'the first attempt was left running');
    assert.equal(limiter.stats().retries, 1);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("aborting the caller's signal stops a request in flight", async () => {
  const { url, seen, server } = await hangingServer(Infinity);
  try {
    const limiter = new Limiter({ timeoutMs: 0 });
    const controller = new AbortController();
    const pending = limiter.fetch(`${url}/cancel`, { signal: controller.signal });
    await sleep(100);
    assert.equal(seen.length, 1);
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    await sleep(100);
    assert.ok(seen[0].closedAt !== null, 'the request was left running after the abort');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
