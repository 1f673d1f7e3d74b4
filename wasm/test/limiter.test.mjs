// The Limiter's own behaviour: options, pacing, tiers, abort, try/wrap, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Limiter, Gcra, Tiers, Reservation, QuotaError, parseQuota, interpretResponse } from '../pkg/index.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('invalid options throw TypeError or RangeError with the option named', () => {
  assert.throws(() => new Limiter({ limit: 0, per: '1s' }), RangeError);
  assert.throws(() => new Limiter({ limit: 'ten', per: '1s' }), { name: 'TypeError', message: /"limit"/ });
  assert.throws(() => new Limiter({ limit: 10 }), { name: 'TypeError', message: /"per"/ });
  assert.throws(() => new Limiter({ limit: 10, per: '0s' }), RangeError);
  assert.throws(() => new Limiter({ limit: 10, per: 'fortnight' }), RangeError);
  assert.throws(() => new Limiter({ limit: 10, per: '1s', burst: 0 }), RangeError);
  assert.throws(() => new Limiter({ limit: 10, per: '1s', concurrency: 0 }), RangeError);
  assert.throws(() => new Limiter({ tiers: [] }), RangeError);
  assert.throws(() => new Limiter({ tiers: 'x' }), TypeError);
  assert.throws(() => new Limiter(5), TypeError);
  assert.throws(() => new Limiter({ limit: 1, per: '1s', quota: '1/s' }), TypeError);
  assert.doesNotThrow(() => new Limiter());
  assert.doesNotThrow(() => new Limiter({ quota: '100/min burst 5' }));
});

test('acquire paces evenly at limit/per', async () => {
  const limiter = new Limiter({ limit: 10, per: '1s' });
  const t0 = performance.now();
  const times = [];
  for (let i = 0; i < 6; i++) {
    const p = await limiter.acquire();
    times.push(performance.now() - t0);
    p.release();
  }
  // 0, 100, 200, ... ms; timers never fire early, so each gap is at least ~100 ms.
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i] - times[i - 1] >= 95, `gap ${i}: ${times[i] - times[i - 1]}`);
  }
  assert.ok(times[5] < 900, `took ${times[5]} ms`);
});

test('burst admits back to back, then paces', async () => {
  const limiter = new Limiter({ limit: 100, per: '1m', burst: 5 });
  for (let i = 0; i < 5; i++) assert.ok(limiter.tryAcquire(), `burst ${i}`);
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
  const limiter = new Limiter({ limit: 1, per: '1s' });
  const t0 = performance.now();
  (await limiter.acquire()).release();
  const controller = new AbortController();
  const b = limiter.acquire({ signal: controller.signal });
  const c = limiter.acquire();
  await sleep(50);
  controller.abort();
  await assert.rejects(b, { name: 'AbortError' });
  await c;
  const took = performance.now() - t0;
  // C takes B's place at ~1 s instead of waiting until ~2 s.
  assert.ok(took >= 950 && took < 1500, `C admitted after ${took} ms`);
  assert.equal(limiter.stats().queued, 0);
});

test('an already aborted signal rejects at once', async () => {
  const limiter = new Limiter({ limit: 1, per: '1h' });
  await assert.rejects(limiter.acquire({ signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('concurrency: a waiter holds no slot and a release admits the next', async () => {
  const limiter = new Limiter({ concurrency: 2 });
  const a = await limiter.acquire();
  const b = await limiter.acquire();
  assert.equal(limiter.tryAcquire(), null);
  let got = false;
  const c = limiter.acquire().then((p) => ((got = true), p));
  await sleep(20);
  assert.equal(got, false);
  a.release();
  (await c).release();
  b.release();
  assert.equal(limiter.stats().inFlight, 0);
});

test('wrap throttles a function and passes arguments and results through', async () => {
  const limiter = new Limiter({ limit: 20, per: '1s', concurrency: 1 });
  let active = 0;
  let maxActive = 0;
  const work = limiter.wrap(async (x) => {
    active++;
    maxActive = Math.max(maxActive, active);
    await sleep(5);
    active--;
    return x * 2;
  });
  const out = await Promise.all([1, 2, 3, 4].map((x) => work(x)));
  assert.deepEqual(out, [2, 4, 6, 8]);
  assert.equal(maxActive, 1);
});

test('a weight over the burst is a QuotaError', async () => {
  const limiter = new Limiter({ limit: 10, per: '1s', burst: 2 });
  await assert.rejects(limiter.acquire({ weight: 3 }), QuotaError);
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

  assert.throws(() => fromNanos.checkN(3, 0), { name: 'RangeError', kind: 'impossible', weight: 3, burst: 2 });
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
  const far = interpretResponse(429, { 'Retry-After': '1e309' }, { wallMs, maxWaitMs: 1000 });
  assert.ok(far.verdict === 'too_long' || far.afterMs === null || far.afterMs <= 1000, JSON.stringify(far));
});
