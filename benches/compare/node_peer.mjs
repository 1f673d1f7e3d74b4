// The Node clients of the side-by-side comparison, one per run:
//
//   node node_peer.mjs SPEC.json
//
// SPEC.json (written by harness.py):
//
//   {"peer": "bottleneck", "urls": "/path/urls.txt", "concurrency": 10, "retries": 5,
//    "tiers": [{"limit": 100, "period_ms": 1000, "burst": 1}], "headway_pkg": "/path/index.js"}
//
// `tiers` empty means the client is not told the rate (the server publishes it only in its
// headers). Every client uses Node's built-in fetch (undici), as headway-limiter does.
//
// Peers other than headway-limiter retry a 429 after the Retry-After seconds it carries (1 s
// when absent), up to `retries` times: none of them reads response headers, so that loop is
// the user's (bottleneck has its own retry hook, used here as its README shows).
//
// compare.sh copies this file into the scratch npm project so that bottleneck, p-queue and
// limiter resolve from its node_modules; headway-limiter is imported from the built package.
//
// Protocol with the harness: build everything, print `ready`, wait for one line on stdin, run,
// print one JSON line with counts and the CPU time of the run (process.cpuUsage).

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const urls = readFileSync(spec.urls, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const concurrency = spec.concurrency ?? 10;
const retries = spec.retries ?? 5;
const tiers = spec.tiers ?? [];
const tally = { ok: 0, failed: 0, seen_429: 0, attempts: 0 };

/** Retry-After as milliseconds (the mock sends delay-seconds); 1 s when absent. */
function retryAfterMs(response) {
  const secs = Number(response.headers.get('retry-after'));
  return Number.isFinite(secs) && secs >= 0 ? secs * 1000 : 1000;
}

/** Counts a final response (body already read). */
function record(status) {
  if (status >= 200 && status < 300) tally.ok += 1;
  else tally.failed += 1;
}

/** One attempt: send, read the body, return the response. */
async function attempt(url) {
  tally.attempts += 1;
  const response = await fetch(url);
  await response.arrayBuffer();
  return response;
}

/**
 * One URL: wait for `gate` (if any) before each attempt, retry a 429 after Retry-After.
 * `through` runs each attempt (by default directly; p-queue passes its `add`).
 */
async function fetchWithRetry(url, gate, through = (job) => job()) {
  for (let i = 0; i <= retries; i++) {
    if (gate) await gate();
    let response;
    try {
      response = await through(() => attempt(url));
    } catch {
      tally.failed += 1;
      return;
    }
    if (response.status === 429) {
      tally.seen_429 += 1;
      if (i === retries) break;
      await sleep(retryAfterMs(response));
      continue;
    }
    record(response.status);
    return;
  }
  tally.failed += 1;
}

/** `n` workers taking URLs in order from a shared iterator. */
async function workerPool(n, job) {
  const it = urls[Symbol.iterator]();
  const worker = async () => {
    for (const url of it) await job(url);
  };
  await Promise.all(Array.from({ length: n }, worker));
}

const perSecond = (t) => (t.limit * 1000) / t.period_ms;
const intervalMs = (t) => t.period_ms / t.limit;

// Each peer: build everything, then `await go()`, then run.
const peers = {
  // headway-limiter: the quota (all tiers with their bursts) and the concurrency cap, as in
  // its README; without a known rate only the cap, and it learns from the headers. It retries
  // 429s itself (Retry-After pauses the whole origin).
  async 'headway-limiter'(go) {
    const { Limiter } = await import(spec.headway_pkg);
    const options = { concurrency, retries };
    if (tiers.length) {
      options.tiers = tiers.map((t) => ({ limit: t.limit, per: t.period_ms, burst: t.burst }));
    }
    const limiter = new Limiter(options);
    await go();
    await Promise.all(
      urls.map(async (url) => {
        try {
          const response = await limiter.fetch(url);
          await response.arrayBuffer();
          record(response.status);
        } catch {
          tally.failed += 1;
        }
      }),
    );
    const stats = limiter.stats();
    tally.seen_429 = stats.rateLimited;
    tally.attempts = stats.sent;
  },

  // bottleneck: maxConcurrent for the cap; minTime = the emission interval of the
  // shortest-period tier ("minTime and maxConcurrent are enough for the majority of use cases");
  // a longer tier with a burst becomes a reservoir that grows back at its rate ("Reservoir
  // Intervals", increase interval a multiple of 250 ms as its README asks). Retries through
  // its "failed" event returning the delay, as its README's Retries section shows.
  async bottleneck(go) {
    const { default: Bottleneck } = await import('bottleneck');
    const options = { maxConcurrent: concurrency };
    if (tiers.length) {
      // The shortest-period tier sets minTime; a second, longer tier becomes the reservoir.
      const [short, long] = [...tiers].sort((a, b) => a.period_ms - b.period_ms);
      options.minTime = intervalMs(short);
      if (long) {
        options.reservoir = long.burst;
        options.reservoirIncreaseInterval = 1000;
        options.reservoirIncreaseAmount = perSecond(long);
        options.reservoirIncreaseMaximum = long.burst;
      }
    }
    const limiter = new Bottleneck(options);
    limiter.on('failed', (error, info) => {
      if (error.retryAfterMs !== undefined && info.retryCount < retries) return error.retryAfterMs;
      return undefined;
    });
    await go();
    await Promise.all(
      urls.map((url) =>
        limiter
          .schedule(async () => {
            const response = await attempt(url);
            if (response.status === 429) {
              tally.seen_429 += 1;
              const error = new Error('429');
              error.retryAfterMs = retryAfterMs(response);
              throw error;
            }
            return response.status;
          })
          .then(record, () => {
            tally.failed += 1;
          }),
      ),
    );
  },

  // p-queue: concurrency for the cap; intervalCap per interval for the rate with strict: true
  // (sliding window), which its README recommends "when interacting with APIs that enforce
  // strict rate limits". A burst-1 server gets intervalCap 1 per emission interval; one rate
  // only, so with tiers the lowest sustained rate. Every attempt, retries included, is a task.
  async 'p-queue'(go) {
    const { default: PQueue } = await import('p-queue');
    const options = { concurrency };
    if (tiers.length) {
      const slowest = tiers.reduce((a, b) => (perSecond(a) <= perSecond(b) ? a : b));
      if (tiers.length === 1 && slowest.burst > 1) {
        Object.assign(options, { intervalCap: slowest.burst, interval: slowest.burst * intervalMs(slowest) });
      } else {
        Object.assign(options, { intervalCap: 1, interval: intervalMs(slowest) });
      }
      options.strict = true;
    }
    const queue = new PQueue(options);
    await go();
    // Each attempt is its own queue task, so a retry waits for the interval like any request.
    await Promise.all(urls.map((url) => fetchWithRetry(url, null, (job) => queue.add(job))));
  },

  // limiter: RateLimiter({tokensPerInterval: 1, interval: emission interval}) paces evenly
  // (its README's "Pace work" example); tiers with bursts as a child TokenBucket under a
  // parent, the README's way to "atomic burst and sustained-rate budgets", started full like
  // RateLimiter does. No concurrency control of its own: a pool of `concurrency` workers.
  async limiter(go) {
    const { RateLimiter, TokenBucket } = await import('limiter');
    let gate;
    if (tiers.length === 1 && tiers[0].burst <= 1) {
      const rl = new RateLimiter({ tokensPerInterval: 1, interval: intervalMs(tiers[0]) });
      gate = () => rl.removeTokens(1);
    } else if (tiers.length) {
      let parent;
      const sorted = [...tiers].sort((a, b) => b.period_ms - a.period_ms);
      for (const t of sorted) {
        parent = new TokenBucket({
          bucketSize: t.burst,
          tokensPerInterval: t.limit,
          interval: t.period_ms,
          parentBucket: parent,
        });
        parent.content = t.burst;
      }
      gate = () => parent.removeTokens(1);
    }
    await go();
    await workerPool(concurrency, (url) => fetchWithRetry(url, gate));
  },
};

async function main() {
  const peer = peers[spec.peer];
  if (!peer) {
    console.error(`node_peer: unknown peer ${spec.peer}`);
    process.exit(2);
  }
  let t0 = 0;
  let cpu0;
  const go = async () => {
    console.log('ready');
    const rl = createInterface({ input: process.stdin });
    await new Promise((resolve) => rl.once('line', resolve));
    rl.close();
    t0 = performance.now();
    cpu0 = process.cpuUsage();
  };
  await peer(go);
  const cpu = process.cpuUsage(cpu0);
  console.log(
    JSON.stringify({
      ...tally,
      wall_ms: performance.now() - t0,
      cpu_ms: (cpu.user + cpu.system) / 1000,
    }),
  );
  process.exit(0);
}

await main();
