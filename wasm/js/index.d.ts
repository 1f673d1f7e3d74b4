// Type definitions for headway-limiter.

/** A quota: `limit` requests per `per`, with up to `burst` back to back (default 1). */
export interface QuotaOptions {
  /** Requests per period; a positive integer. */
  limit: number;
  /** The period: milliseconds, or a duration such as `"1s"`, `"1m"`, `"1h"`, `"250ms"`, `"day"`. */
  per: number | string;
  /** Requests that may go back to back; default 1 (evenly spaced). */
  burst?: number;
}

/** A quota as an object or a string such as `"100/min"` or `"10/s burst 5"`. */
export type Quota = QuotaOptions | string;

/**
 * Options of `new Limiter(options)`. Every field is optional; any other name is a
 * `TypeError`, and for a name from p-queue, bottleneck or ky (`interval`, `intervalCap`,
 * `maxConcurrent`, `minTime`, `timeout`, ...) its message says what Headway calls it.
 */
export interface LimiterOptions {
  /** Requests per period (with `per` and optionally `burst`). */
  limit?: number;
  /** The period of `limit`: milliseconds or a duration string (`"1m"`). */
  per?: number | string;
  /** Back-to-back requests allowed by `limit`/`per`; default 1. */
  burst?: number;
  /** The quota as a string, e.g. `"100/min"`; instead of `limit`/`per`. */
  quota?: string;
  /** Several quotas that must all hold (e.g. 10/s and 30000/h); instead of `limit`/`per`. */
  tiers?: Quota[];
  /** Quotas for particular origins (`"https://api.example.com"`), replacing the default there. */
  origins?: Record<string, Quota | Quota[]>;
  /** Requests in flight at once, across all keys. */
  concurrency?: number;
  /** Requests in flight at once per origin (or key). */
  perOriginConcurrency?: number;
  /** The longest any wait may be before failing with RateLimitError; default 600000 (10 min). */
  maxWaitMs?: number | string;
  /**
   * Per-attempt timeout for `fetch` until response headers; default 30000; 0 or null: none.
   * An attempt that times out is aborted (its connection closed), then retried if allowed.
   */
  timeoutMs?: number | string | null;
  /** Retries per `fetch` call at most; default 5. */
  retries?: number;
  /** Learn quotas and pacing from the server's rate-limit headers; default true. */
  learn?: boolean;
  /**
   * The adaptive safety margin on the spacing of each `fetch` (150 us to begin with,
   * doubled by a 429 while the quota is known, narrowed again by long runs of successes),
   * for the jitter between a send and its arrival at a strict server; default true. Keys
   * used only by `acquire()` never carry it (they never heard from a server): they go
   * exactly on the quotas. `false` sends fetches exactly on the quotas too.
   */
  margin?: boolean;
  /** Retry POST/PATCH on 5xx and network errors too (429 and 503 are always retried); default false. */
  retryNonIdempotent?: boolean;
  /** Limit retries to a fraction of recent successes; default true. */
  retryBudget?: boolean;
  /** Per-origin circuit breaker; default `{ failures: 5, openMs: 10000 }`; false disables it; other fields are a `TypeError`. */
  circuitBreaker?: boolean | { failures?: number; openMs?: number | string };
  /**
   * Advanced, mainly for tests: the clock and timers the limiter runs on, instead of
   * `performance.now()`, `setTimeout` and `Date.now()`. With a virtual clock whose timers
   * fire exactly on time, every schedule (releases, pauses, backoff, timeouts) is exact and
   * a test of minutes runs in milliseconds. See {@link Clock}.
   */
  clock?: Clock;
}

/**
 * A clock for the `clock` option. Methods are called with the object as `this` and must not
 * throw. Times are milliseconds; `now()` must never go backwards.
 */
export interface Clock {
  /** Monotonic time in milliseconds, like `performance.now()`. */
  now(): number;
  /** Calls `callback` once `now()` has advanced by `ms`, like `setTimeout`; returns a handle. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer by the handle `setTimeout` returned, like `clearTimeout`. */
  clearTimeout(handle: unknown): void;
  /** Unix time in milliseconds, like `Date.now()` (HTTP dates are read against it); default `Date.now()`. */
  dateNow?(): number;
}

/**
 * Where `acquire`, `tryAcquire` and `wrap` take their place. A field that is `undefined` or
 * `null` takes its default; a value of the wrong type throws a `TypeError`, one out of range
 * a `RangeError`, with the same message from every method that takes it, e.g.
 * `headway-limiter: "weight" must be a positive integer, got 1.5`.
 */
export interface AcquireOptions {
  /** Leave the queue when aborted; the promise rejects with the signal's reason. */
  signal?: AbortSignal | null;
  /** The queue to wait in; default `"default"`. `fetch` uses the request's origin. */
  key?: string | null;
  /**
   * Cells to take at once: a positive integer, at most the burst (and 2^32 - 1); default 1.
   * 0, or more than the burst, could never be admitted: an {@link ImpossibleError}. The
   * low-level `checkN`, `peekN`, `reserveN` and `KeyMachine`'s `readyAt`, `planOn` and
   * `commit` check their `n` as this weight.
   */
  weight?: number | null;
}

/** The right to proceed. With `concurrency` set it holds an in-flight place until released. */
export declare class Permit {
  /** Gives the in-flight place back. Safe to call more than once. */
  release(): void;
  /** Whether the permit has not been released yet. */
  readonly held: boolean;
  /** Releases the permit at the end of a `using` block. */
  [Symbol.dispose](): void;
}

/** A quota in force for a key. */
export interface QuotaInfo {
  /** Requests per period. */
  limit: number;
  /** The period in milliseconds. */
  periodMs: number;
  /** Requests that may go back to back. */
  burst: number;
}

/** The state of one key (an origin for `fetch`). */
export interface KeyStats {
  /** Quotas in force, configured or learned from the server. */
  quotas: QuotaInfo[];
  /** Where the quotas came from. */
  source: 'none' | 'configured' | 'learned';
  /** Milliseconds until a server-requested pause ends (0 when not paused). */
  pausedForMs: number;
  /** The safety margin each admission's spacing carries now, in milliseconds. */
  marginMs: number;
  /** Callers waiting in the queue. */
  queued: number;
  /** Requests in flight. */
  inFlight: number;
}

/** What a limiter has done so far. */
export interface LimiterStats {
  /** Requests put on the wire by `fetch`, retries included. */
  sent: number;
  /** `fetch` calls that ended with a successful response (status below 400). */
  succeeded: number;
  /** `fetch` calls that ended with a response of status 400 or more (retries ran out, or the status is not retried). */
  unsuccessful: number;
  /** 429 responses seen. */
  rateLimited: number;
  /** Retries made. */
  retries: number;
  /** `fetch` calls that ended in an error. */
  failed: number;
  /** Callers queued across all keys. */
  queued: number;
  /** Requests in flight across all keys. */
  inFlight: number;
  /** Per key. */
  keys: Record<string, KeyStats>;
}

/** `detail` of a `"pause"` event: a server's answer paused a key for every caller. */
export interface PauseDetail {
  /** The key paused; for `fetch`, the origin (`"https://api.example.com"`). */
  key: string;
  /** How long the pause lasts from now, jitter included, in milliseconds. */
  pauseMs: number;
}

/**
 * `detail` of a `"learn"` event: the quotas a key's server declares (a policy header such as
 * `RateLimit-Policy`) changed. The pacing taken from an answer's counts (`X-RateLimit-Remaining`
 * and `-Reset`, `RateLimit`'s `r` and `t`) is no event, as it moves with every answer;
 * `stats()` shows it.
 */
export interface LearnDetail {
  /** The key; for `fetch`, the origin. */
  key: string;
  /** Every quota now in force for the key: configured, learned, then the pacing tier. */
  quotas: QuotaInfo[];
}

/** `detail` of a `"retry"` event: one of `fetch`'s attempts is retried. */
export interface RetryDetail {
  /** The key; for `fetch`, the origin. */
  key: string;
  /** Attempts put on the wire by this call so far (1 for the first retry). */
  attempt: number;
  /** The status of the response retried; `null` when none came (network error, timeout). */
  status: number | null;
  /**
   * The wait chosen, in milliseconds: the backoff's, or the wait the server asked for (then
   * the key's pause, whose jitter may hold the retry a little longer).
   */
  delayMs: number;
  /** Whether the wait is the key's pause (shared by every caller of the key). */
  paused: boolean;
}

/** The events of a {@link Limiter}, by type. */
export interface LimiterEventMap {
  pause: LimiterEvent<PauseDetail>;
  learn: LimiterEvent<LearnDetail>;
  retry: LimiterEvent<RetryDetail>;
}

/** An event a {@link Limiter} dispatches; `detail` is what the engine reported. */
export declare class LimiterEvent<D = PauseDetail | LearnDetail | RetryDetail> extends Event {
  /** An event of `type` with `detail`. */
  constructor(type: string, detail: D);
  /** What the engine reported. */
  readonly detail: D;
}

/**
 * A rate limiter and a throttled `fetch` sharing quotas and in-flight caps.
 *
 * Callers are served in arrival order per key; a waiting caller holds no in-flight place.
 * A 429 or 503 with `Retry-After` pauses the whole origin, not just one request.
 *
 * It is an `EventTarget`: `"pause"` when a server's answer pauses a key, `"learn"` when the
 * quotas learned from a server change, `"retry"` when an attempt is retried, each a
 * {@link LimiterEvent} dispatched as the engine decides (listeners run synchronously then;
 * an exception in one is reported as EventTarget reports it and changes nothing).
 *
 * @example
 * limiter.addEventListener("pause", (e) => console.log(e.detail.key, e.detail.pauseMs));
 *
 * @example
 * const limiter = new Limiter({ limit: 100, per: "1m", burst: 5, concurrency: 10 });
 * const res = await limiter.fetch("https://api.example.com/items");
 *
 * @throws {TypeError} an option of the wrong type or an unknown one (`kind: "type"`)
 * @throws {RangeError} an option out of range (limit 0, per 0, ...): `kind` is `"range"` or,
 *   for a quota, a {@link QuotaErrorKind}
 */
export declare class Limiter extends EventTarget {
  /** A limiter with the given options (all optional: no quota, default retries and timeouts). */
  constructor(options?: LimiterOptions);
  /** Listens for one of the {@link LimiterEventMap} events. */
  addEventListener<K extends keyof LimiterEventMap>(
    type: K,
    listener: (this: Limiter, event: LimiterEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Any other listener, as EventTarget takes it. */
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Removes a listener added for one of the {@link LimiterEventMap} events. */
  removeEventListener<K extends keyof LimiterEventMap>(
    type: K,
    listener: (this: Limiter, event: LimiterEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  /** Removes any other listener, as EventTarget takes it. */
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /** Waits for a place; resolves to a Permit to release when done. */
  acquire(options?: AcquireOptions): Promise<Permit>;
  /** A Permit now, or `null` when the rate or the in-flight cap says not yet. */
  tryAcquire(options?: Omit<AcquireOptions, 'signal'>): Permit | null;
  /**
   * `fn`, throttled: each call waits for a place and holds it until `fn` settles. `fn` and
   * the options are checked here; a weight the quota can never admit rejects each call.
   */
  wrap<A extends unknown[], R>(
    fn: (...args: A) => R | PromiseLike<R>,
    options?: AcquireOptions,
  ): (...args: A) => Promise<Awaited<R>>;
  /**
   * `fetch`, throttled per origin: waits for the origin's rate, retries 429/503 (and 5xx or
   * network errors for idempotent methods) following `Retry-After`, learns quotas from
   * `RateLimit-*` / `X-RateLimit-*` headers. Resolves to the final Response (which may still
   * be a 429 when retries ran out).
   *
   * @throws {RateLimitError} the server asked for a wait longer than `maxWaitMs`
   * @throws {CircuitOpenError} the origin kept failing
   * @throws {HeadwayTimeoutError} no response within `timeoutMs`
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * Pauses for `ms` milliseconds: `{ origin }` (any URL of the origin, as `fetch` keys its
   * requests), `{ key }` (a key as given to `acquire`), or, with neither, every key: the
   * origins `fetch` has seen, the `"default"` key of `acquire`, and any key first used before
   * the pause ends. Every queued caller of those keys waits.
   * @throws {TypeError} `ms` not a number, a `key` that is not a string, an `origin` that is
   *   not an absolute URL, or both given
   * @throws {RangeError} `ms` negative or NaN (Infinity pauses for good)
   */
  pause(ms: number, options?: { key?: string | null; origin?: string | URL | null }): void;
  /** Counters and per-key state. */
  stats(): LimiterStats;
  /** Callers waiting for their turn (in `acquire`, `wrap` or `fetch`), across all keys, like p-queue's `size`. */
  readonly size: number;
  /** Calls past their turn and not yet done (permits held, wrapped functions and fetches running), like p-queue's `pending`. */
  readonly pending: number;
  /** Resolves once nothing is waiting, held or running; at once if that is so already. */
  onIdle(): Promise<void>;
  /**
   * Frees the limiter's WebAssembly memory. Every method afterwards throws a `TypeError`
   * (`kind: "disposed"`) saying the limiter was disposed.
   */
  dispose(): void;
}

/**
 * Base class of this package's errors besides the TypeError and RangeError thrown for bad
 * options and arguments. Those carry a machine-readable `kind`: `"type"` for a TypeError,
 * `"range"` for a RangeError unless a finer one applies (a {@link QuotaErrorKind}, `"empty"`,
 * `"too_many"`, or `"impossible"` for an {@link ImpossibleError}).
 */
export declare class HeadwayError extends Error {}

/** A wait longer than `maxWaitMs` was needed. */
export declare class RateLimitError extends HeadwayError {
  /** How long the server (or the queue) asked to wait, in milliseconds. */
  readonly retryAfterMs: number;
  /** Attempts made before giving up. */
  readonly attempts: number;
}

/** The origin's circuit breaker is open after repeated failures. */
export declare class CircuitOpenError extends HeadwayError {
  /** Milliseconds until a request will be tried again. */
  readonly retryAfterMs: number;
  /** Attempts made. */
  readonly attempts: number;
}

/**
 * No response headers arrived within `timeoutMs`. Its `name` is `"HeadwayTimeoutError"`,
 * apart from the DOMException `"TimeoutError"` of `AbortSignal.timeout()`.
 */
export declare class HeadwayTimeoutError extends HeadwayError {
  /** The timeout, in milliseconds. */
  readonly timeoutMs: number;
  /** Attempts made. */
  readonly attempts: number;
}


/** What a response means, as decided by `interpretResponse`. Times in whole milliseconds. */
export interface Interpretation {
  /** `done`: hand the response back; `retry`: try again; `too_long`: the wait exceeds max. */
  verdict: 'done' | 'retry' | 'too_long';
  /** Why a retry: `rate_limited` (429), `unavailable` (503) or `server_error` (other 5xx). */
  reason: 'rate_limited' | 'unavailable' | 'server_error' | null;
  /** For `retry`: the server's wait, or null to use backoff. */
  afterMs: number | null;
  /** For `too_long`: the wait the server asked for. */
  waitMs: number | null;
  /** How long to pause the origin. */
  pauseMs: number | null;
  /** The server's advertised limit. */
  limit: number | null;
  /** Requests remaining in the server's window. */
  remaining: number | null;
  /** Until the server's window resets. */
  resetMs: number | null;
  /** Quotas advertised by `RateLimit-Policy`, in order. */
  policies: QuotaInfo[];
}

/**
 * Interprets a response's status and headers: Retry-After (seconds or HTTP date, measured
 * against the response's Date), the IETF RateLimit headers (drafts -06, -07, -08+) and the
 * legacy X-RateLimit-* headers. Hostile values give bounded waits, never errors.
 *
 * @param status an integer from 0 to 65535
 * @param headers see {@link ResponseHeaders}
 * @param options.wallMs local unix time in ms (default `Date.now()`)
 * @param options.maxWaitMs the longest acceptable wait (default 600000)
 * @throws {TypeError} a status that is not a number, headers of another shape, or not strings
 * @throws {RangeError} a status that is not an integer from 0 to 65535, a negative time
 */
export declare function interpretResponse(
  status: number,
  headers: ResponseHeaders,
  options?: { wallMs?: number; maxWaitMs?: number },
): Interpretation;

/**
 * A response's headers, as `interpretResponse` and `Attempt.response` take them: a
 * `Headers` object or another iterable of `[name, value]` pairs (an array, a `Map`), a
 * record `{ name: value }`, or `undefined`/`null` for none. Names and values are strings.
 */
export type ResponseHeaders =
  | Headers
  | Iterable<[string, string]>
  | Record<string, string>
  | null
  | undefined;

/**
 * Nanoseconds on the caller's own timeline, as a JavaScript number: the low-level classes
 * below (`Gcra`, `Tiers`, `Reservation`, `Backoff`, `CircuitBreaker`, `KeyMachine`, `Call`,
 * `RetryBudget`) take and return every time this way. Integers below 2^53 (about 104 days)
 * are exact; beyond that a number is a double and carries its rounding (at most 2 ns at a
 * year, 1 µs at 584 years). Fractions are dropped; a negative or NaN time throws a
 * `RangeError` whose `kind` is `"range"`.
 */
export type Nanos = number;

/** The machine-readable `kind` of a quota error, as thrown by `parseQuota`, `Gcra` and `Tiers`. */
export type QuotaErrorKind = 'zero_limit' | 'zero_period' | 'zero_burst' | 'overflow' | 'syntax';

/** A quota spelled out, as `parseQuota` returns it. */
export interface QuotaParts {
  /** Requests per period. */
  limit: number;
  /** The period in nanoseconds (exact below 2^53: periods up to 104 days). */
  periodNs: Nanos;
  /** The period in milliseconds (may be fractional). */
  periodMs: number;
  /** Requests that may go back to back. */
  burst: number;
  /** T: the steady spacing, `ceil(periodNs / limit)`. */
  emissionIntervalNs: Nanos;
  /** tau: `T * (burst - 1)`, how far ahead of the steady pace a burst may run. */
  toleranceNs: Nanos;
}

/**
 * Parses a quota string: `<limit>/<period>` with an optional burst, e.g. `"100/min"`,
 * `"10/s burst 5"`, `"5/250ms"`, `"1/1.5s"`, `"2/1h30m;burst=3"`, `"60/minute, burst 10"`.
 *
 * @throws {RangeError} with `kind` one of {@link QuotaErrorKind}: `zero_limit`, `zero_period`,
 *   `zero_burst`, `overflow` (the period or T * (burst - 1) exceeds 64-bit nanoseconds) or
 *   `syntax`
 * @throws {TypeError} with `kind` `"type"` when `quota` is not a string
 */
export declare function parseQuota(quota: string): QuotaParts;

/**
 * A quota for the low-level limiters: a string as for `parseQuota`, `{ limit, per, burst }`
 * as for `Limiter`, or `{ limit, periodNs, burst }` with the period in nanoseconds.
 */
export type QuotaSpec = Quota | { limit: number; periodNs: Nanos; burst?: number };

/**
 * A request for more cells than the burst (or for 0 cells), which could never be admitted:
 * a `RangeError` with `kind: "impossible"` (not a {@link HeadwayError}). The limiter's
 * `acquire`/`tryAcquire`/`wrap`/`fetch`, the low-level `checkN`, `peekN` and `reserveN`, and
 * `KeyMachine`'s `readyAt` and `planOn` all throw an instance of this class.
 */
export declare class ImpossibleError extends RangeError {
  /** Always `"impossible"`. */
  readonly kind: 'impossible';
  /** The cells asked for. */
  readonly weight: number;
  /** The most cells one request may take. */
  readonly burst: number;
}

/**
 * A committed reservation from `reserve`/`reserveN`: send at `readyAt`, or `refund` it.
 * Once a refund of it succeeds it is spent: refunding it again returns false.
 */
export declare class Reservation {
  /** When the reserved request may be sent. */
  readonly readyAt: Nanos;
  /** How long from `now` until `readyAt` (0 once it has passed). */
  waitNs(now: Nanos): Nanos;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/**
 * A GCRA cell (one quota) with the caller's clock: every method takes `now` in {@link Nanos}.
 * For tests, simulations and custom schedulers. Checks return 0 when admitted, otherwise
 * the nanoseconds to wait (a denial consumes nothing).
 *
 * @example
 * const g = new Gcra('2/s');
 * g.check(0);           // 0: admitted
 * g.check(0);           // 500_000_000: wait half a second
 */
export declare class Gcra {
  /** @throws {RangeError} with `kind` a {@link QuotaErrorKind} for a bad quota */
  constructor(quota: QuotaSpec);
  /** The quota in force. */
  readonly quota: QuotaParts;
  /** Replaces the quota, keeping the state: requests already admitted still count. */
  setQuota(quota: QuotaSpec): void;
  /** Admits one request at `now` (returns 0), or returns the nanoseconds to wait. */
  check(now: Nanos): Nanos;
  /** Admits `n` cells at `now` (0) or returns the wait; throws {@link ImpossibleError} if `n` > burst. */
  checkN(n: number, now: Nanos): Nanos;
  /** Like `check` without consuming. */
  peek(now: Nanos): Nanos;
  /** Like `checkN` without consuming. */
  peekN(n: number, now: Nanos): Nanos;
  /** Reserves one cell (always commits). */
  reserve(now: Nanos): Reservation;
  /** Reserves `n` cells (always commits); throws {@link ImpossibleError} if `n` > burst. */
  reserveN(n: number, now: Nanos): Reservation;
  /**
   * Gives an unsent reservation back: true when the slot was returned, false when something
   * was admitted or reserved after it and is still held (nothing changes; the slot is never
   * shared), or when this reservation was already given back.
   * @throws {TypeError} for a reservation made by a `Tiers`
   */
  refund(reservation: Reservation): boolean;
  /** Nothing conforms before `t` (e.g. a server's Retry-After); a later, earlier `t` never shortens it. */
  deferUntil(t: Nanos): void;
  /** The time before which nothing conforms (0 when never deferred). */
  readonly deferredUntil: Nanos;
  /** Requests that would be admitted back to back at `now` (0 during a pause). */
  remaining(now: Nanos): number;
  /** Nanoseconds from `now` until the cell is as if fresh. */
  resetAfter(now: Nanos): Nanos;
  /** True when the cell holds nothing at `now` and could be dropped. */
  isIdle(now: Nanos): boolean;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/**
 * Up to 8 quotas (e.g. 10/s and 30000/h) enforced all-or-nothing with the caller's clock: a
 * request admitted at `t` conforms to every tier at `t` and is charged in each. Same methods
 * as {@link Gcra}; `remaining` is the least over the tiers and `resetAfter` the longest.
 */
export declare class Tiers {
  /** @throws {RangeError} with `kind` `"empty"`, `"too_many"` or a {@link QuotaErrorKind} */
  constructor(quotas: QuotaSpec[]);
  /** The quotas in force, in order. */
  readonly quotas: QuotaParts[];
  /** Replaces the quotas: tier i keeps its state if it existed, new tiers start fresh, a pause stays. */
  setQuotas(quotas: QuotaSpec[]): void;
  /** Admits one request in every tier at `now` (0), or returns the nanoseconds to wait. */
  check(now: Nanos): Nanos;
  /** Admits `n` cells in every tier or none; throws {@link ImpossibleError} if `n` can never fit. */
  checkN(n: number, now: Nanos): Nanos;
  /** Like `check` without consuming. */
  peek(now: Nanos): Nanos;
  /** Like `checkN` without consuming. */
  peekN(n: number, now: Nanos): Nanos;
  /** Reserves one cell in every tier at the earliest time all conform. */
  reserve(now: Nanos): Reservation;
  /** Reserves `n` cells in every tier at the earliest time all conform. */
  reserveN(n: number, now: Nanos): Reservation;
  /**
   * Gives an unsent reservation back tier by tier: true when every tier took its slot back.
   * Whatever the answer, do not send the request afterwards.
   * @throws {TypeError} for a reservation made by a `Gcra`
   */
  refund(reservation: Reservation): boolean;
  /** Nothing conforms in any tier before `t`. */
  deferUntil(t: Nanos): void;
  /** The time before which nothing conforms (0 when never deferred). */
  readonly deferredUntil: Nanos;
  /** Requests that would conform back to back at `now`: the least over the tiers (0 during a pause). */
  remaining(now: Nanos): number;
  /** Nanoseconds from `now` until every tier is as if fresh, pause included. */
  resetAfter(now: Nanos): Nanos;
  /** True when the limiter holds nothing at `now`. */
  isIdle(now: Nanos): boolean;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/** A retry pacing policy: exponential backoff with jitter, caps on delay, attempts and total. */
export declare class Backoff {
  /** @param jitter `none`, `full`, `equal` or `decorrelated` */
  constructor(baseNs: number, maxDelayNs: number, maxAttempts: number, maxTotalNs: number, jitter: string);
  /** Starts a deterministic sequence; `seed` is a decimal string (may exceed 2^53). */
  start(seed: string): Retrying;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/** One retry sequence. */
export declare class Retrying {
  /** The next delay in ns, or null once stopped; a server wait (ns) replaces the delay. */
  nextDelayNs(serverWaitNs?: number | null): number | null;
  /** Retries granted so far. */
  readonly attempts: number;
  /** Total delay granted so far, in ns. */
  readonly elapsedNs: number;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/** A permit from `CircuitBreaker.acquire`. */
export declare class BreakerPermit {
  /** True for the single half-open probe. */
  readonly isProbe: boolean;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/** A circuit breaker (closed, open, half-open) with the caller's clock in nanoseconds. */
export declare class CircuitBreaker {
  /** Opens after `failureThreshold` consecutive failures, for `openForNs`. */
  constructor(failureThreshold: number, openForNs: number);
  /** A permit, or `{ retryInNs }` while open. */
  acquire(now: number): BreakerPermit | { retryInNs: number };
  /** Reports a success; true when it closed the breaker. */
  onSuccess(permit: BreakerPermit, now: number): boolean;
  /** Reports a failure; true when it opened the breaker. */
  onFailure(permit: BreakerPermit, now: number): boolean;
  /** The state at `now`. */
  state(
    now: number,
  ):
    | { state: 'closed'; consecutiveFailures: number }
    | { state: 'open'; retryInNs: number }
    | { state: 'half_open'; probeInFlight: boolean };
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/** A circuit breaker's state at a given time, as `CircuitBreaker.state` reports it. */
export type BreakerStateInfo =
  | { state: 'closed'; consecutiveFailures: number }
  | { state: 'open'; retryInNs: number }
  | { state: 'half_open'; probeInFlight: boolean };

/** What an event changed for a key: waiters must plan again, quotas were learned, a pause. */
export interface Changed {
  /** The rate plan changed (quotas, pacing, pause, the probe ended): re-plan every waiter. */
  replan: boolean;
  /** The quotas learned from the server changed. */
  learned: boolean;
  /** A pause now in force ends at this time, or null. */
  pausedUntil: Nanos | null;
}

/**
 * What one attempt produced, to feed `KeyMachine.onResponse` / `onFailure`, `Call.next` and
 * `breakerSuccess`. A response is interpreted once, when it is made.
 */
export declare class Attempt {
  /**
   * A response: its status and headers, read against the local unix time `wallMs` (for
   * dates and epochs; the response's own `Date` header wins) and the longest acceptable
   * wait `maxWaitNs` (pass the key's `maxWaitNs`). Status and headers are checked as
   * `interpretResponse` checks them, with the same errors.
   * @throws {TypeError} a status that is not a number, or headers that are not strings in a
   *   shape of {@link ResponseHeaders}
   * @throws {RangeError} a status that is not an integer from 0 to 65535
   */
  static response(
    status: number,
    headers: ResponseHeaders,
    wallMs: number,
    maxWaitNs: Nanos,
  ): Attempt;
  /** A send that produced no response; `permanent` when sending again cannot help. */
  static failed(permanent: boolean): Attempt;
  /** No response within the per-attempt timeout. */
  static timedOut(): Attempt;
  /** Which of the three it is. */
  readonly kind: 'response' | 'failed' | 'timed_out';
  /** The status of a response, else undefined. */
  readonly status: number | undefined;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/**
 * How an attempt counts for a circuit breaker: true for a success. No response, a 5xx and a
 * 408 are failures; a 429, and a 503 carrying a wait (Retry-After), are the server pacing its
 * clients, and count as successes.
 */
export declare function breakerSuccess(attempt: Attempt): boolean;

/** True for GET, HEAD, PUT, DELETE, OPTIONS and TRACE (case-sensitive). */
export declare function isIdempotent(method: string): boolean;

/** A copy of a key's rate state to plan a queue on, from `KeyMachine.schedule()`. */
export declare class Schedule {
  /** An independent copy: plan on it to try a turn without changing this one. */
  copy(): Schedule;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/** One queued acquisition as a key plans it (see `KeyMachine.planWaiter` and `turn`). */
export declare class Waiter {
  /** A waiter for `n` cells queuing at `now` that accepts a turn up to `maxWaitNs` later. */
  constructor(n: number, now: Nanos, maxWaitNs: Nanos);
  /** The cells it asks for. */
  readonly n: number;
  /** When it queued. */
  readonly queuedAt: Nanos;
  /** The latest turn it accepts. */
  readonly deadline: Nanos;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/** Why a key gives a waiter no turn. */
export type Refusal =
  | { kind: 'impossible'; burst: number }
  | { kind: 'wait_too_long'; waitNs: Nanos }
  | { kind: 'circuit_open'; retryInNs: Nanos };

/**
 * What a waiter does, from `KeyMachine.turn` (all four) or `planWaiter` (`at` or `refused`):
 * go now (committed; `probe` is the breaker's permit to `report` with, or null), sleep until
 * `at`, wait for an in-flight slot, or fail.
 */
export type WaiterTurn =
  | { turn: 'go'; probe: BreakerPermit | null; lateNs: Nanos }
  | { turn: 'at'; at: Nanos }
  | { turn: 'blocked' }
  | { turn: 'refused'; refused: Refusal };

/** The options of `new KeyMachine(options)`; every field is optional. */
export interface KeyMachineOptions {
  /** Configured quotas (default none: the key learns from its server). At most 8 tiers in all. */
  quotas?: QuotaSpec[];
  /** Requests in flight at most (default: no cap). */
  maxInFlight?: number | null;
  /** The key's circuit breaker; `null` for none. Default 5 failures, open 10 s. */
  breaker?: { failureThreshold?: number; openForNs?: Nanos } | null;
  /** Learn quotas and pacing from response headers, and probe an unknown key (default true). */
  learn?: boolean;
  /** The most jitter added to a server's pause (default 25 ms); also at most a 32nd of it. */
  pauseJitterMaxNs?: Nanos;
  /** The longest wait accepted (default 10 minutes). */
  maxWaitNs?: Nanos;
  /**
   * The adaptive safety margin added to every admission's spacing, for the jitter between a
   * send and its arrival; `null` for none (admissions exactly on the quotas). Default: 150 us
   * to begin with, doubled by a 429 while the quota is known (up to 20 ms), an eighth off
   * after every 1,000 successes in a row (down to 100 us).
   */
  margin?: { initialNs?: number; floorNs?: number; maxNs?: number; narrowAfter?: number } | null;
  /** Seed of the pause jitter, a decimal string (default: random). */
  seed?: string;
}

/**
 * One key's decisions as a state machine with the caller's clock: the quotas in force and
 * where they came from (configured, learned from `RateLimit-Policy`, a pacing tier from
 * remaining/reset), each tier's state, the server's pause, the probe of an unknown key, the
 * in-flight count and cap, and the circuit breaker. A scheduler asks when `n` cells may go
 * (`readyAt`, or `planOn` for requests queued behind others), checks `maySend`, `commit`s an
 * admission and `release`s it, and feeds back what came back (`onResponse`, `onFailure`).
 * A FIFO queue in front of the key asks `planWaiter` for each waiter's turn and `turn` for
 * its head's, which take the circuit breaker into account, and lets it `hear` each outcome.
 * Configured and learned quotas both apply, so the stricter paces the key.
 *
 * @example
 * const key = new KeyMachine({ quotas: ['2/s'], breaker: null, margin: null, seed: '1' });
 * key.readyAt(1, 0);      // 0
 * key.commit(1, 0);
 * key.readyAt(1, 0);      // 500_000_000
 */
export declare class KeyMachine {
  /**
   * @throws {RangeError} with `kind` a {@link QuotaErrorKind}, `too_many` or `range`
   * @throws {TypeError} for options of the wrong type
   */
  constructor(options?: KeyMachineOptions);
  /** When `n` cells may go: never before `now` or the pause. Throws {@link ImpossibleError}. */
  readyAt(n: number, now: Nanos): Nanos;
  /** A copy of the rate state, to plan queued requests on. */
  schedule(): Schedule;
  /**
   * When `n` cells would go behind everything planned on `schedule`, which is advanced past
   * them. Throws {@link ImpossibleError}.
   */
  planOn(schedule: Schedule, n: number, now: Nanos): Nanos;
  /**
   * Plans `waiter`'s turn behind everything planned on `schedule`, which is advanced past
   * it; a refused waiter leaves `schedule` as it was. No turn comes while the breaker is open.
   */
  planWaiter(schedule: Schedule, waiter: Waiter, now: Nanos): WaiterTurn;
  /**
   * What the head of the queue does at `now`: `go` (its cells and an in-flight slot taken),
   * `at` a later time, `blocked` until a request ends, or `refused`. `takeSlot`, if given,
   * is asked last for a slot of the caller's own; false blocks the waiter.
   */
  turn(waiter: Waiter, now: Nanos, takeSlot?: () => boolean): WaiterTurn;
  /**
   * What came back for the request admitted at `sentAt` with `probe` (a `go` turn's, or
   * null): a response teaches the key (as `onResponse`), a failure as `onFailure`, and the
   * breaker hears the attempt; `replan` also when that closed or opened it. The permit is
   * consumed.
   */
  hear(attempt: Attempt, probe: BreakerPermit | null, sentAt: Nanos, now: Nanos): Changed;
  /** True when the in-flight cap leaves room (one at a time while an unknown key is probed). */
  maySend(): boolean;
  /** Admits `n` cells at `now` and takes an in-flight slot (check `readyAt` first). */
  commit(n: number, now: Nanos): void;
  /** An admitted request finished (or was never sent): its slot is free. */
  release(): void;
  /** Nothing is admitted before `t`; an earlier `t` never shortens a pause. */
  pauseUntil(t: Nanos): Changed;
  /** Replaces the configured quotas, keeping each tier's state; learned quotas still apply. */
  setConfigured(quotas: QuotaSpec[]): Changed;
  /** A request is about to queue: a key with no quota that never heard from its server probes. */
  probeIfUnknown(): void;
  /** A send on this key produced no response. */
  onFailure(): Changed;
  /**
   * The response to the request admitted at `sentAt` came back at `now`: learned quotas, a
   * pause, pacing, the margin (a response to the latest admission bounds when the server
   * counted it). @throws {TypeError} for an attempt that is not a response
   */
  onResponse(attempt: Attempt, sentAt: Nanos, now: Nanos): Changed;
  /** The quotas in force: configured, then learned, then the pacing tier. */
  readonly quotas: QuotaParts[];
  /** Where they came from. */
  readonly source: 'none' | 'configured' | 'learned';
  /** True when a quota is configured or learned (a pacing tier alone does not count). */
  readonly hasQuota: boolean;
  /** The time before which nothing is admitted (0 when never paused). */
  readonly pausedUntil: Nanos;
  /** Requests in flight. */
  readonly inFlight: number;
  /** The safety margin added to every admission's spacing now, in nanoseconds. */
  readonly marginNs: number;
  /** The longest wait the key accepts. */
  readonly maxWaitNs: Nanos;
  /** True when dropping the key at `now` loses nothing. */
  isIdle(now: Nanos): boolean;
  /** The breaker's state at `now`, or null when the key has none. */
  breakerState(now: Nanos): BreakerStateInfo | null;
  /** Leave to send at `now`: a permit, `{ retryInNs }` while open, or null without a breaker. */
  breakerAcquire(now: Nanos): BreakerPermit | { retryInNs: Nanos } | null;
  /** Reports the permit's request as a success; true when it closed the breaker. */
  breakerOnSuccess(permit: BreakerPermit, now: Nanos): boolean;
  /** Reports the permit's request as a failure; true when it opened the breaker. */
  breakerOnFailure(permit: BreakerPermit, now: Nanos): boolean;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/** A retry budget shared by the calls to one destination; it starts full. */
export declare class RetryBudget {
  /**
   * Each success earns `ratioPermille / 1000` of a retry, `minRetriesPerSec` trickle in each
   * second, at most `maxBalance` are saved.
   * @throws {RangeError} (kind `range`) for a ratio above 1000, a maximum of 0, or neither
   *   ratio nor floor
   */
  constructor(ratioPermille: number, minRetriesPerSec: number, maxBalance: number);
  /** Takes one retry at `now` if the balance holds one. */
  tryRetry(now: Nanos): boolean;
  /** Records a success at `now`. */
  onSuccess(now: Nanos): void;
  /** Whole retries available at `now`. */
  balance(now: Nanos): number;
  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free(): void;
}

/** The next step of a call. */
export type CallStep =
  | { step: 'return'; why: 'done' | 'not_retryable' | 'no_replay' | 'exhausted' | 'budget_spent' }
  | { step: 'retry'; afterNs: Nanos; paused: boolean }
  | { step: 'too_long'; waitNs: Nanos };

/**
 * One call's retries as a state machine: after each attempt, `next` says hand the outcome
 * back (and why), retry after `afterNs` (`paused`: the wait is the server's pause of the key,
 * so the retry simply queues behind it; otherwise sleep first), or fail because the server's
 * wait exceeds `maxWaitNs`. 429 and 503 are retried for any method; 5xx, 408 and failures
 * only for idempotent ones unless `retryNonIdempotent`; permanent failures never.
 */
export declare class Call {
  /** @param seed a decimal string seeding the backoff's jitter */
  constructor(backoff: Backoff, idempotent: boolean, seed: string, retryNonIdempotent?: boolean);
  /** The next step after `attempt` at `now`; `budget`, when kept, pays for retries. */
  next(
    attempt: Attempt,
    replayable: boolean,
    budget: RetryBudget | null | undefined,
    now: Nanos,
  ): CallStep;
  /** Attempts put on the wire so far. */
  readonly attempts: number;
  /** Retries granted so far. */
  readonly retries: number;
  /** Frees the WebAssembly memory. */
  free(): void;
}
