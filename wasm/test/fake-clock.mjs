// Virtual time for the Limiter's `clock` option.
//
// Time stands still until a test moves it; a timer fires exactly at its time, one at a time
// in (time, order set) order, and after each one every promise reaction that became ready
// runs before the next. Schedules asserted on this clock are exact and do not depend on how
// loaded the machine is.

/** One macrotask turn of the host: every microtask queued before it has run. */
export const settle = () =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

export class FakeClock {
  #now;
  #wallBase;
  #seq = 0;
  #timers = new Map();

  /** `now`: the starting monotonic time (ms); `wallBase`: the unix ms at monotonic 0. */
  constructor({ now = 0, wallBase = Date.UTC(2026, 0, 1) } = {}) {
    this.#now = now;
    this.#wallBase = wallBase;
  }

  // The clock interface the Limiter reads.
  now() {
    return this.#now;
  }

  dateNow() {
    return this.#wallBase + this.#now;
  }

  setTimeout(fn, ms) {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, Number(ms) || 0), fn });
    return id;
  }

  clearTimeout(id) {
    this.#timers.delete(id);
  }

  // What tests use.

  /** Timers set and not yet fired or cleared. */
  get pending() {
    return this.#timers.size;
  }

  /** The time of the earliest pending timer, or undefined. */
  get nextAt() {
    return this.#earliest(Infinity)?.[1].at;
  }

  /** A promise resolved when this clock reaches `now() + ms`. */
  sleep(ms) {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  #earliest(limit) {
    let best;
    for (const entry of this.#timers) {
      const at = entry[1].at;
      if (at <= limit && (best === undefined || at < best[1].at)) best = entry;
    }
    return best;
  }

  /** Fires the earliest timer due by `limit`; false when there is none. */
  async #fireNext(limit) {
    const next = this.#earliest(limit);
    if (!next) return false;
    const [id, { at, fn }] = next;
    this.#timers.delete(id);
    this.#now = Math.max(this.#now, at);
    fn();
    await settle();
    return true;
  }

  /** Moves time to `t` (never backwards), firing every timer due on the way, in order. */
  async advanceTo(t) {
    await settle();
    while (await this.#fireNext(t));
    this.#now = Math.max(this.#now, t);
    await settle();
  }

  /** Moves time forward by `ms`. */
  advance(ms) {
    return this.advanceTo(this.#now + ms);
  }

  /**
   * Waits for `promise` on virtual time alone: whenever nothing else can run, jumps to the
   * next timer. Throws if the promise is still pending with no timer left (it waits for
   * something that is not a timer: use advanceTo and real events instead).
   */
  async run(promise) {
    let done = false;
    const tracked = Promise.resolve(promise).finally(() => {
      done = true;
    });
    tracked.catch(() => {});
    await settle();
    while (!done) {
      if (!(await this.#fireNext(Infinity))) {
        throw new Error(`stuck at ${this.#now} ms of virtual time: the promise waits with no timer pending`);
      }
    }
    return tracked;
  }
}
