// The Limiter's own behaviour: options, pacing, tiers, abort, try/wrap, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Limiter, Gcra, Tiers, Reservation, ImpossibleError, RateLimitError, parseQuota, interpretResponse } from '../pkg/index.js';
import { FakeClock, settle } from './fake-clock.mjs';

/** Starts `count` acquire() calls at once; resolves to the virtual time each was admitted at. */
function admissionTimes(limiter, clock, count, options) {
  return Promise.all(
    Array.from({ length: count }, () =>
      limiter.acquire(options).then((permit) => {
        permit.release();
        return clock.now();
      }),
    ),
  );
}

test('invalid options throw TypeError or RangeError with the option named', () => {
  assert.throws(() => new Limiter({ limit: 0, per: '1s' }), RangeError);
  assert.throws(() => new Limiter({ limit: 'ten', per: '1s' }), { name: 'TypeError', kind: 'type', message: /"limit"/ });
  assert.throws(() => new Limiter({ limit: 10 }), { name: 'TypeError', message: /"per"/ });
  assert.throws(() => new Limiter({ limit: 10, per: '0s' }), RangeError);
  assert.throws(() => new Limiter({ limit: 10, per: 'fortnight' }), RangeError);
  assert.throws(() => new Limiter({ limit: 10, per: '1s', burst: 0 }), RangeError);
  assert.throws(() => new Limiter({ limit: 10, per: '1s', concurrency: 0 }), { name: 'RangeError', kind: 'range' });
  assert.throws(() => new Limiter({ tiers: [] }), RangeError);
  assert.throws(() => new Limiter({ tiers: 'x' }), TypeError);
  assert.throws(() => new Limiter(5), TypeError);
  assert.throws(() => new Limiter({ limit: 1, per: '1s', quota: '1/s' }), TypeError);
  assert.throws(() => new Limiter({ limit: 1, per: '1s', margin: 'wide' }), { name: 'TypeError', message: /"margin"/ });
  assert.doesNotThrow(() => new Limiter());
  assert.doesNotThrow(() => new Limiter({ quota: '100/min burst 5' }));
  assert.throws(() => new Limiter({ clock: 5 }), { name: 'TypeError', message: /"clock" must be an object/ });
  assert.throws(() => new Limiter({ clock: { now() {}, setTimeout() {} } }), {
    name: 'TypeError',
    message: /"clock": "clearTimeout" must be a function/,
  });
  assert.throws(() => new Limiter({ clock: { now() {}, setTimeout() {}, clearTimeout() {}, dateNow: 1 } }), {
    name: 'TypeError',
    message: /"clock": "dateNow" must be a function/,
  });
  assert.doesNotThrow(() => new Limiter({ clock: new FakeClock() }));
});

test('acquire paces evenly at limit/per', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 10, per: '1s', clock });
  const times = await clock.run(
    (async () => {
      const times = [];
      for (let i = 0; i < 6; i++) {
        (await limiter.acquire()).release();
        times.push(clock.now());
      }
      return times;
    })(),
  );
  assert.deepEqual(times, [0, 100, 200, 300, 400, 500]);
});

test('a 2/s quota releases queued waiters at exactly 0, 500 and 1000 ms', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 2, per: '1s', burst: 1, clock });
  assert.deepEqual(await clock.run(admissionTimes(limiter, clock, 3)), [0, 500, 1000]);
  assert.equal(clock.pending, 0, 'no timer left behind');
});

test('acquire() goes exactly on the quota: the margin (shown in stats) is only for keys that fetch sends on', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 2, per: '1s', burst: 1, clock });
  assert.deepEqual(await clock.run(admissionTimes(limiter, clock, 3)), [0, 500, 1000]);
  assert.equal(limiter.stats().keys.default.marginMs, 0.15);
  const exact = new Limiter({ limit: 2, per: '1s', burst: 1, margin: false });
  exact.tryAcquire();
  assert.equal(exact.stats().keys.default.marginMs, 0);
});

test('burst admits back to back, then paces', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 100, per: '1m', burst: 5, clock });
  for (let i = 0; i < 5; i++) assert.ok(limiter.tryAcquire(), `burst ${i}`);
  assert.equal(limiter.tryAcquire(), null);
  // 100/min is one every 600 ms: after the burst of 5 at 0 ms, one each 600 ms.
  assert.deepEqual(await clock.run(admissionTimes(limiter, clock, 4)), [600, 1200, 1800, 2400]);
  // Idle for long enough, the full burst is back.
  await clock.advanceTo(2400 + 5 * 600);
  for (let i = 0; i < 5; i++) assert.ok(limiter.tryAcquire(), `burst again ${i}`);
  assert.equal(limiter.tryAcquire(), null);
});

test('tiers are all-or-nothing', async () => {
  const limiter = new Limiter({ tiers: [{ limit: 10, per: '1s', burst: 10 }, { limit: 3, per: '1h', burst: 3 }] });
  let admitted = 0;
  while (limiter.tryAcquire()) admitted++;
  assert.equal(admitted, 3);
  assert.deepEqual(
    limiter.stats().keys.default.quotas.map((q) => q.limit),
    [10, 3],
  );
});

test('aborting a queued acquire releases its place', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 1, per: '1s', clock });
  (await limiter.acquire()).release();
  const controller = new AbortController();
  const b = limiter.acquire({ signal: controller.signal });
  let cAt;
  const c = limiter.acquire().then((p) => {
    cAt = clock.now();
    p.release();
  });
  await clock.advanceTo(50);
  controller.abort();
  await assert.rejects(b, { name: 'AbortError' });
  // C takes B's place at 1000 ms instead of waiting for its own at 2000 ms.
  await clock.advanceTo(999);
  assert.equal(cAt, undefined, 'C admitted before 1000 ms');
  await clock.advanceTo(1000);
  assert.equal(cAt, 1000);
  await c;
  assert.equal(limiter.stats().queued, 0);
  assert.equal(clock.pending, 0);
});

test('maxWaitMs holds for every queued waiter from the moment it queues', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 1, per: '1s', maxWaitMs: 2500, clock });
  const outcomes = [];
  const calls = Array.from({ length: 4 }, (_, i) =>
    limiter.acquire().then(
      (p) => {
        p.release();
        outcomes.push([i, 'admitted', clock.now()]);
      },
      (e) => outcomes.push([i, e, clock.now()]),
    ),
  );
  // Without time passing, the 4th (release at 3000 ms, 500 ms past maxWaitMs) fails.
  await clock.advanceTo(0);
  assert.equal(outcomes.length, 2, JSON.stringify(outcomes));
  assert.deepEqual(outcomes[0], [0, 'admitted', 0]);
  const [who, err, at] = outcomes[1];
  assert.equal(who, 3);
  assert.equal(at, 0);
  assert.ok(err instanceof RateLimitError, String(err));
  assert.equal(err.retryAfterMs, 3000);
  await clock.run(Promise.all(calls));
  assert.deepEqual(outcomes.slice(2), [
    [1, 'admitted', 1000],
    [2, 'admitted', 2000],
  ]);
});

test('maxWaitMs: a queued wait exactly equal to it is allowed', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 1, per: '1s', maxWaitMs: 2000, clock });
  const times = admissionTimes(limiter, clock, 3);
  const fourth = limiter.acquire().catch((e) => e);
  await clock.advanceTo(0);
  const err = await fourth;
  assert.ok(err instanceof RateLimitError, `the 4th waits 3000 ms > 2000 ms: ${err}`);
  assert.equal(clock.now(), 0);
  assert.deepEqual(await clock.run(times), [0, 1000, 2000]);
});

test('a far-future wait on a paused key is a RateLimitError at once, not a sleep', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 10, per: '1s', maxWaitMs: 5000, clock });
  limiter.pause(1e12, { key: 'default' });
  const err = await limiter.acquire().catch((e) => e);
  assert.ok(err instanceof RateLimitError, String(err));
  assert.equal(err.retryAfterMs, 1e12);
  assert.equal(clock.now(), 0);
  assert.equal(clock.pending, 0, 'no timer armed for it');
  // A pause of another key within maxWaitMs is waited out, to the millisecond.
  limiter.pause(5000, { key: 'other' });
  assert.deepEqual(await clock.run(admissionTimes(limiter, clock, 1, { key: 'other' })), [5000]);
});

test('an already aborted signal rejects at once', async () => {
  const limiter = new Limiter({ limit: 1, per: '1h' });
  await assert.rejects(limiter.acquire({ signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('concurrency: a waiter holds no slot and a release admits the next', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ concurrency: 2, clock });
  const a = await limiter.acquire();
  const b = await limiter.acquire();
  assert.equal(limiter.tryAcquire(), null);
  let got = false;
  const c = limiter.acquire().then((p) => ((got = true), p));
  await settle();
  assert.equal(got, false, 'admitted while both slots are held');
  assert.equal(limiter.stats().queued, 1);
  assert.equal(limiter.stats().inFlight, 2);
  a.release();
  await settle();
  assert.equal(got, true, 'a release admits the waiter without any time passing');
  (await c).release();
  b.release();
  assert.equal(limiter.stats().inFlight, 0);
  assert.equal(clock.pending, 0);
});

test('wrap throttles a function and passes arguments and results through', async () => {
  const clock = new FakeClock();
  const limiter = new Limiter({ limit: 20, per: '1s', concurrency: 1, clock });
  let active = 0;
  let maxActive = 0;
  const started = [];
  const work = limiter.wrap(async function (x) {
    started.push(clock.now());
    active++;
    maxActive = Math.max(maxActive, active);
    await clock.sleep(80);
    active--;
    return [this?.tag, x * 2];
  });
  const self = { tag: 'self' };
  const out = await clock.run(Promise.all([1, 2, 3, 4].map((x) => work.call(self, x))));
  assert.deepEqual(out, [['self', 2], ['self', 4], ['self', 6], ['self', 8]]);
  assert.equal(maxActive, 1);
  // One at a time: each starts when the previous one's 80 ms are over (later than the rate's
  // 50 ms slot).
  assert.deepEqual(started, [0, 80, 160, 240]);
});

test('a weight over the burst is an ImpossibleError', async () => {
  const limiter = new Limiter({ limit: 10, per: '1s', burst: 2 });
  await assert.rejects(limiter.acquire({ weight: 3 }), ImpossibleError);
  assert.throws(() => limiter.tryAcquire({ weight: 0 }), RangeError);
});

test('Gcra with injected time', () => {
  const g = new Gcra('2/s');
  assert.equal(g.check(0), 0);
  assert.equal(g.check(0), 500_000_000);
  assert.equal(g.check(500_000_000), 0);
  assert.throws(() => g.checkN(2, 0), RangeError);
});

test('low-level cells: quota spellings, reservations, refunds and errors with a kind', () => {
  const fromString = new Gcra('10/s burst 2');
  const fromOptions = new Gcra({ limit: 10, per: '1s', burst: 2 });
  const fromNanos = new Gcra({ limit: 10, periodNs: 1e9, burst: 2 });
  for (const g of [fromString, fromOptions, fromNanos]) {
    assert.deepEqual(g.quota, parseQuota('10/s burst 2'));
  }
  assert.deepEqual(parseQuota('100/min burst 10'), {
    limit: 100,
    periodNs: 60e9,
    periodMs: 60_000,
    burst: 10,
    emissionIntervalNs: 600e6,
    toleranceNs: 5400e6,
  });
  const r = fromString.reserveN(2, 0);
  assert.ok(r instanceof Reservation);
  assert.equal(r.readyAt, 0);
  assert.equal(fromString.remaining(0), 0);
  assert.equal(fromString.refund(r), true);
  assert.equal(fromString.remaining(0), 2);
  fromString.deferUntil(5e9);
  assert.equal(fromString.deferredUntil, 5e9);
  assert.equal(fromString.check(0), 5e9);
  assert.equal(fromString.isIdle(6e9), true);

  assert.throws(() => fromNanos.checkN(3, 0), { name: 'ImpossibleError', kind: 'impossible', weight: 3, burst: 2 });
  assert.throws(() => fromNanos.check(-1), { name: 'RangeError', kind: 'range' });
  assert.throws(() => fromNanos.check(NaN), RangeError);
  assert.throws(() => parseQuota('0/s'), { name: 'RangeError', kind: 'zero_limit' });
  assert.throws(() => parseQuota('ten per second'), { name: 'RangeError', kind: 'syntax' });
  assert.throws(() => parseQuota(10), { name: 'TypeError', kind: 'type' });
  assert.throws(() => new Gcra({ limit: 1, periodNs: 0 }), { name: 'RangeError', kind: 'zero_period' });
  assert.throws(() => new Limiter({ limit: 1, per: '1s', burst: 0 }), { name: 'RangeError', kind: 'zero_burst' });

  const tiers = new Tiers(['10/s burst 10', { limit: 3, per: '1h', burst: 3 }]);
  assert.deepEqual(tiers.quotas.map((q) => q.limit), [10, 3]);
  assert.equal(tiers.remaining(0), 3);
  const t = tiers.reserve(0);
  assert.throws(() => fromNanos.refund(t), TypeError);
  assert.equal(tiers.refund(t), true);
  tiers.setQuotas(['1/s']);
  assert.equal(tiers.quotas.length, 1);
  assert.throws(() => new Tiers([]), { name: 'RangeError', kind: 'empty' });
  assert.throws(() => new Tiers(Array(9).fill('1/s')), { name: 'RangeError', kind: 'too_many' });
  assert.throws(() => tiers.setQuotas([]), { name: 'RangeError', kind: 'empty' });
});

test('interpretResponse accepts Headers, pairs and records', () => {
  const wallMs = Date.UTC(2026, 0, 1);
  for (const headers of [new Headers({ 'Retry-After': '5' }), [['retry-after', '5']], { 'Retry-After': '5' }]) {
    const r = interpretResponse(429, headers, { wallMs });
    assert.equal(r.verdict, 'retry');
    assert.equal(r.afterMs, 5000);
  }
});

test('interpretResponse: a far-future Retry-After is too_long with the wait saturated', () => {
  const wallMs = Date.UTC(2026, 0, 1);
  // Valid delay-seconds beyond any u64 of nanoseconds: too long, the wait saturated at
  // 2^64 - 1 ns, and the key paused for at most maxWaitMs.
  const far = interpretResponse(429, { 'Retry-After': '99999999999999999999' }, { wallMs, maxWaitMs: 1000 });
  assert.equal(far.verdict, 'too_long');
  assert.equal(far.waitMs, Math.floor(Number(2n ** 64n - 1n) / 1e6));
  assert.equal(far.pauseMs, 1000);
  assert.equal(far.afterMs, null);
  // 1e309 is not delay-seconds (digits only): ignored, a plain 429 retried with backoff.
  const junk = interpretResponse(429, { 'Retry-After': '1e309' }, { wallMs, maxWaitMs: 1000 });
  assert.equal(junk.verdict, 'retry');
  assert.equal(junk.reason, 'rate_limited');
  assert.equal(junk.afterMs, null);
  assert.equal(junk.pauseMs, null);
});
