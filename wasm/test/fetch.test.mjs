// Throttled fetch.
//
// Schedules (when each request goes, when a pause ends, when a timeout fires) are asserted
// exactly on virtual time: a FakeClock passed as the Limiter's `clock`, with a stand-in for
// the global `fetch` or a real loopback server. Runs against the workspace's mock API, on
// real time, assert only what no timing can change: every item answered exactly once, and
// the client's counts agreeing with the server's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import { Limiter, RateLimitError, HeadwayTimeoutError } from '../pkg/index.js';
import { FakeClock, settle } from './fake-clock.mjs';
import { startMock } from './mock.mjs';
import { gcraServer, stubFetch } from './stub-fetch.mjs';

/** Tests that wait for real I/O fail after this long instead of hanging. */
const IO = { timeout: 30_000 };

/** Resolves once `condition()` holds, checking after each macrotask turn (no time bound). */
async function until(condition) {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
}

let mock;
before(async () => {
  mock = await startMock({});
});
after(() => mock?.stop());

test('a strict 20/s server, virtual time, margin: false: sends exactly 50 ms apart, zero 429s', async () => {
  const clock = new FakeClock();
  const server = gcraServer(clock, { limit: 20, periodMs: 1000, burst: 1 });
  const stub = stubFetch(clock, server.handle);
  try {
    const limiter = new Limiter({ limit: 20, per: '1s', margin: false, clock });
    const responses = await clock.run(
      Promise.all(Array.from({ length: 40 }, (_, i) => limiter.fetch(`https://api.test/strict/item/${i}`))),
    );
    assert.deepEqual(responses.map((r) => r.status), Array(40).fill(200));
    assert.deepEqual(
      stub.calls.map((c) => c.at),
      Array.from({ length: 40 }, (_, i) => i * 50),
    );
    assert.deepEqual(
      stub.calls.map((c) => c.path),
      Array.from({ length: 40 }, (_, i) => `/strict/item/${i}`),
      'in order, each once',
    );
    assert.deepEqual(server.counts, { admitted: 40, rejected: 0 });
    const mine = limiter.stats();
    assert.equal(mine.sent, 40);
    assert.equal(mine.rateLimited, 0);
    assert.equal(mine.retries, 0);
  } finally {
    stub.restore();
  }
});

test('a strict 20/s server, virtual time, default margin: the probe first, then every send 50.15 ms after the last at least', async () => {
  const clock = new FakeClock();
  const server = gcraServer(clock, { limit: 20, periodMs: 1000, burst: 1 });
  const stub = stubFetch(clock, server.handle);
  try {
    const limiter = new Limiter({ limit: 20, per: '1s', clock });
    const responses = await clock.run(
      Promise.all(Array.from({ length: 20 }, (_, i) => limiter.fetch(`https://api.test/strict/item/${i}`))),
    );
    assert.deepEqual(responses.map((r) => r.status), Array(20).fill(200));
    const at = stub.calls.map((c) => c.at);
    // This clock's timers fire on whole milliseconds: 50.15 ms rounds up to 51.
    assert.deepEqual(at.slice(1).map((t, i) => t - at[i]), Array(19).fill(51));
    assert.deepEqual(server.counts, { admitted: 20, rejected: 0 });
    assert.equal(limiter.stats().keys['https://api.test'].marginMs, 0.15);
  } finally {
    stub.restore();
  }
});

test('a burst-15 100/s server with RateLimit headers, virtual time: 200 sends 10 ms apart, no stall', async () => {
  // The end-to-end page's setup: the server's "0 left, reset in 1 s" whole-second resets
  // must not stall a known quota.
  const clock = new FakeClock();
  const server = gcraServer(clock, { limit: 100, periodMs: 1000, burst: 15 });
  const stub = stubFetch(clock, server.handle);
  try {
    const limiter = new Limiter({ limit: 100, per: '1s', concurrency: 16, clock });
    const responses = await clock.run(
      Promise.all(Array.from({ length: 200 }, (_, i) => limiter.fetch(`https://api.test/api/item/${i}`))),
    );
    assert.deepEqual([...new Set(responses.map((r) => r.status))], [200]);
    assert.deepEqual(
      [...new Set(responses.map((r) => r.headers.get('ratelimit-policy')))],
      ['"default";q=100;w=1'],
    );
    // The probe's admission carries the margin (10.15 ms, rounded up by this clock's whole
    // milliseconds); then the server reports room, which absorbs the jitter: no margin.
    assert.deepEqual(
      stub.calls.map((c) => c.at),
      Array.from({ length: 200 }, (_, i) => (i === 0 ? 0 : 1 + i * 10)),
    );
    assert.deepEqual(server.counts, { admitted: 200, rejected: 0 });
    assert.equal(limiter.stats().rateLimited, 0);
  } finally {
    stub.restore();
  }
});

test('through the mock API under a strict quota: every item answered once, counts agree', IO, async () => {
  await mock.configure({
    routes: { '/strict': { policy: { gcra: { limit: 20, period_ms: 1000, burst: 2 } }, headers: 'ietf08' } },
  });
  await mock.reset();
  const limiter = new Limiter({ limit: 20, per: '1s' });
  const results = await Promise.allSettled(
    Array.from({ length: 40 }, (_, i) => limiter.fetch(`${mock.url}/strict/item/${i}`)),
  );
  // Exactly one result per item, in order. (Whether any 429 happened depends on how late
  // this machine delivered the requests: the server's tolerance is 50 ms. That the pacing
  // is right is asserted on virtual time above.)
  assert.equal(results.length, 40);
  results.forEach((r, i) => {
    assert.equal(r.status, 'fulfilled', String(r.reason));
    assert.equal(new URL(r.value.url).pathname, `/strict/item/${i}`);
  });
  const ok = results.filter((r) => r.value.status === 200).length;
  const stats = (await mock.stats()).routes['/strict'];
  const mine = limiter.stats();
  assert.equal(stats.admitted, ok, 'each 200 is one admission');
  assert.equal(stats.rejected, mine.rateLimited, 'the client saw every 429 the server sent');
  assert.equal(stats.requests, mine.sent, 'the client sent every request the server saw');
  assert.equal(mine.sent, 40 + mine.retries);
  assert.ok(mine.keys[new URL(mock.url).origin], 'one key per origin');
});

test('a Retry-After pauses the whole origin, virtual time: every queued request goes at the pause end', async () => {
  const clock = new FakeClock();
  let first = true;
  const stub = stubFetch(clock, () => {
    if (first) {
      first = false;
      return new Response('busy', { status: 429, headers: { 'Retry-After': '1' } });
    }
    return new Response('ok');
  });
  try {
    const limiter = new Limiter({ clock });
    const a = limiter.fetch('https://api.test/busy/first');
    await clock.advanceTo(0);
    // Retry-After: 1, plus up to 1 s of jitter so that many clients do not return at once.
    const pausedFor = limiter.stats().keys['https://api.test'].pausedForMs;
    assert.ok(pausedFor >= 1000 && pausedFor <= 2000, `origin paused for ${pausedFor} ms`);
    // The sleep's timer is set in whole milliseconds, rounded up.
    const end = Math.ceil(pausedFor);
    const rest = Array.from({ length: 4 }, (_, i) => limiter.fetch(`https://api.test/busy/${i}`));
    await clock.advanceTo(end - 1);
    assert.equal(stub.calls.length, 1, 'nothing sent during the pause');
    await clock.advanceTo(end);
    const all = await Promise.all([a, ...rest]);
    assert.deepEqual(all.map((r) => r.status), [200, 200, 200, 200, 200]);
    assert.deepEqual(
      stub.calls.map((c) => [c.path, c.at]),
      [
        ['/busy/first', 0],
        ['/busy/first', end],
        ['/busy/0', end],
        ['/busy/1', end],
        ['/busy/2', end],
        ['/busy/3', end],
      ],
    );
    assert.equal(limiter.stats().retries, 1);
  } finally {
    stub.restore();
  }
});

test('a Retry-After from the mock API: only the first request sees the 429', IO, async () => {
  await mock.configure({
    routes: { '/busy': { faults: { outage: { start_after_ms: 0, duration_ms: 800, retry_after_secs: 1 } } } },
  });
  await mock.reset();
  const limiter = new Limiter();
  const first = limiter.fetch(`${mock.url}/busy/first`);
  // The 429 came back. The outage (800 ms from the reset) is over before the pause (1 s
  // from when the 429 arrived) ends, so whatever goes after it is admitted.
  await until(() => limiter.stats().rateLimited === 1);
  const rest = Array.from({ length: 4 }, (_, i) => limiter.fetch(`${mock.url}/busy/${i}`));
  const all = await Promise.all([first, ...rest]);
  assert.deepEqual(all.map((r) => r.status), [200, 200, 200, 200, 200]);
  const stats = await mock.stats();
  assert.equal(stats.routes['/busy'].rejected, 1, 'only the first request saw the 429');
  assert.equal(stats.routes['/busy'].admitted, 5);
  assert.equal(limiter.stats().retries, 1);
});

test('aborting a queued fetch releases its place and never reaches the server', IO, async () => {
  await mock.configure({});
  await mock.reset();
  const clock = new FakeClock();
  const spy = stubFetch(clock, (input, init, real) => real(input, init));
  try {
    // Exact times: no margin.
    const limiter = new Limiter({ limit: 2, per: '1s', timeoutMs: 0, margin: false, clock });
    const controller = new AbortController();
    const a = limiter.fetch(`${mock.url}/a`);
    const b = limiter.fetch(`${mock.url}/b`, { signal: controller.signal });
    const c = limiter.fetch(`${mock.url}/c`);
    await clock.advanceTo(100);
    controller.abort();
    await assert.rejects(b, { name: 'AbortError' });
    // C takes B's slot at 500 ms instead of its own at 1000 ms.
    await clock.advanceTo(499);
    assert.deepEqual(spy.calls.map((x) => [x.path, x.at]), [['/a', 0]]);
    await clock.advanceTo(500);
    assert.deepEqual(spy.calls.map((x) => [x.path, x.at]), [['/a', 0], ['/c', 500]]);
    assert.equal((await a).status, 200);
    assert.equal((await c).status, 200);
    assert.equal(clock.pending, 0);
  } finally {
    spy.restore();
  }
  const stats = await mock.stats();
  assert.equal(stats.total.requests, 2);
});

test('a huge Retry-After fails at once with RateLimitError instead of sleeping', IO, async () => {
  await mock.configure({
    routes: { '/down': { faults: { outage: { start_after_ms: 0, duration_ms: 60000, retry_after_secs: 99999999999 } } } },
  });
  await mock.reset();
  // Virtual time never moves here: a client that went to sleep would never settle.
  const clock = new FakeClock();
  const limiter = new Limiter({ maxWaitMs: 5000, timeoutMs: 0, clock });
  const err = await limiter.fetch(`${mock.url}/down`).catch((e) => e);
  assert.ok(err instanceof RateLimitError, String(err));
  // 99999999999 s is more nanoseconds than a u64 holds: the wait saturates at 2^64 - 1 ns.
  assert.equal(err.retryAfterMs, Math.ceil(Number(2n ** 64n - 1n) / 1e6));
  assert.equal(err.attempts, 1);
  assert.equal(clock.now(), 0);
  assert.equal(clock.pending, 0, 'no timer left armed');
  assert.equal((await mock.stats()).routes['/down'].requests, 1);
});

test('hostile headers: each gives exactly its documented outcome', async () => {
  // Each header on its own origin (its own queue): the first response is a 429 carrying
  // it, later ones are 200. A value the client cannot use is ignored, and the 429 retried
  // with backoff; a usable one is followed.
  // The longest wait there is: 2^64 - 1 ns, rounded up to whole ms.
  const U64_MAX_MS = Math.ceil(Number(2n ** 64n - 1n) / 1e6);
  const cases = [
    { header: ['Retry-After', '1e309'], expect: 'backoff' },
    { header: ['Retry-After', '-5'], expect: 'backoff' },
    { header: ['Retry-After', 'Thu, 01 Jan 1970 00:00:00 GMT'], expect: 'at once' },
    { header: ['Retry-After', '99999999999999999999'], expect: 'too long', retryAfterMs: U64_MAX_MS },
    // A 429 waits for any reset it names: this one is beyond every max_wait.
    { header: ['X-RateLimit-Reset', '99999999999999999999'], expect: 'too long', retryAfterMs: U64_MAX_MS },
    { header: ['X-RateLimit-Remaining', '-1'], expect: 'backoff' },
    { header: ['RateLimit', 'limit=abc, remaining=, reset=NaN'], expect: 'backoff' },
    { header: ['RateLimit-Policy', '"x";q=0;w=0'], expect: 'backoff' },
    { header: ['Date', 'not a date'], expect: 'backoff' },
  ];
  const clock = new FakeClock();
  const seen = new Map();
  const stub = stubFetch(clock, (input) => {
    const url = new URL(input.url);
    const i = Number(url.hostname.slice(1, url.hostname.indexOf('.')));
    const n = (seen.get(url.href) ?? 0) + 1;
    seen.set(url.href, n);
    const [name, value] = cases[i].header;
    const status = url.pathname === '/ok' || n > 1 ? 200 : 429;
    return new Response('x', { status, headers: { [name]: value } });
  });
  try {
    const options = { retries: 3, maxWaitMs: 3000, timeoutMs: 0, clock };
    // A 200 carrying the header is simply handed back.
    const first = new Limiter(options);
    const plain = await clock.run(Promise.all(cases.map((_, i) => first.fetch(`https://h${i}.test/ok`))));
    assert.deepEqual(plain.map((r) => r.status), Array(cases.length).fill(200));
    assert.equal(stub.calls.length, cases.length);
    assert.equal(first.stats().retries, 0);

    const limiter = new Limiter(options);

    const results = await clock.run(
      Promise.allSettled(cases.map((_, i) => limiter.fetch(`https://h${i}.test/h`))),
    );
    cases.forEach(({ header, expect, retryAfterMs }, i) => {
      const r = results[i];
      const calls = stub.calls.filter((c) => c.origin === `https://h${i}.test` && c.path === '/h');
      const what = `${header.join(': ')}`;
      if (expect === 'too long') {
        assert.equal(r.status, 'rejected', what);
        assert.ok(r.reason instanceof RateLimitError, `${what}: ${r.reason}`);
        assert.equal(r.reason.retryAfterMs, retryAfterMs, what);
        assert.equal(r.reason.attempts, 1, what);
        assert.deepEqual(calls.map((c) => c.at), [0], `${what}: not retried`);
        return;
      }
      assert.equal(r.status, 'fulfilled', `${what}: ${r.reason}`);
      assert.equal(r.value.status, 200, what);
      assert.equal(calls.length, 2, `${what}: retried once`);
      assert.equal(calls[0].at, 0, what);
      if (expect === 'at once') assert.equal(calls[1].at, 0, `${what}: a date in the past means now`);
      // The first backoff step: full jitter up to the 100 ms base, in whole timer ms.
      else assert.ok(calls[1].at <= 100, `${what}: retried after ${calls[1].at} ms, not within the first backoff step`);
    });
    const tooLong = cases.filter((c) => c.expect === 'too long').length;
    assert.equal(limiter.stats().retries, cases.length - tooLong);
    assert.equal(limiter.stats().rateLimited, cases.length);
  } finally {
    stub.restore();
  }
});

/**
 * A server whose first `hang` requests never get an answer. `seen` lists every request as
 * { url, closed (a promise), isClosed, answered }; `arrived(n)` resolves once n have come.
 */
async function hangingServer(hang) {
  const seen = [];
  let waiters = [];
  const server = createServer((req, res) => {
    let closed;
    const entry = { url: req.url, closed: new Promise((r) => (closed = r)), isClosed: false, answered: false };
    seen.push(entry);
    res.on('close', () => {
      entry.isClosed = true;
      closed();
    });
    if (seen.length > hang) {
      entry.answered = true;
      res.writeHead(200, { 'Access-Control-Allow-Origin': '*' });
      res.end('ok');
    }
    waiters = waiters.filter(([n, resolve]) => (seen.length >= n ? (resolve(), false) : true));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const arrived = (n) => (seen.length >= n ? Promise.resolve() : new Promise((r) => waiters.push([n, r])));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, arrived, server };
}

test('a timed-out attempt is aborted at exactly timeoutMs: the server sees its connection close', IO, async () => {
  const { url, seen, arrived, server } = await hangingServer(Infinity);
  const clock = new FakeClock();
  try {
    const limiter = new Limiter({ timeoutMs: 200, retries: 0, clock });
    let outcome;
    const pending = limiter.fetch(`${url}/slow`).then(
      (r) => (outcome = r),
      (e) => (outcome = e),
    );
    await arrived(1);
    await clock.advanceTo(199);
    assert.equal(outcome, undefined, 'timed out before 200 ms');
    await clock.advanceTo(200);
    await pending;
    assert.ok(outcome instanceof HeadwayTimeoutError, String(outcome));
    assert.equal(outcome.timeoutMs, 200);
    assert.equal(outcome.attempts, 1);
    await seen[0].closed; // the attempt was aborted, not left running
    assert.equal(seen.length, 1);
    assert.equal(clock.pending, 0);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('a timed-out attempt is aborted before its retry is sent', IO, async () => {
  const { url, seen, arrived, server } = await hangingServer(1);
  const clock = new FakeClock();
  const spy = stubFetch(clock, (input, init, real) => real(input, init));
  try {
    const limiter = new Limiter({ timeoutMs: 200, retries: 2, clock });
    const pending = limiter.fetch(`${url}/retry`);
    await arrived(1);
    await clock.advanceTo(200); // the first attempt times out
    assert.equal(spy.calls[0].signal.aborted, true, 'the timed-out attempt was aborted');
    if (spy.calls.length < 2) await clock.advanceTo(clock.nextAt); // its backoff
    assert.equal(spy.calls.length, 2);
    assert.ok(spy.calls[1].at >= 200);
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    await seen[0].closed;
    assert.equal(seen.length, 2);
    assert.equal(seen[1].answered, true);
    assert.equal(limiter.stats().retries, 1);
  } finally {
    spy.restore();
    server.closeAllConnections();
    server.close();
  }
});

test("aborting the caller's signal stops a request in flight", IO, async () => {
  const { url, seen, arrived, server } = await hangingServer(Infinity);
  try {
    const limiter = new Limiter({ timeoutMs: 0 });
    const controller = new AbortController();
    const pending = limiter.fetch(`${url}/cancel`, { signal: controller.signal });
    await arrived(1);
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    await seen[0].closed; // the request was not left running after the abort
    await settle();
    assert.equal(seen.length, 1);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
