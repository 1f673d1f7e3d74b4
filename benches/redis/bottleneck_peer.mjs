// One process of bottleneck's Redis clustering in benches/redis.sh:
//
//   node bottleneck_peer.mjs REDIS_PORT URLS_FILE RATE_PER_S CONCURRENCY RETRIES
//
// Every process builds a Bottleneck with the same `id` on the same Redis (datastore
// "ioredis", its README's Clustering section), so the limiter's state lives in Redis and is
// shared: minTime = 1000 / RATE ms between any two jobs of the cluster. CONCURRENCY workers
// per process each schedule one attempt at a time through it; a 429 is retried after the
// Retry-After seconds it carries (1 s when absent), up to RETRIES times, by the caller:
// bottleneck does not read responses. HTTP is Node's built-in fetch.
//
// Protocol with bench.py: connect, print `ready`, wait for one line on stdin, run, print one
// JSON line of counts, disconnect.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import Bottleneck from 'bottleneck';

const [port, urlsFile, rate, concurrency, retries] = process.argv.slice(2);
const urls = readFileSync(urlsFile, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const tally = { ok: 0, failed: 0, seen_429: 0, attempts: 0 };

const limiter = new Bottleneck({
  id: 'redis-bench',
  datastore: 'ioredis',
  clientOptions: { host: '127.0.0.1', port: Number(port) },
  clearDatastore: false,
  minTime: 1000 / Number(rate),
});
limiter.on('error', (e) => console.error(`bottleneck: ${e}`));
await limiter.ready();

async function attempt(url) {
  tally.attempts += 1;
  const response = await fetch(url);
  await response.arrayBuffer();
  return response;
}

async function one(url) {
  for (let i = 0; i <= Number(retries); i++) {
    let response;
    try {
      response = await limiter.schedule(() => attempt(url));
    } catch {
      tally.failed += 1;
      return;
    }
    if (response.status === 429) {
      tally.seen_429 += 1;
      const secs = Number(response.headers.get('retry-after'));
      await sleep(Number.isFinite(secs) && secs >= 0 ? secs * 1000 : 1000);
      continue;
    }
    if (response.ok) tally.ok += 1;
    else tally.failed += 1;
    return;
  }
  tally.failed += 1;
}

console.log('ready');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));
lines.close();

let next = 0;
await Promise.all(Array.from({ length: Number(concurrency) }, async () => {
  while (next < urls.length) await one(urls[next++]);
}));
console.log(JSON.stringify(tally));
await limiter.disconnect();
