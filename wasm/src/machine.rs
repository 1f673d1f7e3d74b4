//! The core's two decision machines with the caller's clock: [`KeyMachine`] (one key's
//! quotas and their source, tier state, pause, probe, in-flight count and circuit breaker)
//! and [`Call`] (one call's retries), fed by [`Attempt`]s, with a shared [`RetryBudget`] and
//! the [`Schedule`] a queue is planned on. A scheduler of one's own (or a test, or a
//! simulation) drives them exactly as the package's `Limiter` drives the same core.
//!
//! Times are JavaScript numbers of nanoseconds on the caller's timeline, as in `cells`:
//! exact below 2^53; a negative or NaN time throws `RangeError` (kind `range`). A count of
//! cells `n` is a weight, checked as the limiter checks one ([`crate::args::weight`]).

use headway_core::backoff::SplitMix64;
use headway_core::call::{self, Step, Why};
use headway_core::feedback::{interpret, Interpretation, Options};
use headway_core::key::{
    self, BreakerPolicy, Changed, InlineTiers, KeyPolicy, MarginPolicy, QuotaSource, Refused, Turn,
};
use headway_core::Quota;
use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use crate::args::{self, to_u64, weight};
use crate::cells::{quota_parts, tier_quotas};
use crate::errors::{budget_error, impossible_error, key_error, set, type_error, Text};
use crate::lowlevel::{acquired, breaker_state, parse_seed, Backoff, BreakerPermit};
use crate::options::{boolean, get, integer, is_set};

/// `{ replan, learned, pausedUntil }`: what an event changed.
fn changed(c: Changed) -> Object {
    let o = Object::new();
    set(&o, "replan", c.replan);
    set(&o, "learned", c.learned);
    set(
        &o,
        "pausedUntil",
        c.paused_until
            .map_or(JsValue::NULL, |t| JsValue::from_f64(t as f64)),
    );
    o
}

/// `{ kind: "impossible", burst }`, `{ kind: "wait_too_long", waitNs }` or
/// `{ kind: "circuit_open", retryInNs }`: why a waiter gets no turn.
fn refusal(r: Refused) -> Object {
    let o = Object::new();
    match r {
        Refused::Impossible(i) => {
            set(&o, "kind", "impossible");
            set(&o, "burst", i.burst);
        }
        Refused::WaitTooLong { wait_ns } => {
            set(&o, "kind", "wait_too_long");
            set(&o, "waitNs", wait_ns as f64);
        }
        Refused::CircuitOpen { retry_in_ns } => {
            set(&o, "kind", "circuit_open");
            set(&o, "retryInNs", retry_in_ns as f64);
        }
    }
    o
}

/// `{ turn: "go", probe, lateNs }`, `{ turn: "at", at }`, `{ turn: "blocked" }` or
/// `{ turn: "refused", refused }`.
fn turn(t: Turn) -> Object {
    let o = Object::new();
    match t {
        Turn::Go { probe, late_ns } => {
            set(&o, "turn", "go");
            let probe = probe.map_or(JsValue::NULL, |permit| BreakerPermit { permit }.into());
            set(&o, "probe", probe);
            set(&o, "lateNs", late_ns as f64);
        }
        Turn::At(at) => {
            set(&o, "turn", "at");
            set(&o, "at", at as f64);
        }
        Turn::Blocked => set(&o, "turn", "blocked"),
        Turn::Refused(r) => {
            set(&o, "turn", "refused");
            set(&o, "refused", refusal(r));
        }
    }
    o
}

/// A time option in nanoseconds: absent gives `default`.
fn nanos(options: &JsValue, name: &str, default: u64) -> Result<u64, JsValue> {
    let v = get(options, name);
    if !is_set(&v) {
        return Ok(default);
    }
    let n = v.as_f64().ok_or_else(|| {
        type_error(
            Text::new("")
                .quoted(name)
                .s(" must be nanoseconds, got ")
                .value(&v),
        )
    })?;
    to_u64(n, name)
}

/// The options of `new KeyMachine(options)`: the configured quotas, the key policy and the
/// seed of the pause jitter.
fn key_options(options: &JsValue) -> Result<(Vec<Quota>, KeyPolicy, u64), JsValue> {
    let defaults = KeyPolicy::default();
    if !is_set(options) {
        return Ok((Vec::new(), defaults, random_seed()));
    }
    args::options(options)?;
    let quotas = match get(options, "quotas") {
        q if is_set(&q) => tier_quotas(&q)?,
        _ => Vec::new(),
    };
    let max_in_flight = match get(options, "maxInFlight") {
        v if is_set(&v) => Some(integer(&v, "maxInFlight", 0.0, u32::MAX as f64)? as u32),
        _ => None,
    };
    let breaker = match get(options, "breaker") {
        v if v.is_undefined() => defaults.breaker,
        v if v.is_null() => None,
        v => {
            let fallback = BreakerPolicy::default();
            let threshold = match get(&v, "failureThreshold") {
                t if is_set(&t) => {
                    integer(&t, "breaker.failureThreshold", 0.0, u32::MAX as f64)? as u32
                }
                _ => fallback.failure_threshold,
            };
            Some(BreakerPolicy {
                failure_threshold: threshold,
                open_for_ns: nanos(&v, "openForNs", fallback.open_for_ns)?,
            })
        }
    };
    let learn = match get(options, "learn") {
        v if is_set(&v) => boolean(&v, "learn")?,
        _ => defaults.learn,
    };
    let margin = match get(options, "margin") {
        v if v.is_undefined() => defaults.margin,
        v if v.is_null() => None,
        v => {
            let fallback = MarginPolicy::default();
            let part = |name: &str, full: &str, default: u32| match get(&v, name) {
                x if is_set(&x) => integer(&x, full, 0.0, u32::MAX as f64).map(|n| n as u32),
                _ => Ok(default),
            };
            Some(MarginPolicy {
                initial_ns: part("initialNs", "margin.initialNs", fallback.initial_ns)?,
                floor_ns: part("floorNs", "margin.floorNs", fallback.floor_ns)?,
                max_ns: part("maxNs", "margin.maxNs", fallback.max_ns)?,
                narrow_after: match get(&v, "narrowAfter") {
                    x if is_set(&x) => integer(&x, "margin.narrowAfter", 0.0, 65_535.0)? as u16,
                    _ => fallback.narrow_after,
                },
            })
        }
    };
    let policy = KeyPolicy {
        max_in_flight,
        breaker,
        learn,
        pause_jitter_max_ns: nanos(options, "pauseJitterMaxNs", defaults.pause_jitter_max_ns)?,
        max_wait_ns: nanos(options, "maxWaitNs", defaults.max_wait_ns)?,
        margin,
    };
    let seed = match get(options, "seed") {
        s if !is_set(&s) => random_seed(),
        s => match s.as_string() {
            Some(s) => parse_seed(&s)?,
            None => {
                return Err(type_error(
                    Text::new("\"seed\" must be a decimal string, got ").value(&s),
                ))
            }
        },
    };
    Ok((quotas, policy, seed))
}

/// 64 bits from `Math.random()`, for a key whose caller gave no seed: clients should not
/// share their pause jitter.
fn random_seed() -> u64 {
    let half = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (half() << 32) | half()
}

/// What one attempt produced, to hand to [`KeyMachine::on_response`],
/// [`KeyMachine::on_failure`], [`Call::next`] and [`breaker_success`].
#[wasm_bindgen]
#[derive(Debug)]
pub struct Attempt {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Response {
        status: u16,
        /// Boxed: an interpretation holds up to eight quotas.
        interpretation: Box<Interpretation>,
    },
    Failed {
        permanent: bool,
    },
    TimedOut,
}

impl Attempt {
    fn core(&self) -> call::Attempt<'_> {
        match &self.kind {
            Kind::Response {
                status,
                interpretation,
            } => call::Attempt::Response {
                status: *status,
                interpretation: interpretation.as_ref(),
            },
            Kind::Failed { permanent } => call::Attempt::Failed {
                permanent: *permanent,
            },
            Kind::TimedOut => call::Attempt::TimedOut,
        }
    }
}

#[wasm_bindgen]
impl Attempt {
    /// A response: its status and headers (a `Headers` object, `[name, value]` pairs or a
    /// record), read with the local unix time `wallMs` (for dates and epochs) and the
    /// longest acceptable wait `maxWaitNs` (pass the key's `maxWaitNs`). Both are checked as
    /// `interpretResponse` checks them.
    pub fn response(
        status: &JsValue,
        headers: &JsValue,
        wall_ms: f64,
        max_wait_ns: f64,
    ) -> Result<Attempt, JsValue> {
        let status = args::status(status)?;
        let pairs = args::headers(headers)?;
        let options = Options {
            max_wait_ns: to_u64(max_wait_ns, "maxWaitNs")?,
        };
        Ok(Attempt {
            kind: Kind::Response {
                status,
                interpretation: Box::new(interpret(
                    status,
                    &pairs[..],
                    to_u64(wall_ms, "wallMs")?,
                    &options,
                )),
            },
        })
    }

    /// A send that produced no response; `permanent` when sending again cannot help (a
    /// malformed URL, an unsupported scheme).
    pub fn failed(permanent: bool) -> Attempt {
        Attempt {
            kind: Kind::Failed { permanent },
        }
    }

    /// No response within the per-attempt timeout.
    #[wasm_bindgen(js_name = timedOut)]
    pub fn timed_out() -> Attempt {
        Attempt {
            kind: Kind::TimedOut,
        }
    }

    /// `"response"`, `"failed"` or `"timed_out"`.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        match self.kind {
            Kind::Response { .. } => "response",
            Kind::Failed { .. } => "failed",
            Kind::TimedOut => "timed_out",
        }
        .to_string()
    }

    /// The status of a response, else `undefined`.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            Kind::Response { status, .. } => Some(status),
            _ => None,
        }
    }
}

/// True when `attempt` counts as a success for the key's circuit breaker: a response that is
/// not a 5xx or 408, a 429, or a 503 carrying a wait. No response is a failure.
#[wasm_bindgen(js_name = breakerSuccess)]
pub fn breaker_success(attempt: &Attempt) -> bool {
    call::breaker_success(attempt.core())
}

/// True for the methods RFC 9110 defines as idempotent (GET, HEAD, PUT, DELETE, OPTIONS,
/// TRACE; case-sensitive).
#[wasm_bindgen(js_name = isIdempotent)]
pub fn is_idempotent(method: &str) -> bool {
    call::is_idempotent(method)
}

/// A copy of a key's rate state, to plan queued requests ahead with
/// [`KeyMachine::plan_on`] without committing any.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    schedule: headway_core::Schedule,
}

#[wasm_bindgen]
impl Schedule {
    /// An independent copy: plan on it to try a turn without changing this one.
    pub fn copy(&self) -> Schedule {
        *self
    }
}

/// One queued acquisition as a key plans it: its cells, when it queued and the latest turn
/// it accepts.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy)]
pub struct Waiter {
    waiter: key::Waiter,
}

#[wasm_bindgen]
impl Waiter {
    /// A waiter for `n` cells queuing at `now` that accepts a turn up to `maxWaitNs` later.
    #[wasm_bindgen(constructor)]
    pub fn new(n: &JsValue, now: f64, max_wait_ns: f64) -> Result<Waiter, JsValue> {
        let (n, now) = (weight(n)?, to_u64(now, "now")?);
        let max_wait_ns = to_u64(max_wait_ns, "maxWaitNs")?;
        Ok(Waiter {
            waiter: key::Waiter::new(n, now, max_wait_ns),
        })
    }

    /// The cells it asks for.
    #[wasm_bindgen(getter)]
    pub fn n(&self) -> u32 {
        self.waiter.n
    }

    /// When it queued.
    #[wasm_bindgen(getter, js_name = queuedAt)]
    pub fn queued_at(&self) -> f64 {
        self.waiter.queued_at as f64
    }

    /// The latest turn it accepts.
    #[wasm_bindgen(getter)]
    pub fn deadline(&self) -> f64 {
        self.waiter.deadline as f64
    }
}

/// One key's state and decisions; see `headway_core::key`.
#[wasm_bindgen]
#[derive(Debug)]
pub struct KeyMachine {
    machine: key::KeyMachine<InlineTiers>,
    policy: KeyPolicy,
    rng: SplitMix64,
}

#[wasm_bindgen]
impl KeyMachine {
    /// `{ quotas, maxInFlight, breaker: { failureThreshold, openForNs } | null, learn,
    /// pauseJitterMaxNs, maxWaitNs, seed }`, every field optional (defaults: no quota, no
    /// cap, a breaker of 5 failures and 10 s, learning on, 1 s, 10 minutes, a random seed).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<KeyMachine, JsValue> {
        let (quotas, policy, seed) = key_options(&options)?;
        Ok(KeyMachine {
            machine: key::KeyMachine::new(&quotas, &policy).map_err(key_error)?,
            policy,
            rng: SplitMix64::new(seed),
        })
    }

    /// When `n` cells may go (never before `now` or the pause). Throws `RangeError` (kind
    /// `impossible`) when `n` can never fit.
    #[wasm_bindgen(js_name = readyAt)]
    pub fn ready_at(&self, n: &JsValue, now: f64) -> Result<f64, JsValue> {
        self.machine
            .ready_at(weight(n)?, to_u64(now, "now")?)
            .map(|t| t as f64)
            .map_err(impossible_error)
    }

    /// A copy of the rate state to plan a queue on.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            schedule: self.machine.schedule(),
        }
    }

    /// When `n` cells would go behind every request planned on `schedule` before, admitting
    /// them on `schedule` then. Throws like `readyAt`.
    #[wasm_bindgen(js_name = planOn)]
    pub fn plan_on(&self, schedule: &mut Schedule, n: &JsValue, now: f64) -> Result<f64, JsValue> {
        self.machine
            .plan_on(&mut schedule.schedule, weight(n)?, to_u64(now, "now")?)
            .map(|t| t as f64)
            .map_err(impossible_error)
    }

    /// Plans `waiter`'s turn on `schedule` (behind every waiter planned on it before) and
    /// admits it there: `{ turn: "at", at }`, or `{ turn: "refused", refused }` leaving
    /// `schedule` as it was.
    #[wasm_bindgen(js_name = planWaiter)]
    pub fn plan_waiter(
        &self,
        schedule: &mut Schedule,
        waiter: &Waiter,
        now: f64,
    ) -> Result<Object, JsValue> {
        let now = to_u64(now, "now")?;
        let planned = self
            .machine
            .plan_waiter(&mut schedule.schedule, &waiter.waiter, now);
        Ok(turn(planned.map_or_else(Turn::Refused, Turn::At)))
    }

    /// What the head of the queue, `waiter`, does at `now`: `{ turn: "go", probe, lateNs }`
    /// (committed: its cells and an in-flight slot are taken; `probe` is the breaker's
    /// permit or `null`), `{ turn: "at", at }`, `{ turn: "blocked" }` (no in-flight slot) or
    /// `{ turn: "refused", refused }`. `takeSlot`, if given, is asked last for a slot of the
    /// caller's own and blocks the waiter by returning false.
    pub fn turn(
        &mut self,
        waiter: &Waiter,
        now: f64,
        take_slot: Option<js_sys::Function>,
    ) -> Result<Object, JsValue> {
        let now = to_u64(now, "now")?;
        let mut thrown = None;
        let take = || match &take_slot {
            None => true,
            Some(f) => match f.call0(&JsValue::UNDEFINED) {
                Ok(v) => v.is_truthy(),
                Err(e) => {
                    thrown = Some(e);
                    false
                }
            },
        };
        let t = self.machine.turn(&waiter.waiter, now, take);
        match thrown {
            Some(e) => Err(e),
            None => Ok(turn(t)),
        }
    }

    /// What came back for the request admitted at `sentAt` with `probe` (a `go` turn's,
    /// possibly `null`), heard at `now`: a response teaches the key (as `onResponse`), a
    /// failure as `onFailure`, and the breaker hears the attempt. Returns what changed
    /// (`replan` also when the breaker closed or opened).
    pub fn hear(
        &mut self,
        attempt: &Attempt,
        probe: Option<BreakerPermit>,
        sent_at: f64,
        now: f64,
    ) -> Result<Object, JsValue> {
        let (sent_at, now) = (to_u64(sent_at, "sentAt")?, to_u64(now, "now")?);
        let probe = probe.map(|p| p.permit);
        let (policy, rng) = (&self.policy, &mut self.rng);
        let heard = self
            .machine
            .hear(attempt.core(), probe, sent_at, now, policy, rng);
        Ok(changed(heard))
    }

    /// True when the in-flight cap leaves room (one at a time while probing).
    #[wasm_bindgen(js_name = maySend)]
    pub fn may_send(&self) -> bool {
        self.machine.may_send()
    }

    /// Admits `n` cells at `now` and takes an in-flight slot (check `readyAt` and `maySend`
    /// first).
    pub fn commit(&mut self, n: &JsValue, now: f64) -> Result<(), JsValue> {
        self.machine.commit(weight(n)?, to_u64(now, "now")?);
        Ok(())
    }

    /// A committed request has finished (or was never sent): its slot is free.
    pub fn release(&mut self) {
        self.machine.release();
    }

    /// Nothing is admitted before `t`; an earlier `t` never shortens a pause.
    #[wasm_bindgen(js_name = pauseUntil)]
    pub fn pause_until(&mut self, t: f64) -> Result<Object, JsValue> {
        Ok(changed(self.machine.pause_until(to_u64(t, "t")?)))
    }

    /// Replaces the configured quotas, keeping each tier's state (learned quotas still
    /// apply). Throws `RangeError` (kind `too_many`) past 8 tiers in all.
    #[wasm_bindgen(js_name = setConfigured)]
    pub fn set_configured(&mut self, quotas: JsValue) -> Result<Object, JsValue> {
        self.machine
            .set_configured(&tier_quotas(&quotas)?)
            .map(changed)
            .map_err(key_error)
    }

    /// A request is about to be queued: a key with no quota that has never heard from its
    /// server sends one at a time until it does.
    #[wasm_bindgen(js_name = probeIfUnknown)]
    pub fn probe_if_unknown(&mut self) {
        self.machine.probe_if_unknown();
    }

    /// A send on this key produced no response.
    #[wasm_bindgen(js_name = onFailure)]
    pub fn on_failure(&mut self) -> Object {
        changed(self.machine.on_failure())
    }

    /// The response to the request admitted at `sentAt` came back at `now`: learned quotas,
    /// a pause (with jitter from the key's seeded generator), pacing, the margin. Throws
    /// `TypeError` for an attempt that is not a response.
    #[wasm_bindgen(js_name = onResponse)]
    pub fn on_response(
        &mut self,
        attempt: &Attempt,
        sent_at: f64,
        now: f64,
    ) -> Result<Object, JsValue> {
        let Kind::Response { interpretation, .. } = &attempt.kind else {
            return Err(type_error("\"attempt\" must be an Attempt.response"));
        };
        let sent_at = to_u64(sent_at, "sentAt")?;
        let now = to_u64(now, "now")?;
        Ok(changed(self.machine.on_response(
            interpretation,
            sent_at,
            now,
            &self.policy,
            &mut self.rng,
        )))
    }

    /// The quotas in force: configured, then learned, then the pacing tier.
    #[wasm_bindgen(getter)]
    pub fn quotas(&self) -> Array {
        self.machine.quotas().map(|q| quota_parts(&q)).collect()
    }

    /// Where they came from: `"none"`, `"configured"` or `"learned"`.
    #[wasm_bindgen(getter)]
    pub fn source(&self) -> String {
        match self.machine.source() {
            QuotaSource::None => "none",
            QuotaSource::Configured => "configured",
            QuotaSource::Learned => "learned",
        }
        .to_string()
    }

    /// True when a quota is configured or learned (a pacing tier alone does not count).
    #[wasm_bindgen(getter, js_name = hasQuota)]
    pub fn has_quota(&self) -> bool {
        self.machine.has_quota()
    }

    /// The time before which nothing is admitted (0 when never paused).
    #[wasm_bindgen(getter, js_name = pausedUntil)]
    pub fn paused_until(&self) -> f64 {
        self.machine.paused_until() as f64
    }

    /// The safety margin added to every admission's spacing now, in nanoseconds.
    #[wasm_bindgen(getter, js_name = marginNs)]
    pub fn margin_ns(&self) -> u32 {
        self.machine.margin_ns()
    }

    /// Requests in flight.
    #[wasm_bindgen(getter, js_name = inFlight)]
    pub fn in_flight(&self) -> u32 {
        self.machine.in_flight()
    }

    /// The longest wait the key accepts, in nanoseconds.
    #[wasm_bindgen(getter, js_name = maxWaitNs)]
    pub fn max_wait_ns(&self) -> f64 {
        self.policy.max_wait_ns as f64
    }

    /// True when dropping the key at `now` loses nothing.
    #[wasm_bindgen(js_name = isIdle)]
    pub fn is_idle(&self, now: f64) -> Result<bool, JsValue> {
        Ok(self.machine.is_idle(to_u64(now, "now")?))
    }

    /// The breaker's state at `now` (as `CircuitBreaker.state`), or `null` without one.
    #[wasm_bindgen(js_name = breakerState)]
    pub fn breaker_state(&self, now: f64) -> Result<JsValue, JsValue> {
        let now = to_u64(now, "now")?;
        Ok(self
            .machine
            .breaker()
            .map_or(JsValue::NULL, |b| breaker_state(b.state(now)).into()))
    }

    /// Leave to send at `now`: a `BreakerPermit`, `{ retryInNs }` while open, or `null`
    /// when the key has no breaker.
    #[wasm_bindgen(js_name = breakerAcquire)]
    pub fn breaker_acquire(&self, now: f64) -> Result<JsValue, JsValue> {
        let now = to_u64(now, "now")?;
        Ok(self
            .machine
            .breaker()
            .map_or(JsValue::NULL, |b| acquired(b.acquire(now))))
    }

    /// Reports the permit's request as a success; true when it closed the breaker.
    #[wasm_bindgen(js_name = breakerOnSuccess)]
    pub fn breaker_on_success(&self, permit: &BreakerPermit, now: f64) -> Result<bool, JsValue> {
        let now = to_u64(now, "now")?;
        Ok(self
            .machine
            .breaker()
            .is_some_and(|b| b.on_success(permit.permit, now)))
    }

    /// Reports the permit's request as a failure; true when it opened the breaker.
    #[wasm_bindgen(js_name = breakerOnFailure)]
    pub fn breaker_on_failure(&self, permit: &BreakerPermit, now: f64) -> Result<bool, JsValue> {
        let now = to_u64(now, "now")?;
        Ok(self
            .machine
            .breaker()
            .is_some_and(|b| b.on_failure(permit.permit, now)))
    }
}

/// A retry budget shared by the calls to one destination: retries as a fraction of recent
/// successes plus a floor per second, starting full.
#[wasm_bindgen]
#[derive(Debug)]
pub struct RetryBudget {
    budget: headway_core::budget::RetryBudget,
}

#[wasm_bindgen]
impl RetryBudget {
    /// Each success earns `ratioPermille / 1000` of a retry, `minRetriesPerSec` more trickle
    /// in each second, at most `maxBalance` are saved. Throws `RangeError` (kind `range`)
    /// for a ratio above 1000, a maximum of 0, or a budget that never refills.
    #[wasm_bindgen(constructor)]
    pub fn new(
        ratio_permille: u32,
        min_retries_per_sec: u32,
        max_balance: u32,
    ) -> Result<RetryBudget, JsValue> {
        headway_core::budget::RetryBudget::new(ratio_permille, min_retries_per_sec, max_balance)
            .map(|budget| RetryBudget { budget })
            .map_err(budget_error)
    }

    /// Takes one retry at `now` if the balance holds one.
    #[wasm_bindgen(js_name = tryRetry)]
    pub fn try_retry(&self, now: f64) -> Result<bool, JsValue> {
        Ok(self.budget.try_retry(to_u64(now, "now")?))
    }

    /// Records a success at `now`.
    #[wasm_bindgen(js_name = onSuccess)]
    pub fn on_success(&self, now: f64) -> Result<(), JsValue> {
        self.budget.on_success(to_u64(now, "now")?);
        Ok(())
    }

    /// Whole retries available at `now`.
    pub fn balance(&self, now: f64) -> Result<u32, JsValue> {
        Ok(self.budget.balance(to_u64(now, "now")?))
    }
}

/// The retry state of one call; see `headway_core::call`. `js/index.js` wraps it as `Call`,
/// whose `next` takes the budget as an optional argument.
#[wasm_bindgen(js_name = RawCall)]
#[derive(Debug)]
pub struct Call {
    call: call::Call,
}

/// `{ step: "return", why }`, `{ step: "retry", afterNs, paused }` or
/// `{ step: "too_long", waitNs }`.
fn step(s: Step) -> Object {
    let o = Object::new();
    match s {
        Step::Return(why) => {
            set(&o, "step", "return");
            let why = match why {
                Why::Done => "done",
                Why::NotRetryable => "not_retryable",
                Why::NoReplay => "no_replay",
                Why::Exhausted => "exhausted",
                Why::BudgetSpent => "budget_spent",
            };
            set(&o, "why", why);
        }
        Step::Retry { after_ns, paused } => {
            set(&o, "step", "retry");
            set(&o, "afterNs", after_ns as f64);
            set(&o, "paused", paused);
        }
        Step::TooLong { wait_ns } => {
            set(&o, "step", "too_long");
            set(&o, "waitNs", wait_ns as f64);
        }
    }
    o
}

#[wasm_bindgen(js_class = RawCall)]
impl Call {
    /// A call retrying under `backoff`; `idempotent` is its method class (see
    /// `isIdempotent`); `seed` (a decimal string) seeds the backoff's jitter;
    /// `retryNonIdempotent` retries 5xx, 408 and failures of other methods too.
    #[wasm_bindgen(constructor)]
    pub fn new(
        backoff: &Backoff,
        idempotent: bool,
        seed: &str,
        retry_non_idempotent: Option<bool>,
    ) -> Result<Call, JsValue> {
        let policy = call::RetryPolicy {
            backoff: backoff.policy,
            retry_non_idempotent: retry_non_idempotent.unwrap_or(false),
        };
        Ok(Call {
            call: call::Call::new(&policy, idempotent, parse_seed(seed)?),
        })
    }

    /// The next step after an attempt that produced `attempt` at `now`, for a caller that
    /// keeps no retry budget. `replayable` says whether the request can be sent again.
    pub fn next(
        &mut self,
        attempt: &Attempt,
        replayable: bool,
        now: f64,
    ) -> Result<Object, JsValue> {
        let now = to_u64(now, "now")?;
        Ok(step(self.call.next(attempt.core(), replayable, None, now)))
    }

    /// [`Call::next`] charging `budget` for a retry and crediting it for a success.
    #[wasm_bindgen(js_name = nextWithBudget)]
    pub fn next_with_budget(
        &mut self,
        attempt: &Attempt,
        replayable: bool,
        budget: &RetryBudget,
        now: f64,
    ) -> Result<Object, JsValue> {
        let now = to_u64(now, "now")?;
        let budget = Some(&budget.budget);
        Ok(step(self.call.next(
            attempt.core(),
            replayable,
            budget,
            now,
        )))
    }

    /// Attempts put on the wire so far.
    #[wasm_bindgen(getter)]
    pub fn attempts(&self) -> u32 {
        self.call.attempts()
    }

    /// Retries granted so far.
    #[wasm_bindgen(getter)]
    pub fn retries(&self) -> u32 {
        self.call.retries()
    }
}
