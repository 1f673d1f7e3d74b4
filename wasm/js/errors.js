// headway-limiter: the error classes. The WebAssembly module constructs them itself (its
// glue imports this file as './errors.js', beside it in the package), and index.js
// re-exports them, so an error thrown anywhere in the package is an instance of these very
// classes.

/** Base class of every error this package throws besides TypeError and RangeError. */
export class HeadwayError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'HeadwayError';
  }
}

/** A wait (the server's Retry-After, or the queue's) longer than `maxWaitMs`. */
export class RateLimitError extends HeadwayError {
  constructor(message, { retryAfterMs = 0, attempts = 0, ...options } = {}) {
    super(message, options);
    this.name = 'RateLimitError';
    this.retryAfterMs = retryAfterMs;
    this.attempts = attempts;
  }
}

/** The origin kept failing and its circuit breaker is open. */
export class CircuitOpenError extends HeadwayError {
  constructor(message, { retryAfterMs = 0, attempts = 0, ...options } = {}) {
    super(message, options);
    this.name = 'CircuitOpenError';
    this.retryAfterMs = retryAfterMs;
    this.attempts = attempts;
  }
}

/**
 * No response headers within `timeoutMs`, and no retry was allowed. Named apart from the
 * DOMException "TimeoutError" of `AbortSignal.timeout()`, so `e.name` tells them apart.
 */
export class HeadwayTimeoutError extends HeadwayError {
  constructor(message, { timeoutMs = 0, attempts = 0, ...options } = {}) {
    super(message, options);
    this.name = 'HeadwayTimeoutError';
    this.timeoutMs = timeoutMs;
    this.attempts = attempts;
  }
}

/**
 * A weight larger than the quota's burst (or 0): it could never be admitted. A RangeError,
 * thrown by the limiter, the low-level cells and the KeyMachine alike.
 */
export class ImpossibleError extends RangeError {
  constructor(message, { weight = 0, burst = 0, ...options } = {}) {
    super(message, options);
    this.name = 'ImpossibleError';
    this.kind = 'impossible';
    this.weight = weight;
    this.burst = burst;
  }
}
