// Type-checked by wasm/test.sh with `tsc --strict` against the package's index.d.ts: the
// API as a TypeScript user writes it. Each @ts-expect-error is a mistake the types must catch.
import {
  Limiter,
  HeadwayError,
  HeadwayTimeoutError,
  RateLimitError,
  LimiterEvent,
  type LearnDetail,
  type LimiterOptions,
  type LimiterStats,
  type Permit,
} from '../pkg/index.js';

const options: LimiterOptions = { limit: 10, per: '1s', burst: 2, concurrency: 4 };
const limiter = new Limiter(options);

export async function run(signal: AbortSignal): Promise<number> {
  const permit: Permit = await limiter.acquire({ key: 'db', signal });
  permit.release();
  const double = limiter.wrap(async (n: number) => n * 2, { signal });
  const four: number = await double(2);
  limiter.pause(500);
  limiter.pause(500, { origin: new URL('https://api.example.com/x') });
  limiter.pause(500, { key: 'db' });
  const waiting: number = limiter.size;
  const running: number = limiter.pending;
  await limiter.onIdle();
  const stats: LimiterStats = limiter.stats();
  try {
    await limiter.fetch('https://api.example.com/items', { signal });
  } catch (e) {
    if (e instanceof HeadwayTimeoutError) return e.timeoutMs;
    if (e instanceof RateLimitError) return e.retryAfterMs;
    if (e instanceof HeadwayError) throw e;
  }
  return four + waiting + running + stats.sent;
}

limiter.addEventListener('pause', (e) => {
  const ms: number = e.detail.pauseMs;
  const key: string = e.detail.key;
  void [ms, key];
});
limiter.addEventListener('retry', (e) => {
  const status: number | null = e.detail.status;
  const paused: boolean = e.detail.paused;
  void [status, paused, e.detail.attempt, e.detail.delayMs];
});
const onLearn = (e: LimiterEvent<LearnDetail>) => void e.detail.quotas[0]?.limit;
limiter.addEventListener('learn', onLearn);
limiter.removeEventListener('learn', onLearn);
limiter.addEventListener('other', (e: Event) => void e.type);
// @ts-expect-error a pause event has no status
limiter.addEventListener('pause', (e) => e.detail.status);
// @ts-expect-error a retry's status may be null
limiter.addEventListener('retry', (e) => e.detail.status.toFixed());

// @ts-expect-error p-queue's names are not Headway's options
new Limiter({ interval: 1000, intervalCap: 5 });
// @ts-expect-error bottleneck's neither
new Limiter({ maxConcurrent: 2 });
// @ts-expect-error `size` is read-only
limiter.size = 3;
// @ts-expect-error a wrapped function keeps its parameter types
limiter.wrap(async (n: number) => n)('two');
