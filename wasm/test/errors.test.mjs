// The package's error classes: what each entry point throws is an instance of the exported
// class itself (constructed by the WebAssembly module), with its documented base and fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  Limiter,
  Gcra,
  Tiers,
  KeyMachine,
  HeadwayError,
  RateLimitError,
  CircuitOpenError,
  HeadwayTimeoutError,
  ImpossibleError,
} from '../pkg/index.js';
import { FakeClock } from './fake-clock.mjs';
import { stubFetch } from './stub-fetch.mjs';
import { caught } from './caught.mjs';

/** Asserts `e` is exactly an instance of `Class` whose chain is `bases`, with `fields`. */
function assertError(e, Class, bases, fields) {
  assert.ok(e instanceof Class, `${e} is not a ${Class.name}`);
  assert.equal(Object.getPrototypeOf(e), Class.prototype, 'the class itself, not a look-alike');
  for (const Base of bases) assert.ok(e instanceof Base, `${Class.name} is not a ${Base.name}`);
  assert.ok(e instanceof Error);
  assert.equal(e.name, Class.name);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(typeof e.stack, 'string');
  for (const [k, v] of Object.entries(fields)) assert.equal(e[k], v, `${Class.name}.${k}`);
}

test('the classes relate as documented', () => {
  for (const Class of [RateLimitError, CircuitOpenError, HeadwayTimeoutError]) {
    assert.equal(Object.getPrototypeOf(Class), HeadwayError);
  }
  assert.equal(Object.getPrototypeOf(HeadwayError), Error);
  assert.equal(Object.getPrototypeOf(ImpossibleError), RangeError);
  assert.ok(!(new ImpossibleError('x') instanceof HeadwayError));
  const e = new RateLimitError('m', { retryAfterMs: 5, attempts: 2, cause: 'c' });
  assert.deepEqual([e.name, e.message, e.retryAfterMs, e.attempts, e.cause], ['RateLimitError', 'm', 5, 2, 'c']);
  const i = new ImpossibleError('m', { weight: 3, burst: 2 });
  assert.deepEqual([i.name, i.kind, i.weight, i.burst], ['ImpossibleError', 'impossible', 3, 2]);
});

test('a wait past maxWaitMs is a RateLimitError from acquire and fetch', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 1, per: '1s', maxWaitMs: 500, timeoutMs: 0, clock });
  limiter.pause(2000, { key: 'default' });
  const fields = { retryAfterMs: 2000, attempts: 0 };
  assertError(await caught(() => limiter.acquire()), RateLimitError, [HeadwayError], fields);

  const stub = stubFetch(clock, () => new Response('slow down', { status: 429, headers: { 'Retry-After': '60' } }));
  try {
    const e = await caught(() => limiter.fetch('https://api.test/a'));
    assertError(e, RateLimitError, [HeadwayError], { retryAfterMs: 60_000, attempts: 1 });
  } finally {
    stub.restore();
  }
});

test('an open circuit is a CircuitOpenError', async () => {
  const clock = new FakeClock();
  const stub = stubFetch(clock, () => new Response('down', { status: 500 }));
  try {
    const limiter = new Limiter({
      retries: 0,
      maxWaitMs: 1000,
      timeoutMs: 0,
      circuitBreaker: { failures: 1, openMs: 10_000 },
      clock,
    });
    assert.equal((await clock.run(limiter.fetch('https://api.test/a'))).status, 500);
    const e = await clock.run(caught(() => limiter.fetch('https://api.test/b')));
    assertError(e, CircuitOpenError, [HeadwayError], { retryAfterMs: 10_000, attempts: 0 });
    assert.equal(stub.calls.length, 1, 'the open circuit sent nothing');
  } finally {
    stub.restore();
  }
});

test('no response within timeoutMs is a HeadwayTimeoutError', async () => {
  const clock = new FakeClock();
  const stub = stubFetch(
    clock,
    (input, init) => new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(init.signal.reason))),
  );
  try {
    const limiter = new Limiter({ retries: 0, timeoutMs: 100, clock });
    const e = await clock.run(caught(() => limiter.fetch('https://api.test/slow')));
    assertError(e, HeadwayTimeoutError, [HeadwayError], { timeoutMs: 100, attempts: 1 });
    assert.equal(clock.now(), 100);
  } finally {
    stub.restore();
  }
});

test('a weight over the burst is an ImpossibleError everywhere, a RangeError and no HeadwayError', async () => {
  const limiter = new Limiter({ limit: 10, per: '1s', burst: 2 });
  const gcra = new Gcra('10/s burst 2');
  const tiers = new Tiers(['10/s burst 2', '100/min burst 5']);
  const key = new KeyMachine({ quotas: ['10/s burst 2'], seed: '1' });
  const throwers = {
    'Limiter.acquire': () => limiter.acquire({ weight: 3 }),
    'Limiter.tryAcquire': () => limiter.tryAcquire({ weight: 3 }),
    'Limiter.wrap': () => limiter.wrap(async () => {}, { weight: 3 })(),
    'Gcra.checkN': () => gcra.checkN(3, 0),
    'Gcra.peekN': () => gcra.peekN(3, 0),
    'Gcra.reserveN': () => gcra.reserveN(3, 0),
    'Tiers.checkN': () => tiers.checkN(3, 0),
    'Tiers.peekN': () => tiers.peekN(3, 0),
    'Tiers.reserveN': () => tiers.reserveN(3, 0),
    'KeyMachine.readyAt': () => key.readyAt(3, 0),
    'KeyMachine.planOn': () => key.planOn(key.schedule(), 3, 0),
  };
  for (const [where, f] of Object.entries(throwers)) {
    const e = await caught(f);
    assertError(e, ImpossibleError, [RangeError], { kind: 'impossible', weight: 3, burst: 2 });
    assert.ok(!(e instanceof HeadwayError), where);
    assert.equal(e.message, 'headway-limiter: 3 permits can never fit a quota whose burst is 2', where);
  }
  for (const o of [gcra, tiers, key]) o.free();
  limiter.dispose();
});
