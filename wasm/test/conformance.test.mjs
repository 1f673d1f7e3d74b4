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
  for (const suite of ['backoff', 'breaker', 'gcra', 'headers', 'quota', 'tiers']) {
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
