// The cost of one acquire() in Node, side by side in one run: headway-limiter (the npm
// package, as run.sh builds it from the current tree and installs it), bottleneck and p-queue, each configured so that
// nothing ever waits for rate, so what is measured is the library's own bookkeeping per
// acquisition: a sequential loop (await each one) and a burst of concurrent acquisitions.
//
// Each measurement runs until it has done N acquisitions or spent BUDGET milliseconds,
// whichever comes first (bottleneck takes milliseconds per acquisition: it schedules through
// timers), and reports nanoseconds per acquisition.
//
// Before the table it prints what was measured and on what: the tree headway-limiter was built
// from (as run.sh recorded it; "unknown" when bench.mjs runs without run.sh), every library's
// installed version, Node, the machine and its load average at the start and the end.
//
// Usage: bash run.sh [--ops N] [--rounds R] [--budget-ms MS]   (builds and installs first)
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import Bottleneck from 'bottleneck';
import PQueue from 'p-queue';
import { Limiter } from 'headway-limiter';

const installed = (name) => {
  try {
    return JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;
  } catch {
    return 'not installed';
  }
};
const build = (() => {
  try {
    return JSON.parse(readFileSync(new URL('./node_modules/.headway-limiter-build.json', import.meta.url)));
  } catch {
    return null;
  }
})();
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(', ');
const loadStart = load();
const started = new Date();

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const OPS = flag('--ops', 20000);
const ROUNDS = flag('--rounds', 5);
const BUDGET_MS = flag('--budget-ms', 300);
const BATCH = 100;
const noop = () => Promise.resolve();

// Each subject: a name and a function performing one acquisition (and its release).
function subjects() {
  const headway = new Limiter({ limit: 4_000_000_000, per: '1s', burst: 4_000_000_000 });
  const bottleneck = new Bottleneck();
  const queue = new PQueue({ concurrency: Infinity });
  return [
    ['headway-limiter', async () => (await headway.acquire()).release()],
    ['bottleneck', () => bottleneck.schedule(noop)],
    ['p-queue', () => queue.add(noop)],
  ];
}

// One after another: each acquisition awaited before the next.
async function sequential(op) {
  const start = performance.now();
  let done = 0;
  while (done < OPS && performance.now() - start < BUDGET_MS) {
    await op();
    done++;
  }
  return ((performance.now() - start) * 1e6) / done;
}

// Batches of concurrent acquisitions, awaited together.
async function concurrent(op) {
  const start = performance.now();
  let done = 0;
  while (done < OPS && performance.now() - start < BUDGET_MS) {
    await Promise.all(Array.from({ length: BATCH }, op));
    done += BATCH;
  }
  return ((performance.now() - start) * 1e6) / done;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const results = [];
for (const [mode, run] of [['sequential', sequential], ['concurrent', concurrent]]) {
  const samples = new Map();
  for (let r = 0; r < ROUNDS; r++) {
    // Interleave the subjects in every round so machine noise hits them alike.
    for (const [name, op] of subjects()) {
      await run(op); // warm-up
      const ns = await run(op);
      samples.set(name, [...(samples.get(name) ?? []), ns]);
    }
  }
  for (const [name, ns] of samples) results.push({ mode, name, ns: median(ns) });
}

const base = (mode) => results.find((r) => r.mode === mode && r.name === 'headway-limiter').ns;
const cpus = os.cpus();
const source = build
  ? `built by ${build.built_by} at ${build.built_at} from commit ${build.commit}${build.dirty ? ' with uncommitted changes' : ''}`
  : 'build unknown (not installed by run.sh)';
console.log(`acquire() cost in Node ${process.version}: up to ${OPS} ops or ${BUDGET_MS} ms per measurement, median of ${ROUNDS} rounds`);
console.log(`- measured: ${started.toISOString()} to ${new Date().toISOString()}`);
console.log(`- headway-limiter ${installed('headway-limiter')}, ${source}`);
console.log(`- bottleneck ${installed('bottleneck')}, p-queue ${installed('p-queue')}`);
console.log(`- machine: ${cpus.length} CPUs, ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${os.type()} ${os.release()}`);
console.log(`- load average (1, 5, 15 min): ${loadStart} at the start, ${load()} at the end\n`);
console.log('| mode | library | ns per acquire | vs headway-limiter |');
console.log('|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.mode} | ${r.name} | ${r.ns.toFixed(0)} | ${(r.ns / base(r.mode)).toFixed(2)}x |`);
}
