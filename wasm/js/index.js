// headway-limiter: the JavaScript face of Headway's WebAssembly limiter.
//
// The same ES module runs in browsers, in bundlers (webpack 5, Vite, esbuild, Rollup: the
// `.wasm` file is found through `new URL(..., import.meta.url)`) and in Node 18 and later,
// where the bytes are read from disk. All deciding (queues, retries, headers) happens in the
// WebAssembly module; this file turns it into options objects, promises, AbortSignal
// support and the error classes of errors.js (which the WebAssembly module throws itself).

import init, {
  initSync,
  RawLimiter,
  interpretResponse,
  parseQuota,
  Gcra,
  Tiers,
  Reservation,
  Backoff,
  Retrying,
  CircuitBreaker,
  BreakerPermit,
  KeyMachine,
  RawCall,
  Attempt,
  RetryBudget,
  Schedule,
  Waiter,
  breakerSuccess,
  isIdempotent,
} from './headway_wasm.js';

// The error classes, from the module the WebAssembly glue constructs them from.
export {
  HeadwayError,
  RateLimitError,
  CircuitOpenError,
  HeadwayTimeoutError,
  ImpossibleError,
} from './errors.js';

const wasmUrl = new URL('./headway_wasm_bg.wasm', import.meta.url);
if (wasmUrl.protocol === 'file:' && typeof globalThis.process?.versions?.node === 'string') {
  // Node: `fetch` cannot read file: URLs, so read the bytes. The specifier is a variable so
  // that bundlers leave this branch alone.
  const fsModule = 'node:fs/promises';
  const { readFile } = await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule);
  initSync({ module: await readFile(wasmUrl) });
} else {
  await init({ module_or_path: wasmUrl });
}

export {
  interpretResponse,
  parseQuota,
  Gcra,
  Tiers,
  Reservation,
  Backoff,
  Retrying,
  CircuitBreaker,
  BreakerPermit,
  KeyMachine,
  Attempt,
  RetryBudget,
  Schedule,
  Waiter,
  breakerSuccess,
  isIdempotent,
};

/**
 * The retry state of one call: after each attempt, `next` says whether to hand the outcome
 * back, retry after a delay, or fail because the server's wait is too long. See index.d.ts.
 */
export class Call {
  #raw;

  constructor(backoff, idempotent, seed, retryNonIdempotent = false) {
    this.#raw = new RawCall(backoff, idempotent, seed, retryNonIdempotent);
  }

  /** The next step after `attempt` at `now`; `budget` (a RetryBudget) is optional. */
  next(attempt, replayable, budget, now) {
    return budget == null
      ? this.#raw.next(attempt, replayable, now)
      : this.#raw.nextWithBudget(attempt, replayable, budget, now);
  }

  /** Attempts put on the wire so far. */
  get attempts() {
    return this.#raw.attempts;
  }

  /** Retries granted so far. */
  get retries() {
    return this.#raw.retries;
  }

  /** Frees the WebAssembly memory (otherwise done when garbage-collected). */
  free() {
    this.#raw?.free();
    this.#raw = undefined;
  }
}

/** The right to proceed; holds an in-flight place (when `concurrency` is set) until released. */
export class Permit {
  #raw;
  #onRelease;

  constructor(raw, onRelease) {
    this.#raw = raw;
    this.#onRelease = onRelease;
  }

  /** Gives the in-flight place back. Safe to call more than once. */
  release() {
    const raw = this.#raw;
    if (raw) {
      this.#raw = undefined;
      raw.release();
      raw.free();
      this.#onRelease?.();
    }
  }

  /** Whether the permit has not been released yet. */
  get held() {
    return this.#raw !== undefined;
  }

  /** `using permit = await limiter.acquire()` releases at the end of the block. */
  [Symbol.dispose ?? Symbol.for('Symbol.dispose')]() {
    this.release();
  }
}

/**
 * An event of a Limiter: `"pause"`, `"learn"` or `"retry"`, with what the engine reported
 * in `detail` (see index.d.ts).
 */
export class LimiterEvent extends Event {
  /** What the engine reported. */
  detail;

  constructor(type, detail) {
    super(type);
    this.detail = detail;
  }
}

/**
 * A rate limiter and a throttled `fetch`, sharing quotas and in-flight caps; an
 * `EventTarget` of the engine's `"pause"`, `"learn"` and `"retry"` events.
 * See index.d.ts for the options.
 */
export class Limiter extends EventTarget {
  #raw;
  // Calls begun and not yet done: waiting in acquire, holding a permit, or in fetch.
  #active = 0;
  // The resolvers of onIdle() promises, called when #active comes back to 0.
  #idle = [];

  constructor(options = {}) {
    super();
    // The engine reports each event through this function. It holds the Limiter weakly: the
    // WebAssembly side keeps the function alive, and must not keep the Limiter alive too.
    const target = new WeakRef(this);
    this.#raw = new RawLimiter(options, (type, detail) => {
      target.deref()?.dispatchEvent(new LimiterEvent(type, detail));
    });
  }

  // The WebAssembly module reads and checks every option and argument below.

  /** The live raw limiter; after dispose(), a TypeError that says so. */
  #live() {
    if (this.#raw === undefined) {
      const e = new TypeError('headway-limiter: this Limiter was disposed; create a new one');
      e.kind = 'disposed';
      throw e;
    }
    return this.#raw;
  }

  #begin() {
    this.#active += 1;
  }

  #end() {
    this.#active -= 1;
    if (this.#active === 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }

  /** Waits for a place; resolves to a Permit. Aborting `signal` leaves the queue. */
  async acquire(options) {
    const waiting = this.#live().acquire(options);
    this.#begin();
    let raw;
    try {
      raw = await waiting;
    } catch (e) {
      this.#end();
      throw e;
    }
    return new Permit(raw, () => this.#end());
  }

  /** A Permit now, or `null` when the rate or the in-flight cap says not yet. */
  tryAcquire(options) {
    const raw = this.#live().tryAcquire(options);
    if (!raw) return null;
    this.#begin();
    return new Permit(raw, () => this.#end());
  }

  /**
   * `fn`, throttled: every call waits for a place and holds it until `fn` settles. Aborting
   * `options.signal` rejects the calls still waiting with its reason (and any later call).
   */
  wrap(fn, options) {
    this.#live().checkWrap(fn, options);
    const place = { key: options?.key, weight: options?.weight, signal: options?.signal };
    const limiter = this;
    return async function throttled(...args) {
      const permit = await limiter.acquire(place);
      try {
        return await fn.apply(this, args);
      } finally {
        permit.release();
      }
    };
  }

  /** A throttled `fetch`, queued per origin, with retries and server header feedback. */
  async fetch(input, init) {
    const raw = this.#live();
    const request = new Request(input, init);
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    signal?.throwIfAborted();
    this.#begin();
    try {
      return await raw.fetch(request, signal ?? undefined);
    } finally {
      this.#end();
    }
  }

  /**
   * Pauses for `ms` milliseconds `{ origin }` (any URL of it, as `fetch` keys requests),
   * `{ key }`, or with neither every key in use (the origins `fetch` has seen, and the
   * "default" key of `acquire`).
   */
  pause(ms, options) {
    this.#live().pause(ms, options);
  }

  /** Counters and, per key, quotas, pause, queue and in-flight requests. */
  stats() {
    return this.#live().stats();
  }

  /** Callers waiting for their turn (in `acquire`, `wrap` or `fetch`), across all keys. */
  get size() {
    return this.#live().stats().queued;
  }

  /** Calls past their turn and not done: permits held, wrapped functions and fetches running. */
  get pending() {
    return Math.max(0, this.#active - this.size);
  }

  /** Resolves once nothing is waiting, held or running (at once when that is so already). */
  onIdle() {
    this.#live();
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Frees the WebAssembly memory of this limiter. It must not be used afterwards. */
  dispose() {
    this.#raw?.free();
    this.#raw = undefined;
  }
}
