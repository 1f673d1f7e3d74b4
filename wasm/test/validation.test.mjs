// Arguments are checked in one place: a bad key, weight, pause, status or headers gives the
// same error (class, kind and message) through every entry point that takes one.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  Limiter,
  Gcra,
  Tiers,
  KeyMachine,
  Attempt,
  Backoff,
  CircuitBreaker,
  RetryBudget,
  Call,
  parseQuota,
  ImpossibleError,
  interpretResponse,
} from '../pkg/index.js';
import { caught } from './caught.mjs';

const WALL = 1767225600000;

/** Asserts that every entry point of `entries` fails with `Class`, `kind` and `message`. */
async function sameError(entries, Class, kind, message) {
  for (const [where, f] of Object.entries(entries)) {
    const e = await caught(f);
    assert.equal(Object.getPrototypeOf(e), Class.prototype, `${where}: ${e}`);
    assert.equal(e.kind, kind, where);
    assert.equal(e.message, message, where);
  }
}

/** Every entry point that takes a weight, each given `w`. */
function weightTakers(w) {
  const limiter = new Limiter({ limit: 10, per: '1s', burst: 2 });
  const gcra = new Gcra('10/s burst 2');
  const tiers = new Tiers(['10/s burst 2']);
  const key = new KeyMachine({ quotas: ['10/s burst 2'], seed: '1' });
  return {
    'Limiter.acquire': () => limiter.acquire({ weight: w }),
    'Limiter.tryAcquire': () => limiter.tryAcquire({ weight: w }),
    'Limiter.wrap': () => limiter.wrap(async () => {}, { weight: w }),
    'Gcra.checkN': () => gcra.checkN(w, 0),
    'Gcra.peekN': () => gcra.peekN(w, 0),
    'Gcra.reserveN': () => gcra.reserveN(w, 0),
    'Tiers.checkN': () => tiers.checkN(w, 0),
    'Tiers.peekN': () => tiers.peekN(w, 0),
    'Tiers.reserveN': () => tiers.reserveN(w, 0),
    'KeyMachine.readyAt': () => key.readyAt(w, 0),
    'KeyMachine.planOn': () => key.planOn(key.schedule(), w, 0),
    'KeyMachine.commit': () => key.commit(w, 0),
  };
}

test('a bad weight: the same TypeError or RangeError from every entry point', async () => {
  const cases = [
    [-1, RangeError, '-1'],
    [1.5, RangeError, '1.5'],
    [NaN, RangeError, 'NaN'],
    [Infinity, RangeError, 'Infinity'],
    [2 ** 32, RangeError, '4294967296'],
    ['2', TypeError, '"2"'],
    [true, TypeError, 'boolean'],
    [{}, TypeError, 'object'],
  ];
  for (const [w, Class, got] of cases) {
    const kind = Class === TypeError ? 'type' : 'range';
    await sameError(weightTakers(w), Class, kind, `headway-limiter: "weight" must be a positive integer, got ${got}`);
  }
});

test('a weight of 0 is an ImpossibleError with the same message wherever quotas decide', async () => {
  const takers = weightTakers(0);
  delete takers['Limiter.wrap']; // checked when called, like any weight over the burst
  delete takers['KeyMachine.commit']; // admits what readyAt allowed; readyAt refuses 0
  await sameError(takers, ImpossibleError, 'impossible', 'headway-limiter: "weight" must be a positive integer, got 0');
  const limiter = new Limiter();
  const throttled = limiter.wrap(async () => 'ran', { weight: 0 });
  const e = await caught(throttled);
  assert.ok(e instanceof ImpossibleError);
  assert.equal(e.weight, 0);
  assert.equal(e.message, 'headway-limiter: "weight" must be a positive integer, got 0');
  // Without a quota, a weight up to 2^32 - 1 is admitted; the default is 1.
  assert.ok(limiter.tryAcquire({ weight: 2 ** 32 - 1 }));
  assert.ok(limiter.tryAcquire({}));
});

test('a bad key: the same TypeError from acquire, tryAcquire, wrap and pause', async () => {
  const limiter = new Limiter({ limit: 10, per: '1s' });
  for (const [key, got] of [
    [5, '5'],
    [{}, 'object'],
    [false, 'boolean'],
  ]) {
    await sameError(
      {
        'Limiter.acquire': () => limiter.acquire({ key }),
        'Limiter.tryAcquire': () => limiter.tryAcquire({ key }),
        'Limiter.wrap': () => limiter.wrap(async () => {}, { key }),
        'Limiter.pause': () => limiter.pause(1, { key }),
      },
      TypeError,
      'type',
      `headway-limiter: "key" must be a string, got ${got}`,
    );
  }
  // Absent (undefined or null) is the key "default" for acquire and tryAcquire; for pause,
  // every key, those first used during the pause included.
  assert.ok(limiter.tryAcquire({ key: 'other' }));
  limiter.pause(1000, { key: null });
  assert.equal(limiter.tryAcquire({ key: null }), null);
  assert.ok(limiter.stats().keys.default.pausedForMs > 0);
  assert.equal(limiter.tryAcquire({ key: 'other' }), null);
  assert.equal(limiter.tryAcquire({ key: 'new' }), null);
});

test('a bad pause: one message for the pause of a Limiter, and for the pause end of the cells and KeyMachine', async () => {
  const limiter = new Limiter();
  const cases = [
    [-1, RangeError, '-1'],
    [NaN, RangeError, 'NaN'],
    ['5', TypeError, '"5"'],
    [undefined, TypeError, 'undefined'],
  ];
  for (const [ms, Class, got] of cases) {
    const kind = Class === TypeError ? 'type' : 'range';
    await sameError(
      { 'Limiter.pause': () => limiter.pause(ms) },
      Class,
      kind,
      `headway-limiter: "ms" must be a non-negative number, got ${got}`,
    );
  }
  // The low-level pause ends are times on the caller's clock (nanoseconds), taken as numbers.
  const gcra = new Gcra('1/s');
  const tiers = new Tiers(['1/s']);
  const key = new KeyMachine({ seed: '1' });
  for (const [t, got] of [
    [-1, '-1'],
    [NaN, 'NaN'],
  ]) {
    await sameError(
      {
        'Gcra.deferUntil': () => gcra.deferUntil(t),
        'Tiers.deferUntil': () => tiers.deferUntil(t),
        'KeyMachine.pauseUntil': () => key.pauseUntil(t),
      },
      RangeError,
      'range',
      `headway-limiter: "t" must be a non-negative number, got ${got}`,
    );
  }
  // A pause longer than any wait is a RateLimitError for the waiter, not an error for pause.
  limiter.pause(Infinity, { key: 'forever' });
  assert.ok(limiter.stats().keys.forever.pausedForMs > 1e12);
});

test('a bad status: the same error from interpretResponse and Attempt.response', async () => {
  const cases = [
    [-1, RangeError, '-1'],
    [200.5, RangeError, '200.5'],
    [65536, RangeError, '65536'],
    [NaN, RangeError, 'NaN'],
    ['200', TypeError, '"200"'],
    [undefined, TypeError, 'undefined'],
  ];
  for (const [status, Class, got] of cases) {
    const kind = Class === TypeError ? 'type' : 'range';
    await sameError(
      {
        interpretResponse: () => interpretResponse(status, []),
        'Attempt.response': () => Attempt.response(status, [], WALL, 1e9),
      },
      Class,
      kind,
      `headway-limiter: "status" must be an integer HTTP status, got ${got}`,
    );
  }
  // 0 (an opaque response) to 65535 are statuses.
  assert.equal(interpretResponse(0, []).verdict, 'done');
  assert.equal(Attempt.response(65535, [], WALL, 1e9).status, 65535);
});

test('headers: the same shapes accepted, and the same errors, in interpretResponse and Attempt.response', async () => {
  const shapes = {
    Headers: new Headers({ 'Retry-After': '5' }),
    pairs: [['Retry-After', '5']],
    Map: new Map([['Retry-After', '5']]),
    record: { 'Retry-After': '5' },
  };
  for (const [what, headers] of Object.entries(shapes)) {
    assert.equal(interpretResponse(429, headers, { wallMs: WALL }).afterMs, 5000, what);
    const key = new KeyMachine({ learn: true, breaker: null, pauseJitterMaxNs: 0, seed: '1' });
    const changed = key.onResponse(Attempt.response(429, headers, WALL, 600e9), 0, 0);
    assert.equal(changed.pausedUntil, 5e9, what);
  }
  for (const none of [undefined, null, []]) {
    assert.equal(interpretResponse(429, none).afterMs, null);
    assert.equal(Attempt.response(429, none, WALL, 1e9).kind, 'response');
  }
  const shape = 'headway-limiter: "headers" must be a Headers object, [name, value] pairs or a record, got';
  const strings = 'headway-limiter: "headers" names and values must be strings, got';
  const cases = [
    ['retry-after: 5', `${shape} "retry-after: 5"`],
    [5, `${shape} 5`],
    [[['Retry-After']], `${shape} object`],
    [['Retry-After', '5'], `${shape} object`],
    [[['Retry-After', 5]], `${strings} 5`],
    [{ 'Retry-After': 5 }, `${strings} 5`],
    [[[5, 'x']], `${strings} 5`],
  ];
  for (const [headers, message] of cases) {
    await sameError(
      {
        interpretResponse: () => interpretResponse(429, headers),
        'Attempt.response': () => Attempt.response(429, headers, WALL, 1e9),
      },
      TypeError,
      'type',
      message,
    );
  }
});

test('options that are not an object, a signal that is not an AbortSignal, a wrap of no function', async () => {
  const limiter = new Limiter();
  await sameError(
    {
      'Limiter.acquire': () => limiter.acquire(5),
      'Limiter.tryAcquire': () => limiter.tryAcquire(5),
      'Limiter.wrap': () => limiter.wrap(async () => {}, 5),
      'Limiter.pause': () => limiter.pause(1, 5),
      interpretResponse: () => interpretResponse(200, [], 5),
    },
    TypeError,
    'type',
    'headway-limiter: options must be an object, got 5',
  );
  await sameError(
    { 'Limiter.acquire': () => limiter.acquire({ signal: {} }) },
    TypeError,
    'type',
    'headway-limiter: "signal" must be an AbortSignal, got object',
  );
  await sameError(
    { 'Limiter.wrap': () => limiter.wrap('fetch') },
    TypeError,
    'type',
    'headway-limiter: "fn" must be a function, got "fetch"',
  );
  for (const name of ['wallMs', 'maxWaitMs']) {
    for (const [v, Class, got] of [
      [-1, RangeError, '-1'],
      ['1s', TypeError, '"1s"'],
    ]) {
      await sameError(
        { [`interpretResponse ${name}`]: () => interpretResponse(200, [], { [name]: v }) },
        Class,
        Class === TypeError ? 'type' : 'range',
        `headway-limiter: "${name}" must be a non-negative number, got ${got}`,
      );
    }
  }
  // Absent options are no options.
  for (const options of [undefined, null, {}]) {
    (await limiter.acquire(options)).release();
    limiter.tryAcquire(options)?.release();
    limiter.pause(0, options);
    assert.equal(interpretResponse(200, [], options).verdict, 'done');
  }
});

test('the low-level constructors name their arguments the same way', async () => {
  const prefix = 'headway-limiter: ';
  const backoff = new Backoff(1, 10, 1, 100, 'none');
  const cases = [
    [() => new Backoff(0, 10, 1, 100, 'none'), RangeError, '"baseNs" must be greater than 0'],
    [() => new Backoff(20, 10, 1, 100, 'none'), RangeError, '"baseNs" must not exceed "maxDelayNs"'],
    [() => new Backoff(1, 10, 1, 100, 'some'), RangeError, '"jitter" must be "none", "full", "equal" or "decorrelated", got "some"'],
    [() => new Backoff(-1, 10, 1, 100, 'none'), RangeError, '"baseNs" must be a non-negative number, got -1'],
    [() => backoff.start('x'), RangeError, '"seed" must be a decimal u64, got "x"'],
    [() => new Call(backoff, true, '-1'), RangeError, '"seed" must be a decimal u64, got "-1"'],
    [() => new CircuitBreaker(0, 1), RangeError, '"failureThreshold" must be at least 1'],
    [() => new CircuitBreaker(1, 0), RangeError, '"openForNs" must be greater than 0'],
    [() => new RetryBudget(1001, 0, 1), RangeError, '"ratioPermille" must be at most 1000'],
    [() => new RetryBudget(1, 0, 0), RangeError, '"maxBalance" must be at least 1'],
    [() => new RetryBudget(0, 0, 1), RangeError, '"ratioPermille" or "minRetriesPerSec" must be above 0'],
    [() => parseQuota(10), TypeError, '"quota" must be a string, got 10'],
    [() => new Tiers('1/s'), TypeError, '"quotas" must be an array, got "1/s"'],
    [() => new KeyMachine({ quotas: '1/s' }), TypeError, '"quotas" must be an array, got "1/s"'],
    [() => new KeyMachine(5), TypeError, 'options must be an object, got 5'],
    [() => new Limiter(5), TypeError, 'options must be an object, got 5'],
    [() => new Gcra('1/s').refund(new Tiers(['1/s']).reserve(0)), TypeError, '"reservation" must come from the same kind of limiter'],
    [() => new KeyMachine().onResponse(Attempt.timedOut(), 0), TypeError, '"attempt" must be an Attempt.response'],
  ];
  for (const [f, Class, message] of cases) {
    await sameError({ [message]: f }, Class, Class === TypeError ? 'type' : 'range', prefix + message);
  }
});
