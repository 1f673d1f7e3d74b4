// The shared conformance files (tests/conformance/data/*.json), unchanged, through the
// package's public JavaScript API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

import {
  interpretResponse,
  parseQuota,
  Gcra,
  Tiers,
  Backoff,
  CircuitBreaker,
  BreakerPermit,
  KeyMachine,
  Call,
  Attempt,
  RetryBudget,
  Waiter,
} from '../pkg/index.js';

const dataDir = fileURLToPath(new URL('../../tests/conformance/data/', import.meta.url));
const files = readdirSync(dataDir).filter((f) => f.endsWith('.json')).sort();

function cases(json) {
  if (Array.isArray(json)) return json;
  if (json.cases) return json.cases;
  // quota.json: valid and invalid inputs, each a case of its own.
  return [
    ...json.valid.map((c) => ({ ...c, name: `valid ${JSON.stringify(c.input)}`, valid: true })),
    ...json.invalid.map((c) => ({ ...c, name: `invalid ${JSON.stringify(c.input)}`, valid: false })),
  ];
}

/** A data file's `{ limit, period_ns, burst }` as the API's quota object. */
function spec(q) {
  return { limit: q.limit, periodNs: q.period_ns, burst: q.burst };
}

/** What a check or peek did: 'allow', { wait } or { impossible: { n, burst } }. */
function outcome(f) {
  try {
    const wait = f();
    return wait === 0 ? 'allow' : { wait };
  } catch (e) {
    if (e instanceof RangeError && e.kind === 'impossible') {
      return { impossible: { n: e.weight, burst: e.burst } };
    }
    throw e;
  }
}

/** Compares an outcome with the expectation of a check, peek or impossible reserve. */
function expectOutcome(op, got, where) {
  const n = op.n ?? 1;
  switch (op.expect) {
    case 'allow':
      assert.deepStrictEqual(got, 'allow', where);
      break;
    case 'deny':
      assert.ok(Number.isInteger(op.wait), `${where}: a deny expectation needs a wait`);
      assert.deepStrictEqual(got, { wait: op.wait }, where);
      break;
    case 'impossible':
      assert.ok(got.impossible, `${where}: got ${JSON.stringify(got)}`);
      assert.equal(got.impossible.n, n, where);
      if (op.burst !== undefined) assert.equal(got.impossible.burst, op.burst, where);
      break;
    default:
      assert.fail(`${where}: unknown expectation ${op.expect}`);
  }
}

/**
 * Runs the shared op vocabulary of gcra.json and tiers.json on `limiter` (a Gcra or Tiers),
 * as the Rust runner (tests/conformance/src/gcra.rs) does.
 */
function runOps(limiter, ops) {
  const held = [];
  ops.forEach((op, step) => {
    const where = `step ${step} ${JSON.stringify(op)}`;
    const n = op.n ?? 1;
    switch (op.op) {
      case 'check':
        expectOutcome(op, outcome(() => limiter.checkN(n, op.at)), where);
        break;
      case 'peek':
        expectOutcome(op, outcome(() => limiter.peekN(n, op.at)), where);
        break;
      case 'reserve':
        if (op.expect === undefined) {
          const r = limiter.reserveN(n, op.at);
          held.push(r);
          assert.equal(r.readyAt, op.ready_at, where);
        } else {
          expectOutcome(op, outcome(() => limiter.reserveN(n, op.at).readyAt), where);
        }
        break;
      case 'refund': {
        const r = held[op.reservation];
        assert.ok(r, `${where}: no reservation ${op.reservation}`);
        assert.equal(limiter.refund(r), op.expect, where);
        break;
      }
      case 'defer_until':
        limiter.deferUntil(op.until);
        break;
      case 'set_quota':
        if (limiter instanceof Tiers) limiter.setQuotas([spec(op.quota)]);
        else limiter.setQuota(spec(op.quota));
        break;
      case 'set_quotas':
        assert.ok(limiter instanceof Tiers, `${where}: a cell takes one quota`);
        limiter.setQuotas(op.quotas.map(spec));
        break;
      case 'remaining':
        assert.equal(limiter.remaining(op.at), op.expect, where);
        break;
      case 'reset_after':
        assert.equal(limiter.resetAfter(op.at), op.expect, where);
        break;
      case 'is_idle':
        assert.equal(limiter.isIdle(op.at), op.expect, where);
        break;
      default:
        assert.fail(`${where}: unknown op`);
    }
  });
  for (const r of held) r.free();
}

/** The expectations a traces.json event may carry. */
const TRACE_EXPECTATIONS = new Set([
  'admitted', 'failed', 'step', 'attempts', 'in_flight', 'paused_until', 'quotas', 'source',
  'breaker', 'queue', 'margin_ns',
]);

/** A breaker state as the data files spell it. */
function breakerSpec(s) {
  if (s === null) return null;
  return s.state === 'closed'
    ? { state: 'closed', consecutive_failures: s.consecutiveFailures }
    : s.state === 'open'
      ? { state: 'open', retry_in_ns: s.retryInNs }
      : { state: 'half_open', probe_in_flight: s.probeInFlight };
}

/** A call step as the data files spell it. */
function stepSpec(s) {
  if (s.step === 'return') return { kind: 'return', why: s.why };
  if (s.step === 'retry') return { kind: 'retry', after_ns: s.afterNs, paused: s.paused };
  return { kind: 'too_long', wait_ns: s.waitNs };
}

/** `{ value }` from `f()`, or `{ impossible }` with the RangeError it threw. */
function orImpossible(f) {
  try {
    return { value: f() };
  } catch (e) {
    if (e instanceof RangeError && e.kind === 'impossible') return { impossible: e };
    throw e;
  }
}

/**
 * Replays one traces.json case through KeyMachine and Call with the FIFO driver the file's
 * description defines, as the Rust runner (tests/conformance/src/traces.rs) does.
 */
function runTrace(c) {
  const k = c.key;
  const r = c.retry;
  const key = new KeyMachine({
    quotas: k.quotas.map(spec),
    maxInFlight: k.max_in_flight,
    breaker: k.breaker && {
      failureThreshold: k.breaker.failure_threshold,
      openForNs: k.breaker.open_for_ns,
    },
    learn: k.learn,
    pauseJitterMaxNs: k.pause_jitter_max_ns,
    maxWaitNs: k.max_wait_ns,
    margin: k.margin
      ? {
          initialNs: k.margin.initial_ns,
          floorNs: k.margin.floor_ns,
          maxNs: k.margin.max_ns,
          narrowAfter: k.margin.narrow_after,
        }
      : null,
    seed: k.seed,
  });
  const b = r.backoff;
  const backoff = new Backoff(b.base_ns, b.max_delay_ns, b.max_attempts, b.max_total_ns, b.jitter);
  const budget = r.budget
    ? new RetryBudget(r.budget.ratio_permille, r.budget.min_per_sec, r.budget.max)
    : null;
  const queue = []; // { id, waiter }
  const inFlight = []; // { id, probe, sentAt }
  const calls = new Map(); // id -> { call, state: 'running' | 'over' | retry-from time }
  let now = 0;
  let admitted = [];
  let failed = [];

  const fail = (id, refused) => {
    const s = calls.get(id);
    if (s) s.state = 'over';
    const f = { id, kind: refused.kind };
    if (refused.kind === 'wait_too_long') f.wait_ns = refused.waitNs;
    else if (refused.kind === 'impossible') f.burst = refused.burst;
    else f.retry_in_ns = refused.retryInNs;
    failed.push(f);
  };

  function pass(until) {
    while (queue.length > 0) {
      const head = queue[0];
      const t = key.turn(head.waiter, now);
      if (t.turn === 'go') {
        queue.shift().waiter.free();
        admitted.push({ id: head.id, at: now });
        inFlight.push({ id: head.id, probe: t.probe, sentAt: now });
      } else if (t.turn === 'refused') {
        queue.shift().waiter.free();
        fail(head.id, t.refused);
      } else if (t.turn === 'at' && t.at <= until) {
        now = t.at;
      } else {
        break;
      }
    }
    now = until;
  }

  /** Plans the queue again, failing the waiters refused a turn; returns the tail. */
  function replan() {
    const ahead = key.schedule();
    for (const w of queue.splice(0)) {
      const planned = key.planWaiter(ahead, w.waiter, now);
      if (planned.turn === 'at') {
        queue.push(w);
      } else {
        w.waiter.free();
        fail(w.id, planned.refused);
      }
    }
    return ahead;
  }

  function acquire(id, n) {
    const s = calls.get(id);
    if (s === undefined) {
      const call = new Call(backoff, r.idempotent, k.seed, r.retry_non_idempotent ?? false);
      calls.set(id, { call, state: 'running' });
    } else if (typeof s.state === 'number' && s.state <= now) {
      s.state = 'running';
    } else {
      throw new Error(`${id} is running, over, or acquired before its retry`);
    }
    key.probeIfUnknown();
    const waiter = new Waiter(n, now, k.max_wait_ns);
    const ahead = replan();
    try {
      const planned = key.planWaiter(ahead, waiter, now);
      if (planned.turn === 'at') {
        queue.push({ id, waiter });
      } else {
        waiter.free();
        fail(id, planned.refused);
      }
    } finally {
      ahead.free();
    }
  }

  /** Takes `id` (or the latest admitted) out of flight and frees its slot. */
  function land(id) {
    const i = id === undefined ? inFlight.length - 1 : inFlight.findIndex((f) => f.id === id);
    if (i < 0) throw new Error(`${id} is not in flight`);
    key.release();
    return inFlight.splice(i, 1)[0];
  }

  /** The key hears the attempt; the call steps. */
  function finish({ id, probe, sentAt }, attempt, replayable) {
    const changed = key.hear(attempt, probe, sentAt, now);
    const s = calls.get(id);
    const step = s.call.next(attempt, replayable, budget, now);
    attempt.free();
    s.state = step.step !== 'retry' ? 'over' : step.paused ? now : now + step.afterNs;
    return [step, changed];
  }

  try {
    c.events.forEach((e, i) => {
      const where = `event ${i} (${e.event} at ${e.at})`;
      assert.ok(e.at >= now, `${where}: time goes back from ${now}`);
      admitted = [];
      failed = [];
      pass(e.at);
      let id = e.id;
      let step = null;
      let changed = null;
      const replayable = e.replayable ?? true;
      switch (e.event) {
        case 'acquire':
          acquire(e.id, e.n ?? 1);
          break;
        case 'advance':
          break;
        case 'response': {
          const sent = land(e.id);
          id = sent.id;
          const attempt = Attempt.response(e.status, e.headers ?? [], e.wall_ms, k.max_wait_ns);
          [step, changed] = finish(sent, attempt, replayable);
          break;
        }
        case 'failure':
        case 'timeout': {
          const sent = land(e.id);
          id = sent.id;
          const attempt = e.event === 'timeout' ? Attempt.timedOut() : Attempt.failed(e.permanent);
          [step, changed] = finish(sent, attempt, replayable);
          break;
        }
        case 'release':
          land(e.id).probe?.free();
          calls.get(e.id).state = 'over';
          break;
        case 'cancel': {
          const at = queue.findIndex((w) => w.id === e.id);
          assert.ok(at >= 0, `${where}: ${e.id} is not queued`);
          queue.splice(at, 1)[0].waiter.free();
          calls.get(e.id).state = 'over';
          break;
        }
        case 'pause':
          changed = key.pauseUntil(e.until);
          break;
        case 'configure':
          changed = key.setConfigured(e.configured.map(spec));
          break;
        default:
          assert.fail(`${where}: unknown event`);
      }
      if (changed?.replan) replan().free();
      pass(e.at);

      const x = e.expect ?? {};
      for (const name of Object.keys(x)) {
        assert.ok(TRACE_EXPECTATIONS.has(name), `${where}: unknown expectation ${name}`);
      }
      assert.deepStrictEqual(admitted, x.admitted ?? [], `${where}: admitted`);
      assert.deepStrictEqual(failed, x.failed ?? [], `${where}: failed`);
      assert.deepStrictEqual(step && stepSpec(step), x.step ?? null, `${where}: step`);
      const observed = {
        attempts: () => calls.get(id)?.call.attempts,
        in_flight: () => key.inFlight,
        paused_until: () => key.pausedUntil,
        quotas: () =>
          key.quotas.map((q) => ({ limit: q.limit, period_ns: q.periodNs, burst: q.burst })),
        source: () => key.source,
        breaker: () => breakerSpec(key.breakerState(e.at)),
        queue: () => queue.map((w) => w.id),
        margin_ns: () => key.marginNs,
      };
      for (const [name, got] of Object.entries(observed)) {
        if (x[name] !== undefined) assert.deepStrictEqual(got(), x[name], `${where}: ${name}`);
      }
    });
  } finally {
    for (const f of inFlight) f.permit?.free();
    for (const s of calls.values()) s.call.free();
    budget?.free();
    backoff.free();
    key.free();
  }
}

const runners = {
  headers(c) {
    const r = interpretResponse(c.status, c.headers, {
      wallMs: c.wall_ms,
      maxWaitMs: c.max_wait_ms ?? 600_000,
    });
    const got = {
      verdict: r.verdict,
      reason: r.reason,
      after_ms: r.afterMs,
      wait_ms: r.waitMs,
      pause_ms: r.pauseMs,
      limit: r.limit,
      remaining: r.remaining,
      reset_ms: r.resetMs,
      policies: r.policies.map((p) => ({ limit: p.limit, period_ms: p.periodMs })),
    };
    const e = c.expect;
    const want = {
      verdict: e.verdict,
      reason: e.reason ?? null,
      after_ms: e.after_ms ?? null,
      wait_ms: e.wait_ms ?? null,
      pause_ms: e.pause_ms ?? null,
      limit: e.limit ?? null,
      remaining: e.remaining ?? null,
      reset_ms: e.reset_ms ?? null,
      policies: e.policies ?? [],
    };
    assert.deepStrictEqual(got, want);
  },

  backoff(c) {
    const policy = new Backoff(c.base_ns, c.max_delay_ns, c.max_attempts, c.max_total_ns, c.jitter);
    const r = policy.start(c.seed);
    const waits = c.server_waits_ns ?? [];
    const got = c.expect_delays_ns.map((_, i) => r.nextDelayNs(waits[i] ?? null) ?? null);
    assert.deepStrictEqual(got, c.expect_delays_ns);
    assert.equal(r.attempts, c.expect_attempts, 'attempts');
    assert.equal(r.elapsedNs, c.expect_elapsed_ns, 'elapsed_ns');
    r.free();
    policy.free();
  },

  gcra(c) {
    const cell = new Gcra(spec(c.quota));
    try {
      runOps(cell, c.ops);
    } finally {
      cell.free();
    }
  },

  tiers(c) {
    const tiers = new Tiers(c.quotas.map(spec));
    try {
      runOps(tiers, c.ops);
    } finally {
      tiers.free();
    }
  },

  quota(c) {
    if (c.valid) {
      const q = parseQuota(c.input);
      assert.deepStrictEqual(
        [q.limit, q.periodNs, q.burst, q.emissionIntervalNs, q.toleranceNs],
        [c.limit, c.period_ns, c.burst, c.emission_interval_ns, c.tolerance_ns],
      );
      assert.equal(q.periodMs, c.period_ns / 1e6);
    } else {
      assert.throws(() => parseQuota(c.input), (e) => {
        assert.ok(e instanceof RangeError, `${e}`);
        assert.equal(e.kind, c.error);
        return true;
      });
    }
  },

  traces: runTrace,

  breaker(c) {
    const b = new CircuitBreaker(c.failure_threshold, c.open_for_ns);
    const permits = new Map();
    c.ops.forEach((op, i) => {
      const where = `op ${i} ${op.op} at ${op.at}`;
      switch (op.op) {
        case 'acquire': {
          const r = b.acquire(op.at);
          let got;
          if (r instanceof BreakerPermit) {
            got = { result: r.isProbe ? 'probe' : 'permit' };
            if (op.permit) permits.set(op.permit, r);
          } else {
            got = { result: 'open', retry_in_ns: r.retryInNs };
          }
          assert.deepStrictEqual(got, op.expect, where);
          break;
        }
        case 'success':
        case 'failure': {
          const p = permits.get(op.permit);
          assert.ok(p, `${where}: no permit named ${op.permit}`);
          const changed = op.op === 'success' ? b.onSuccess(p, op.at) : b.onFailure(p, op.at);
          assert.equal(changed, op.expect_changed, where);
          break;
        }
        case 'state': {
          const s = b.state(op.at);
          const got =
            s.state === 'closed'
              ? { state: 'closed', consecutive_failures: s.consecutiveFailures }
              : s.state === 'open'
                ? { state: 'open', retry_in_ns: s.retryInNs }
                : { state: 'half_open', probe_in_flight: s.probeInFlight };
          assert.deepStrictEqual(got, op.expect, where);
          break;
        }
        default:
          assert.fail(`${where}: unknown op`);
      }
    });
  },
};

test('the conformance files are found', () => {
  for (const suite of ['backoff', 'breaker', 'gcra', 'headers', 'quota', 'tiers', 'traces']) {
    assert.ok(files.includes(`${suite}.json`), `${suite}.json is missing from ${dataDir}`);
  }
});

for (const f of files) {
  const suite = f.replace(/\.json$/, '');
  const json = JSON.parse(readFileSync(join(dataDir, f), 'utf8'));
  test(`conformance: ${suite}`, () => {
    // Every shared file has a runner here: a file without one fails rather than skips.
    const run = runners[suite];
    assert.ok(run, `no JavaScript runner for ${f}`);
    const failures = [];
    const all = cases(json);
    for (const c of all) {
      try {
        run(c);
      } catch (e) {
        failures.push(`${c.name}: ${e.message}`);
      }
    }
    assert.ok(all.length > 0, 'no cases');
    assert.deepStrictEqual(failures, [], `${failures.length} of ${all.length} failed`);
  });
}

/**
 * Changes one op's expectation so that a correct limiter no longer meets it (as the Rust
 * runner's own self-test does); false for ops that expect nothing.
 */
function breakOp(op) {
  if (Number.isInteger(op.ready_at)) {
    op.ready_at += 1;
  } else if (typeof op.expect === 'boolean') {
    op.expect = !op.expect;
  } else if (typeof op.expect === 'number') {
    op.expect += 1;
  } else if (op.expect === 'deny') {
    op.wait += 1;
  } else if (op.expect === 'allow') {
    op.expect = 'deny';
    op.wait = 1;
  } else if (op.expect === 'impossible') {
    if (op.op === 'reserve') {
      delete op.expect;
      op.ready_at = 0;
    } else {
      op.expect = 'allow';
    }
  } else {
    return false;
  }
  return true;
}

test('the JavaScript runners check every expectation: breaking any one fails its case', () => {
  let broken = 0;
  for (const suite of ['gcra', 'tiers']) {
    const json = JSON.parse(readFileSync(join(dataDir, `${suite}.json`), 'utf8'));
    for (const c of json.cases) {
      c.ops.forEach((_, i) => {
        const mutated = structuredClone(c);
        if (!breakOp(mutated.ops[i])) return;
        broken++;
        assert.throws(() => runners[suite](mutated), undefined, `${suite} ${c.name} op ${i}`);
      });
    }
  }
  const quota = JSON.parse(readFileSync(join(dataDir, 'quota.json'), 'utf8'));
  for (const c of cases(quota)) {
    const fields = c.valid ? ['limit', 'period_ns', 'burst', 'emission_interval_ns', 'tolerance_ns'] : ['error'];
    for (const field of fields) {
      const mutated = { ...c };
      mutated[field] = c.valid ? c[field] + 1 : c.error === 'syntax' ? 'overflow' : 'syntax';
      broken++;
      assert.throws(() => runners.quota(mutated), undefined, `${c.name} ${field}`);
    }
  }
  assert.ok(broken > 400, `only ${broken} expectations`);
});

/**
 * Changes expectation `name` of a traces.json event so that a correct driver no longer meets
 * it (as the Rust runner's own self-test does), claiming an admission or a failure where the
 * event expects none.
 */
function breakExpectation(x, name) {
  const v = x[name];
  switch (name) {
    case 'admitted':
    case 'failed': {
      const list = v ?? [];
      x[name] = list;
      if (list.length === 0) {
        const bogus = name === 'admitted' ? { at: 0 } : { kind: 'impossible', burst: 1 };
        list.push({ id: 'nobody', ...bogus });
      } else {
        const first = list[0];
        const field = ['at', 'wait_ns', 'burst', 'retry_in_ns'].find((f) => f in first);
        first[field] += 1;
      }
      break;
    }
    case 'step':
      if (v.kind === 'return') v.why = v.why === 'done' ? 'exhausted' : 'done';
      else if (v.kind === 'retry') v.after_ns += 1;
      else v.wait_ns += 1;
      break;
    case 'attempts':
    case 'in_flight':
    case 'paused_until':
    case 'margin_ns':
      x[name] = v + 1;
      break;
    case 'quotas':
      if (v.length === 0) v.push({ limit: 1, period_ns: 1, burst: 1 });
      else v[0].limit += 1;
      break;
    case 'source':
      x[name] = v === 'none' ? 'learned' : 'none';
      break;
    case 'breaker':
      if ('consecutive_failures' in v) v.consecutive_failures += 1;
      else if ('retry_in_ns' in v) v.retry_in_ns += 1;
      else v.probe_in_flight = !v.probe_in_flight;
      break;
    case 'queue':
      v.push('nobody');
      break;
    default:
      assert.fail(`unknown expectation ${name}`);
  }
}

test('the JavaScript trace runner checks every expectation: breaking one fails its case', () => {
  const json = JSON.parse(readFileSync(join(dataDir, 'traces.json'), 'utf8'));
  let broken = 0;
  for (const c of json.cases) {
    c.events.forEach((e, i) => {
      const names = new Set([...Object.keys(e.expect ?? {}), 'admitted', 'failed']);
      for (const name of names) {
        const mutated = structuredClone(c);
        const event = mutated.events[i];
        event.expect ??= {};
        breakExpectation(event.expect, name);
        broken++;
        assert.throws(() => runTrace(mutated), undefined, `${c.name} event ${i} ${name}`);
      }
    });
  }
  assert.ok(broken > 850, `only ${broken} expectations`);
});
