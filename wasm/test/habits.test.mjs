// What users of p-queue, bottleneck and ky expect: unknown options rejected with Headway's
// name for theirs, pause() reaching fetch's keys, a clear error after dispose(), error names
// apart from the DOM's, onIdle(), size/pending and wrap(fn, { signal }).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Limiter, HeadwayTimeoutError } from '../pkg/index.js';
import { FakeClock, settle } from './fake-clock.mjs';
import { stubFetch } from './stub-fetch.mjs';
import { caught } from './caught.mjs';

test('unknown options are a TypeError naming Headway\'s option for another library\'s', () => {
  const cases = [
    [{ interval: 1000, intervalCap: 5 }, 'interval', '{ limit: n, per: ms }'],
    [{ intervalCap: 5 }, 'intervalCap', '{ limit: n, per: ms }'],
    [{ maxConcurrent: 2 }, 'maxConcurrent', '"concurrency"'],
    [{ minTime: 200 }, 'minTime', '{ limit: 1, per: ms }'],
    [{ reservoir: 100 }, 'reservoir', 'burst: n'],
    [{ timeout: 5000 }, 'timeout', '"timeoutMs"'],
    [{ retry: 2 }, 'retry', '"retries"'],
    [{ autoStart: false }, 'autoStart', 'no such setting'],
  ];
  for (const [options, name, hint] of cases) {
    assert.throws(
      () => new Limiter(options),
      (e) => {
        assert.ok(e instanceof TypeError, String(e));
        assert.ok(e.message.includes(`unknown option "${name}"`), e.message);
        assert.ok(e.message.includes(hint), e.message);
        return true;
      },
    );
  }
  assert.throws(() => new Limiter({ limt: 5, per: '1s' }), (e) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /unknown option "limt"; the options are limit, per, /);
    return true;
  });
  assert.throws(() => new Limiter({ circuitBreaker: { threshold: 3 } }), /unknown circuitBreaker option "threshold"/);
  // Every documented option is still accepted.
  const limiter = new Limiter({
    limit: 5, per: '1s', burst: 2, origins: { 'https://a.test': '1/s' }, concurrency: 4,
    perOriginConcurrency: 2, maxWaitMs: 1000, timeoutMs: 0, retries: 1, learn: false,
    margin: false, retryNonIdempotent: false, retryBudget: true,
    circuitBreaker: { failures: 2, openMs: 100 }, clock: new FakeClock(),
  });
  limiter.dispose();
});

test('pause() with no key pauses the origins fetch uses; { origin } takes any URL of one', async () => {
  const clock = new FakeClock();
  const stub = stubFetch(clock, () => new Response('ok'));
  try {
    const limiter = new Limiter({ timeoutMs: 0, clock });
    await limiter.fetch('https://api.test/first');
    await limiter.fetch('https://other.test/first');
    limiter.pause(500);
    const a = limiter.fetch('https://api.test/second');
    const b = limiter.fetch('https://other.test/second');
    await settle();
    assert.equal(stub.calls.length, 2, 'sent during the pause');
    await clock.advance(500);
    await Promise.all([a, b]);
    assert.deepEqual(stub.calls.slice(2).map((c) => c.at), [500, 500]);

    limiter.pause(300, { origin: 'https://API.test/some/path?q=1' });
    const c = limiter.fetch('https://api.test/third');
    const d = limiter.fetch('https://other.test/third');
    await d;
    assert.equal(stub.calls.at(-1).path, '/third');
    assert.equal(stub.calls.at(-1).at, 500, 'the other origin is not paused');
    await clock.advance(300);
    await c;
    assert.equal(stub.calls.at(-1).at, 800);
    assert.throws(() => limiter.pause(1, { origin: 'api.test' }), TypeError);
    assert.throws(() => limiter.pause(1, { origin: 'https://a.test', key: 'x' }), TypeError);
    // acquire()'s default key is paused too.
    limiter.pause(100);
    let got = false;
    const permit = limiter.acquire().then((p) => { got = true; return p; });
    await settle();
    assert.equal(got, false);
    await clock.advance(100);
    (await permit).release();
    limiter.dispose();
  } finally {
    stub.restore();
  }
});

test('a method called after dispose() throws a TypeError that says so', async () => {
  const limiter = new Limiter();
  limiter.dispose();
  const check = (e) => {
    assert.ok(e instanceof TypeError, String(e));
    assert.match(e.message, /this Limiter was disposed/);
    assert.equal(e.kind, 'disposed');
    return true;
  };
  assert.throws(() => limiter.tryAcquire(), check);
  assert.throws(() => limiter.pause(10), check);
  assert.throws(() => limiter.stats(), check);
  assert.throws(() => limiter.wrap(() => 1), check);
  assert.throws(() => limiter.size, check);
  assert.throws(() => limiter.onIdle(), check);
  check(await caught(() => limiter.acquire()));
  check(await caught(() => limiter.fetch('https://api.test/')));
  limiter.dispose(); // twice is fine
});

test('a timeout is a HeadwayTimeoutError, told apart from AbortSignal.timeout()\'s DOMException', async () => {
  const clock = new FakeClock();
  const stub = stubFetch(clock, (input, init) => new Promise((resolve, reject) => {
    init.signal.addEventListener('abort', () => reject(init.signal.reason));
  }));
  try {
    const limiter = new Limiter({ timeoutMs: 100, retries: 0, clock });
    const e = await clock.run(caught(() => limiter.fetch('https://api.test/slow')));
    assert.ok(e instanceof HeadwayTimeoutError, String(e));
    assert.equal(e.name, 'HeadwayTimeoutError');
    // AbortSignal.timeout's timer does not keep Node running: wait on one that does.
    const signal = AbortSignal.timeout(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const dom = signal.reason;
    assert.ok(dom instanceof DOMException, String(dom));
    assert.equal(dom.name, 'TimeoutError');
    assert.notEqual(e.name, dom.name);
    limiter.dispose();
  } finally {
    stub.restore();
  }
});

test('size, pending and onIdle() follow waiting, held and running calls', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 1, per: '1s', concurrency: 1, clock });
  assert.deepEqual([limiter.size, limiter.pending], [0, 0]);
  let idle = false;
  await limiter.onIdle(); // idle already: resolves at once
  const held = await limiter.acquire();
  assert.deepEqual([limiter.size, limiter.pending], [0, 1]);
  const next = limiter.acquire();
  const third = limiter.acquire();
  await settle();
  assert.deepEqual([limiter.size, limiter.pending], [2, 1]);
  limiter.onIdle().then(() => { idle = true; });
  held.release();
  await clock.advance(1000);
  const second = await next;
  assert.deepEqual([limiter.size, limiter.pending], [1, 1]);
  second.release();
  await clock.advance(1000);
  const last = await third;
  await settle();
  assert.equal(idle, false, 'a permit is still held');
  last.release();
  await settle();
  assert.equal(idle, true);
  assert.deepEqual([limiter.size, limiter.pending], [0, 0]);
  // A rejected acquire ends its call too.
  const controller = new AbortController();
  const blocker = limiter.tryAcquire();
  assert.equal(blocker, null, 'the rate says not yet');
  const aborted = caught(() => limiter.acquire({ signal: controller.signal }));
  await settle();
  assert.equal(limiter.size, 1);
  controller.abort(new Error('stop'));
  assert.equal((await aborted).message, 'stop');
  await limiter.onIdle();
  assert.deepEqual([limiter.size, limiter.pending], [0, 0]);
  limiter.dispose();
});

test('wrap(fn, { signal }): aborting rejects the calls still waiting, not the one running', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 1, per: '1s', clock });
  const controller = new AbortController();
  const ran = [];
  const work = limiter.wrap(async (i) => { ran.push(i); return i * 2; }, { signal: controller.signal });
  const first = work(1);
  const second = caught(() => work(2));
  assert.equal(await first, 2);
  await settle();
  controller.abort(new Error('cancelled'));
  assert.equal((await second).message, 'cancelled');
  assert.equal((await caught(() => work(3))).message, 'cancelled', 'a later call rejects at once');
  await clock.advance(5000);
  assert.deepEqual(ran, [1]);
  assert.throws(() => limiter.wrap(() => 1, { signal: 'soon' }), TypeError);
  limiter.dispose();
});

test('the README\'s tiers example paces as it says: 120 ms apart, or 100 ms with a burst on the hour', async () => {
  const times = async (hour) => {
    const clock = new FakeClock();
    const limiter = new Limiter({ tiers: [{ limit: 10, per: '1s' }, hour], clock });
    const at = [];
    const done = Promise.all([1, 2, 3, 4, 5].map(() => limiter.acquire().then((p) => {
      at.push(clock.now());
      p.release();
    })));
    await clock.run(done);
    limiter.dispose();
    return at;
  };
  assert.deepEqual(await times({ limit: 30000, per: '1h' }), [0, 120, 240, 360, 480]);
  assert.deepEqual(await times({ limit: 30000, per: '1h', burst: 3000 }), [0, 100, 200, 300, 400]);
});
