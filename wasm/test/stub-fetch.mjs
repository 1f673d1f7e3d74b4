// A stand-in for the global `fetch` on virtual time: answers at once, records every call.

/**
 * Replaces `globalThis.fetch` with `handler(input, init, realFetch)` (which returns a
 * Response or a promise of one) and records `{ url, path, at, signal }` for each call, `at`
 * read from `clock`. Returns { calls, restore }.
 */
export function stubFetch(clock, handler) {
  const real = globalThis.fetch;
  const calls = [];
  globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    calls.push({ url: url.href, origin: url.origin, path: url.pathname, at: clock.now(), signal: init?.signal });
    return Promise.resolve(handler(input, init, real));
  };
  return {
    calls,
    restore() {
      globalThis.fetch = real;
    },
  };
}

/**
 * The mock API's GCRA route on virtual time: `limit` per `periodMs` with `burst`, answering
 * 200 or 429 and, like the mock's `ietf08` style, `RateLimit-Policy: "default";q=..;w=..`
 * and `RateLimit: "default";r=<remaining>;t=<seconds until capacity grows, rounded up>`.
 */
export function gcraServer(clock, { limit, periodMs, burst = 1 }) {
  const T = periodMs / limit;
  const tau = T * (burst - 1);
  let tat = 0;
  const counts = { admitted: 0, rejected: 0 };
  const headers = (now) => {
    const ahead = Math.max(0, tat - now);
    const remaining = ahead > tau ? 0 : Math.min(burst, Math.floor((tau - ahead) / T) + 1);
    const resetMs = remaining === burst ? 0 : ahead - (tau - remaining * T);
    return {
      'RateLimit-Policy': `"default";q=${limit};w=${Math.max(1, Math.ceil(periodMs / 1000))}`,
      RateLimit: `"default";r=${remaining};t=${Math.ceil(resetMs / 1000)}`,
    };
  };
  const handle = () => {
    const now = clock.now();
    if (now >= tat - tau) {
      tat = Math.max(tat, now) + T;
      counts.admitted++;
      return new Response('ok', { status: 200, headers: headers(now) });
    }
    counts.rejected++;
    return new Response('slow down', { status: 429, headers: headers(now) });
  };
  return { handle, counts };
}
