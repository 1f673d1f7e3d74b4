// The decision machines through the JavaScript API: options, errors with a kind, and the
// pieces the trace conformance file does not exercise on its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  KeyMachine,
  Call,
  Attempt,
  RetryBudget,
  Backoff,
  BreakerPermit,
  Waiter,
  breakerSuccess,
  isIdempotent,
} from '../pkg/index.js';

const MS = 1_000_000;
const S = 1_000_000_000;
const WALL = 1767225600000;

test('KeyMachine paces a configured quota and plans a queue without committing', () => {
  const key = new KeyMachine({ quotas: ['2/s'], breaker: null, margin: null, seed: '1' });
  assert.equal(key.marginNs, 0);
  assert.equal(key.source, 'configured');
  assert.equal(key.hasQuota, true);
  assert.deepEqual(key.quotas.map((q) => [q.limit, q.periodNs, q.burst]), [[2, S, 1]]);
  assert.equal(key.readyAt(1, 0), 0);
  assert.equal(key.maySend(), true);
  key.commit(1, 0);
  assert.equal(key.inFlight, 1);
  assert.equal(key.readyAt(1, 0), 500 * MS);

  const ahead = key.schedule();
  assert.equal(key.planOn(ahead, 1, 0), 500 * MS);
  const trial = ahead.copy();
  assert.equal(key.planOn(trial, 1, 0), S);
  assert.equal(key.planOn(ahead, 1, 0), S, 'planning on the copy left the original alone');
  assert.equal(key.readyAt(1, 0), 500 * MS, 'planning commits nothing');

  key.release();
  assert.equal(key.inFlight, 0);
  assert.deepEqual(key.pauseUntil(2 * S), { replan: true, learned: false, pausedUntil: 2 * S });
  assert.deepEqual(key.pauseUntil(S), { replan: false, learned: false, pausedUntil: null });
  assert.equal(key.readyAt(1, 0), 2 * S);
  assert.equal(key.breakerState(0), null);
  assert.equal(key.breakerAcquire(0), null);
  for (const o of [ahead, trial, key]) o.free();
});

test('KeyMachine carries the default margin unless told otherwise', () => {
  const key = new KeyMachine({ quotas: ['2/s'], breaker: null, seed: '1' });
  assert.equal(key.marginNs, 150_000);
  // A key that sends to a server probes it first; then the margin spaces it. (Without a
  // probe or an answer, a key is a caller's own admissions: exactly on the quota.)
  key.probeIfUnknown();
  key.commit(1, 0);
  assert.equal(key.readyAt(1, 0), 500 * MS + 150_000);
  key.free();
  const fixed = new KeyMachine({ quotas: ['2/s'], margin: { initialNs: 1000, floorNs: 1000 } });
  assert.equal(fixed.marginNs, 1000);
  fixed.free();
  assert.throws(() => new KeyMachine({ margin: { initialNs: 10, floorNs: 20 } }), RangeError);
});

test('KeyMachine learns from a response and probes an unknown key', () => {
  const key = new KeyMachine({ seed: '0', pauseJitterMaxNs: 0 });
  assert.equal(key.source, 'none');
  assert.equal(key.maxWaitNs, 600 * S);
  key.probeIfUnknown();
  key.commit(1, 0);
  assert.equal(key.maySend(), false, 'one at a time until the server answers');
  key.release();
  const policy = [['RateLimit-Policy', '"default";q=10;w=1']];
  const answer = Attempt.response(200, policy, WALL, key.maxWaitNs);
  assert.equal(answer.kind, 'response');
  assert.equal(answer.status, 200);
  const learned = key.onResponse(answer, 0, 100 * MS);
  assert.deepEqual(learned, { replan: true, learned: true, pausedUntil: null });
  assert.equal(key.maySend(), true);
  assert.equal(key.source, 'learned');
  assert.equal(key.readyAt(1, 100 * MS), 200 * MS);
  assert.deepEqual(key.onFailure(), { replan: false, learned: false, pausedUntil: null });
  answer.free();
  key.free();
});

test('KeyMachine options and calls fail with TypeError or RangeError and a kind', () => {
  assert.throws(() => new KeyMachine(5), { name: 'TypeError', kind: 'type' });
  const range = (kind) => ({ name: 'RangeError', kind });
  const zeroCap = { ...range('range'), message: /maxInFlight/ };
  assert.throws(() => new KeyMachine({ maxInFlight: 0 }), zeroCap);
  assert.throws(() => new KeyMachine({ breaker: { failureThreshold: 0 } }), range('range'));
  assert.throws(() => new KeyMachine({ breaker: { openForNs: 0 } }), range('range'));
  assert.throws(() => new KeyMachine({ quotas: Array(9).fill('1/s') }), range('too_many'));
  assert.throws(() => new KeyMachine({ quotas: ['0/s'] }), range('zero_limit'));
  assert.throws(() => new KeyMachine({ seed: 7 }), { name: 'TypeError', kind: 'type' });
  assert.throws(() => new KeyMachine({ seed: 'seven' }), RangeError);
  assert.throws(() => new KeyMachine({ maxWaitNs: 'long' }), { name: 'TypeError', kind: 'type' });
  assert.throws(() => new KeyMachine({ maxWaitNs: -1 }), { name: 'RangeError', kind: 'range' });

  const key = new KeyMachine({ quotas: ['10/s burst 3'] });
  assert.throws(() => key.readyAt(4, 0), (e) => {
    assert.ok(e instanceof RangeError);
    assert.deepEqual([e.kind, e.weight, e.burst], ['impossible', 4, 3]);
    return true;
  });
  assert.throws(() => key.readyAt(1, -1), { name: 'RangeError', kind: 'range' });
  const failed = Attempt.failed(false);
  assert.throws(() => key.onResponse(failed, 0), { name: 'TypeError', kind: 'type' });
  assert.throws(() => key.setConfigured(Array(9).fill('1/s')), { kind: 'too_many' });
  assert.throws(() => Attempt.response(200, [['a', 1]], WALL, S), TypeError);
  failed.free();
  key.free();
});

test('the key breaker: permits, refusals and what counts as a failure', () => {
  const key = new KeyMachine({ breaker: { failureThreshold: 1, openForNs: S }, learn: false });
  const permit = key.breakerAcquire(0);
  assert.ok(permit instanceof BreakerPermit);
  assert.equal(permit.isProbe, false);
  const bare503 = Attempt.response(503, [], WALL, S);
  const paced503 = Attempt.response(503, [['Retry-After', '1']], WALL, S);
  assert.equal(breakerSuccess(bare503), false);
  assert.equal(breakerSuccess(paced503), true);
  assert.equal(breakerSuccess(Attempt.timedOut()), false);
  assert.equal(key.breakerOnFailure(permit, 0), true);
  assert.deepEqual(key.breakerState(0), { state: 'open', retryInNs: S });
  assert.deepEqual(key.breakerAcquire(500 * MS), { retryInNs: 500 * MS });
  const probe = key.breakerAcquire(S);
  assert.equal(probe.isProbe, true);
  assert.equal(key.breakerOnSuccess(probe, S), true);
  assert.deepEqual(key.breakerState(S), { state: 'closed', consecutiveFailures: 0 });
  for (const o of [permit, probe, bare503, paced503, key]) o.free();
});

test('Call: steps with and without a retry budget', () => {
  const backoff = new Backoff(100 * MS, 30 * S, 5, 300 * S, 'none');
  assert.equal(isIdempotent('GET'), true);
  assert.equal(isIdempotent('POST'), false);

  const busy = Attempt.response(503, [['Retry-After', '2']], WALL, 600 * S);
  const get = new Call(backoff, true, '7');
  const retry = (afterNs, paused) => ({ step: 'retry', afterNs, paused });
  const back = (why) => ({ step: 'return', why });
  assert.deepEqual(get.next(busy, true, undefined, 0), retry(2 * S, true));
  assert.deepEqual(get.next(Attempt.timedOut(), true, null, 0), retry(200 * MS, false));
  assert.deepEqual(get.next(Attempt.failed(true), true, null, 0), back('not_retryable'));
  assert.equal(get.attempts, 3);
  assert.equal(get.retries, 2);

  const post = new Call(backoff, false, '7');
  const err = Attempt.response(500, [], WALL, 600 * S);
  assert.deepEqual(post.next(err, true, null, 0), back('not_retryable'));
  const postAgain = new Call(backoff, false, '7', true);
  assert.deepEqual(postAgain.next(err, true, null, 0), retry(100 * MS, false));

  const budget = new RetryBudget(500, 0, 1);
  const call = new Call(backoff, true, '0');
  assert.deepEqual(call.next(err, true, budget, 0), retry(100 * MS, false));
  assert.deepEqual(call.next(err, true, budget, 0), back('budget_spent'));
  assert.equal(budget.balance(0), 0);
  const ok = Attempt.response(200, [], WALL, 600 * S);
  const [first, second] = [new Call(backoff, true, '0'), new Call(backoff, true, '0')];
  assert.deepEqual(first.next(ok, true, budget, 0), back('done'));
  assert.deepEqual(second.next(ok, true, budget, 0), back('done'));
  assert.equal(budget.balance(0), 1, 'two successes at 50% earn one retry');
  assert.equal(budget.tryRetry(0), true);

  const far = Attempt.response(429, [['Retry-After', '99999']], WALL, S);
  const patient = new Call(backoff, true, '0');
  assert.deepEqual(patient.next(far, true, null, 0), { step: 'too_long', waitNs: 99999 * S });

  assert.throws(() => new RetryBudget(1001, 0, 1), { name: 'RangeError', kind: 'range' });
  assert.throws(() => new RetryBudget(0, 0, 1), { name: 'RangeError', kind: 'range' });
  assert.throws(() => new RetryBudget(100, 0, 0), { name: 'RangeError', kind: 'range' });
  assert.throws(() => new Call(backoff, true, 'x'), RangeError);
  const all = [busy, err, ok, far, budget, get, post, postAgain, call, first, second, patient];
  for (const o of [...all, backoff]) o.free();
});

test('KeyMachine.turn asks the caller\'s own slot last, and gives a blocked probe back', () => {
  const key = new KeyMachine({ breaker: { failureThreshold: 1, openForNs: S }, margin: null });
  const first = key.turn(new Waiter(1, 0, S), 0, () => true);
  assert.equal(first.turn, 'go');
  key.release();
  assert.equal(key.hear(Attempt.timedOut(), first.probe, 0, 0).replan, true, 'the breaker opened');

  const w = new Waiter(1, 0, 2 * S);
  assert.deepEqual(key.planWaiter(key.schedule(), w, 0), { turn: 'at', at: S });
  assert.deepEqual(key.turn(w, 0), { turn: 'at', at: S }, 'no turn before the probe may go');
  let asked = 0;
  const blocked = key.turn(w, S, () => {
    asked += 1;
    return false;
  });
  assert.deepEqual([blocked, asked, key.inFlight], [{ turn: 'blocked' }, 1, 0]);
  assert.deepEqual(key.breakerState(S), { state: 'half_open', probeInFlight: false });
  assert.throws(() => key.turn(w, S, () => { throw new Error('boom'); }), /boom/);
  const probe = key.turn(w, S);
  assert.equal(probe.turn, 'go');
  assert.equal(probe.probe.isProbe, true);

  const hasty = new Waiter(1, S, 100 * MS);
  assert.deepEqual(key.turn(hasty, S), { turn: 'at', at: S + 100 * MS },
    'it waits for the probe\'s outcome until its own deadline');
  assert.deepEqual(key.turn(hasty, S + 100 * MS),
    { turn: 'refused', refused: { kind: 'circuit_open', retryInNs: 900 * MS } },
    'the probe is still out at its deadline');
});
