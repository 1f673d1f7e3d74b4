// The Limiter is an EventTarget: "pause", "learn" and "retry" are dispatched from what the
// engine reports as it decides, on virtual time.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Limiter, LimiterEvent } from '../pkg/index.js';
import { FakeClock } from './fake-clock.mjs';
import { stubFetch } from './stub-fetch.mjs';

const ORIGIN = 'https://api.test';

/** A stubbed fetch answering from `replies` in turn (then 200), and a limiter on `clock`. */
function setup(replies, options = {}) {
  const clock = new FakeClock();
  const stub = stubFetch(clock, () => (replies.shift() ?? (() => new Response('ok')))());
  const limiter = new Limiter({ clock, timeoutMs: 0, ...options });
  const events = [];
  for (const type of ['pause', 'learn', 'retry']) {
    limiter.addEventListener(type, (e) => {
      assert.ok(e instanceof LimiterEvent && e instanceof Event);
      events.push({ at: clock.now(), type: e.type, ...e.detail });
    });
  }
  return { clock, stub, limiter, events };
}

test('a 429 with Retry-After is a pause and a retry; RateLimit-Policy is a learned quota', async () => {
  const { clock, stub, limiter, events } = setup([
    () => new Response('slow down', { status: 429, headers: { 'Retry-After': '2' } }),
    () => new Response('ok', { headers: { 'RateLimit-Policy': '"default";q=10;w=1' } }),
  ]);
  try {
    // A listener may read the limiter while the engine reports: it holds no lock then.
    let learnedStats;
    limiter.addEventListener('learn', () => { learnedStats = limiter.stats().keys[ORIGIN]; });
    const res = await clock.run(limiter.fetch(`${ORIGIN}/items`));
    assert.equal(res.status, 200);
    const [pause, retry, learn, ...rest] = events;
    assert.deepEqual(rest, []);
    assert.equal(pause.type, 'pause');
    assert.equal(pause.key, ORIGIN);
    assert.equal(pause.at, 0);
    // Two seconds and the pause's upward jitter (at most 25 ms).
    assert.ok(pause.pauseMs >= 2000 && pause.pauseMs <= 2025, String(pause.pauseMs));
    assert.deepEqual(retry, { at: 0, type: 'retry', key: ORIGIN, attempt: 1, status: 429, delayMs: 2000, paused: true });
    // The retry went when the pause ended, and its answer taught 10/s.
    assert.equal(stub.calls[1].at, Math.ceil(pause.pauseMs));
    assert.deepEqual(learn, {
      at: stub.calls[1].at, type: 'learn', key: ORIGIN, quotas: [{ limit: 10, periodMs: 1000, burst: 1 }],
    });
    // What the event said is what stats() says.
    assert.equal(learnedStats.source, 'learned');
    assert.deepEqual(learnedStats.quotas, learn.quotas);
    // The same policy again changes nothing: no event.
    await clock.run(limiter.fetch(`${ORIGIN}/again`));
    assert.equal(events.length, 3);
    limiter.dispose();
  } finally {
    stub.restore();
  }
});

test('a 503 without a wait and a network error are retries on the backoff, not pauses', async () => {
  const { clock, stub, limiter, events } = setup([
    () => new Response('down', { status: 503 }),
    () => Promise.reject(new TypeError('fetch failed')),
  ]);
  try {
    const res = await clock.run(limiter.fetch(`${ORIGIN}/items`));
    assert.equal(res.status, 200);
    assert.deepEqual(events.map((e) => [e.type, e.attempt, e.status, e.paused]), [
      ['retry', 1, 503, false],
      ['retry', 2, null, false],
    ]);
    // Each retry went after the delay its event named (whole milliseconds on this clock).
    const sent = stub.calls.map((c) => c.at);
    assert.equal(sent.length, 3);
    assert.equal(sent[1], Math.ceil(events[0].delayMs));
    assert.equal(sent[2], sent[1] + Math.ceil(events[1].delayMs));
    limiter.dispose();
  } finally {
    stub.restore();
  }
});

test('removeEventListener stops the events; a Limiter without listeners works as before', async () => {
  const { clock, stub, limiter, events } = setup([
    () => new Response('slow down', { status: 429, headers: { 'Retry-After': '1' } }),
  ]);
  try {
    const seen = [];
    const listener = (e) => seen.push(e.type);
    limiter.addEventListener('retry', listener);
    limiter.removeEventListener('retry', listener);
    await clock.run(limiter.fetch(`${ORIGIN}/items`));
    assert.deepEqual(seen, []);
    assert.deepEqual(events.map((e) => e.type), ['pause', 'retry']);
    limiter.dispose();
    const quiet = new Limiter({ clock, timeoutMs: 0 });
    assert.equal((await clock.run(quiet.fetch(`${ORIGIN}/x`))).status, 200);
    quiet.dispose();
  } finally {
    stub.restore();
  }
});

test('the pacing an answer\'s remaining/reset counts give shows in stats(), and is no "learn" event', async () => {
  const { clock, stub, limiter, events } = setup([
    () => new Response('ok', {
      headers: { 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '59', 'X-RateLimit-Reset': '60' },
    }),
  ]);
  try {
    await clock.run(limiter.fetch(`${ORIGIN}/items`));
    const key = limiter.stats().keys[ORIGIN];
    assert.equal(key.source, 'learned');
    assert.deepEqual(key.quotas, [{ limit: 1, periodMs: 60000, burst: 59 }]);
    assert.deepEqual(events, []);
    limiter.dispose();
  } finally {
    stub.restore();
  }
});
