//! The core's pure pieces with time passed in: response interpretation, backoff and the
//! circuit breaker (the rate-limiting cells are in `cells`). They make the package's behaviour testable against the shared
//! conformance files, and are useful to anyone building their own scheduler.
//!
//! Times are JavaScript numbers of nanoseconds (exact below 2^53, about 104 days) unless the
//! name says milliseconds.

use headway_core::backoff::{BackoffError, Jitter};
use headway_core::breaker::{self, BreakerError, BreakerState};
use headway_core::feedback::{interpret, Options, Verdict};
use headway_core::NANOS_PER_MILLI;
use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use crate::args::{self, named, non_negative, to_u64};
use crate::errors::{range_error, set, Text};
use crate::options::{get, is_set};

fn opt(v: Option<u64>) -> JsValue {
    v.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64))
}

/// A millisecond option of `interpretResponse`, `default` when absent.
fn ms_option(options: &JsValue, name: &str, default: f64) -> Result<u64, JsValue> {
    let v = get(options, name);
    let ms = if is_set(&v) {
        non_negative(&v, name)?
    } else {
        default
    };
    Ok(ms as u64)
}

/// Interprets a response: its `status`, its `headers` (a `Headers` object, `[name, value]`
/// pairs or a record) and `{ wallMs, maxWaitMs }`: the local unix time in milliseconds
/// (default `Date.now()`) and the longest acceptable wait (default 10 minutes). Returns
/// `{ verdict, reason, afterMs, waitMs, pauseMs, limit, remaining, resetMs, policies }`
/// with times in whole milliseconds (rounded down).
#[wasm_bindgen(js_name = interpretResponse)]
pub fn interpret_response(
    status: &JsValue,
    headers: &JsValue,
    options: &JsValue,
) -> Result<JsValue, JsValue> {
    let status = args::status(status)?;
    let pairs = args::headers(headers)?;
    args::options(options)?;
    let wall_ms = ms_option(options, "wallMs", js_sys::Date::now())?;
    let max_wait_ms = ms_option(options, "maxWaitMs", 600_000.0)?;
    let options = Options {
        max_wait_ns: max_wait_ms.saturating_mul(NANOS_PER_MILLI),
    };
    let i = interpret(status, &pairs[..], wall_ms, &options);
    let ms = |ns: u64| ns / NANOS_PER_MILLI;
    let out = Object::new();
    let (verdict, reason, after, wait) = match i.verdict {
        Verdict::Done => ("done", None, None, None),
        Verdict::Retry { after_ns, reason } => {
            ("retry", Some(reason.as_str()), after_ns.map(ms), None)
        }
        Verdict::TooLong { wait_ns } => ("too_long", None, None, Some(ms(wait_ns))),
    };
    set(&out, "verdict", verdict);
    set(
        &out,
        "reason",
        reason.map_or(JsValue::NULL, JsValue::from_str),
    );
    set(&out, "afterMs", opt(after));
    set(&out, "waitMs", opt(wait));
    let f = &i.feedback;
    set(&out, "pauseMs", opt(f.pause_ns.map(ms)));
    set(&out, "limit", opt(f.limit));
    set(&out, "remaining", opt(f.remaining));
    set(&out, "resetMs", opt(f.reset_ns.map(ms)));
    let policies = Array::new();
    for q in f.policies.iter() {
        let p = Object::new();
        set(&p, "limit", q.limit() as f64);
        set(&p, "periodMs", ms(q.period_ns()) as f64);
        set(&p, "burst", q.burst() as f64);
        policies.push(&p);
    }
    set(&out, "policies", policies);
    Ok(out.into())
}

const JITTERS: &str = "\"jitter\" must be \"none\", \"full\", \"equal\" or \"decorrelated\"";

fn backoff_problem(e: BackoffError) -> &'static str {
    match e {
        BackoffError::ZeroBase => "\"baseNs\" must be greater than 0",
        BackoffError::BaseAboveMax => "\"baseNs\" must not exceed \"maxDelayNs\"",
        BackoffError::UnknownJitter => JITTERS,
    }
}

/// A seed given as a decimal string (seeds may exceed 2^53); anything else is a `RangeError`.
pub(crate) fn parse_seed(seed: &str) -> Result<u64, JsValue> {
    seed.trim()
        .parse()
        .map_err(|_| range_error(named("seed").s(" must be a decimal u64, got ").quoted(seed)))
}

/// A retry pacing policy: exponential backoff with jitter and caps, deterministic per seed.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Backoff {
    pub(crate) policy: headway_core::backoff::Backoff,
}

#[wasm_bindgen]
impl Backoff {
    /// `baseNs` first delay, `maxDelayNs` cap per delay, `maxAttempts` retries at most,
    /// `maxTotalNs` total delay at most, `jitter` one of `none`, `full`, `equal`,
    /// `decorrelated`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        base_ns: f64,
        max_delay_ns: f64,
        max_attempts: u32,
        max_total_ns: f64,
        jitter: &str,
    ) -> Result<Backoff, JsValue> {
        let jitter: Jitter = jitter
            .parse()
            .map_err(|_| range_error(Text::new(JITTERS).s(", got ").quoted(jitter)))?;
        let policy = headway_core::backoff::Backoff::new(
            to_u64(base_ns, "baseNs")?,
            to_u64(max_delay_ns, "maxDelayNs")?,
        )
        .map_err(|e| range_error(backoff_problem(e)))?
        .with_jitter(jitter)
        .with_max_attempts(max_attempts)
        .with_max_total_ns(to_u64(max_total_ns, "maxTotalNs")?);
        Ok(Backoff { policy })
    }

    /// Starts a retry sequence. `seed` is a decimal string (seeds may exceed 2^53).
    pub fn start(&self, seed: &str) -> Result<Retrying, JsValue> {
        Ok(Retrying {
            state: self.policy.start(parse_seed(seed)?),
        })
    }
}

/// One retry sequence of a [`Backoff`].
#[wasm_bindgen]
#[derive(Debug)]
pub struct Retrying {
    state: headway_core::backoff::Retrying,
}

#[wasm_bindgen]
impl Retrying {
    /// The next delay in nanoseconds, or `null` when the sequence has stopped. A server wait
    /// (nanoseconds) replaces the computed delay.
    #[wasm_bindgen(js_name = nextDelayNs)]
    pub fn next_delay_ns(&mut self, server_wait_ns: Option<f64>) -> Result<Option<f64>, JsValue> {
        let wait = server_wait_ns
            .map(|w| to_u64(w, "serverWaitNs"))
            .transpose()?;
        Ok(self.state.next_delay(wait).map(|d| d as f64))
    }

    /// Retries granted so far.
    #[wasm_bindgen(getter)]
    pub fn attempts(&self) -> u32 {
        self.state.attempts()
    }

    /// Total delay granted so far, in nanoseconds.
    #[wasm_bindgen(getter, js_name = elapsedNs)]
    pub fn elapsed_ns(&self) -> f64 {
        self.state.elapsed_ns() as f64
    }
}

/// A circuit breaker (closed / open / half-open) whose clock is the caller's.
#[wasm_bindgen]
#[derive(Debug)]
pub struct CircuitBreaker {
    breaker: breaker::CircuitBreaker,
}

/// A call admitted by a [`CircuitBreaker`], to report with `onSuccess` or `onFailure`.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy)]
pub struct BreakerPermit {
    pub(crate) permit: breaker::Permit,
}

#[wasm_bindgen]
impl BreakerPermit {
    /// True for the single half-open probe.
    #[wasm_bindgen(getter, js_name = isProbe)]
    pub fn is_probe(&self) -> bool {
        self.permit.is_probe()
    }
}

#[wasm_bindgen]
impl CircuitBreaker {
    /// Opens after `failureThreshold` consecutive failures, for `openForNs`.
    #[wasm_bindgen(constructor)]
    pub fn new(failure_threshold: u32, open_for_ns: f64) -> Result<CircuitBreaker, JsValue> {
        breaker::CircuitBreaker::new(failure_threshold, to_u64(open_for_ns, "openForNs")?)
            .map(|breaker| CircuitBreaker { breaker })
            .map_err(|e| {
                range_error(match e {
                    BreakerError::ZeroThreshold => "\"failureThreshold\" must be at least 1",
                    BreakerError::ZeroOpenFor => "\"openForNs\" must be greater than 0",
                })
            })
    }

    /// A permit at `now`, or `{ retryInNs }` while open.
    pub fn acquire(&self, now: f64) -> Result<JsValue, JsValue> {
        Ok(acquired(self.breaker.acquire(to_u64(now, "now")?)))
    }

    /// Reports a success; true when it closed the breaker.
    #[wasm_bindgen(js_name = onSuccess)]
    pub fn on_success(&self, permit: &BreakerPermit, now: f64) -> Result<bool, JsValue> {
        Ok(self.breaker.on_success(permit.permit, to_u64(now, "now")?))
    }

    /// Reports a failure; true when it opened the breaker.
    #[wasm_bindgen(js_name = onFailure)]
    pub fn on_failure(&self, permit: &BreakerPermit, now: f64) -> Result<bool, JsValue> {
        Ok(self.breaker.on_failure(permit.permit, to_u64(now, "now")?))
    }

    /// `{ state: "closed", consecutiveFailures }`, `{ state: "open", retryInNs }` or
    /// `{ state: "half_open", probeInFlight }`.
    pub fn state(&self, now: f64) -> Result<JsValue, JsValue> {
        Ok(breaker_state(self.breaker.state(to_u64(now, "now")?)).into())
    }
}

/// A breaker's answer to `acquire`: a [`BreakerPermit`], or `{ retryInNs }` while open.
pub(crate) fn acquired(answer: Result<breaker::Permit, breaker::Open>) -> JsValue {
    match answer {
        Ok(permit) => BreakerPermit { permit }.into(),
        Err(open) => {
            let o = Object::new();
            set(&o, "retryInNs", open.retry_in_ns as f64);
            o.into()
        }
    }
}

/// `{ state: "closed", consecutiveFailures }`, `{ state: "open", retryInNs }` or
/// `{ state: "half_open", probeInFlight }`.
pub(crate) fn breaker_state(state: BreakerState) -> Object {
    let o = Object::new();
    match state {
        BreakerState::Closed {
            consecutive_failures,
        } => {
            set(&o, "state", "closed");
            set(&o, "consecutiveFailures", consecutive_failures as f64);
        }
        BreakerState::Open { retry_in_ns } => {
            set(&o, "state", "open");
            set(&o, "retryInNs", retry_in_ns as f64);
        }
        BreakerState::HalfOpen { probe_in_flight } => {
            set(&o, "state", "half_open");
            set(&o, "probeInFlight", probe_in_flight);
        }
    }
    o
}
