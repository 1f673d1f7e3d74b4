//! JavaScript errors thrown by the raw API: `TypeError` and `RangeError` for bad arguments,
//! and the package's own classes (`js/errors.js`, re-exported by `js/index.js`) constructed
//! here, so what the module throws is what users catch.
//!
//! Messages are joined by JavaScript ([`Text`]): numbers and values are turned into text the
//! way JavaScript prints them, and the module carries no formatting code of its own for them.

use std::time::Duration;

use headway_core::breaker::BreakerError;
use headway_core::budget::BudgetError;
use headway_core::duration::saturating_nanos;
use headway_core::key::KeyError;
use headway_core::{Impossible, QuotaError, TiersError};
use headway_engine::{AcquireError, ClientError, ConfigError};
use headway_web::FetchError;
use js_sys::{JsString, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::args::not_a_weight;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = TypeError)]
    type NewTypeError;
    #[wasm_bindgen(constructor, js_class = "TypeError")]
    fn new(message: &JsString) -> NewTypeError;

    #[wasm_bindgen(js_name = RangeError)]
    type NewRangeError;
    #[wasm_bindgen(constructor, js_class = "RangeError")]
    fn new(message: &JsString) -> NewRangeError;

}

// The classes of `js/errors.js`. The glue imports them from "./errors.js", the file beside
// it in the package (wasm/build.sh copies it there), which is the module `index.js`
// re-exports them from: one module, one set of classes.
#[wasm_bindgen(raw_module = "./errors.js")]
extern "C" {
    type RateLimitError;
    #[wasm_bindgen(constructor)]
    fn new(message: &JsString, fields: &Object) -> RateLimitError;

    type CircuitOpenError;
    #[wasm_bindgen(constructor)]
    fn new(message: &JsString, fields: &Object) -> CircuitOpenError;

    type HeadwayTimeoutError;
    #[wasm_bindgen(constructor)]
    fn new(message: &JsString, fields: &Object) -> HeadwayTimeoutError;

    type ImpossibleError;
    #[wasm_bindgen(constructor)]
    fn new(message: &JsString, fields: &Object) -> ImpossibleError;
}

/// An error message under construction, held as a JavaScript string.
#[derive(Clone)]
pub(crate) struct Text(JsString);

impl Text {
    /// Text starting with `s`.
    pub(crate) fn new(s: &str) -> Text {
        Text(JsString::from(s))
    }

    /// Appends `s`.
    pub(crate) fn s(self, s: &str) -> Text {
        Text(self.0.concat(&JsValue::from_str(s)))
    }

    /// Appends a number as JavaScript prints it.
    pub(crate) fn n(self, n: f64) -> Text {
        Text(self.0.concat(&JsValue::from_f64(n)))
    }

    /// Appends `s` in double quotes, escaped as JSON.
    pub(crate) fn quoted(self, s: &str) -> Text {
        let json = js_sys::JSON::stringify(&JsValue::from_str(s)).unwrap_or_default();
        Text(self.0.concat(&json))
    }

    /// Appends a short description of any value: a string quoted, a number as printed,
    /// otherwise its `typeof`.
    pub(crate) fn value(self, v: &JsValue) -> Text {
        if let Some(s) = v.as_string() {
            self.quoted(&s)
        } else if let Some(n) = v.as_f64() {
            self.n(n)
        } else {
            Text(self.0.concat(&v.js_typeof()))
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

const PREFIX: &str = "headway-limiter: ";

/// Sets `obj[name] = value`.
pub(crate) fn set(obj: &Object, name: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(name), &value.into());
}

/// `error` with its machine-readable `kind` property set to `kind`.
pub(crate) fn kind_error(error: JsValue, kind: &str) -> JsValue {
    set(error.unchecked_ref(), "kind", kind);
    error
}

/// The `kind` of a quota error (the names the conformance data uses) and its message.
fn quota_problem(e: QuotaError) -> (&'static str, &'static str) {
    match e {
        QuotaError::ZeroLimit => ("zero_limit", "the limit must be at least 1"),
        QuotaError::ZeroPeriod => ("zero_period", "the period must be longer than zero"),
        QuotaError::ZeroBurst => ("zero_burst", "the burst must be at least 1"),
        QuotaError::Overflow => (
            "overflow",
            "the period, or the period times the burst, is too large",
        ),
        QuotaError::Syntax => (
            "syntax",
            "a quota looks like \"100/min\", \"10/s\", \"30000/h burst 10\" or \"5/250ms\"",
        ),
    }
}

/// A `RangeError` for a bad quota, naming where it was, with its `kind`.
pub(crate) fn quota_error(where_: Text, e: QuotaError) -> JsValue {
    let (kind, message) = quota_problem(e);
    kind_error(range_error(where_.s(": ").s(message)), kind)
}

/// A `RangeError` for a tier list that is empty (kind `empty`) or too long (`too_many`).
pub(crate) fn tiers_error(e: TiersError) -> JsValue {
    let (message, kind) = match e {
        TiersError::Empty => ("at least one quota is required", "empty"),
        TiersError::TooMany(_) => ("at most 8 quotas are allowed", "too_many"),
    };
    kind_error(range_error(message), kind)
}

/// A `RangeError` for a key machine's options: too many quotas (kind `too_many`), an
/// in-flight cap of 0 or inconsistent breaker settings (kind `range`).
pub(crate) fn key_error(e: KeyError) -> JsValue {
    let message = match e {
        KeyError::Tiers(e) => return tiers_error(e),
        KeyError::ZeroInFlight => "\"maxInFlight\" must be at least 1",
        KeyError::Breaker(BreakerError::ZeroThreshold) => {
            "\"breaker.failureThreshold\" must be at least 1"
        }
        KeyError::Breaker(BreakerError::ZeroOpenFor) => {
            "\"breaker.openForNs\" must be greater than 0"
        }
        KeyError::Margin => {
            "\"margin\" needs floorNs <= initialNs <= maxNs and narrowAfter of at least 1"
        }
    };
    range_error(message)
}

/// A `RangeError` (kind `range`) for a retry budget's settings.
pub(crate) fn budget_error(e: BudgetError) -> JsValue {
    let message = match e {
        BudgetError::RatioAboveOne => "\"ratioPermille\" must be at most 1000",
        BudgetError::ZeroMaxBalance => "\"maxBalance\" must be at least 1",
        BudgetError::NeverRefills => "\"ratioPermille\" or \"minRetriesPerSec\" must be above 0",
    };
    range_error(message)
}

/// A `RangeError` for options the engine refuses.
pub(crate) fn config_error(e: ConfigError) -> JsValue {
    range_error(match e {
        ConfigError::Tiers(e) => return tiers_error(e),
        ConfigError::ZeroConcurrency => "\"concurrency\" must be at least 1",
        ConfigError::Breaker(BreakerError::ZeroThreshold) => {
            "\"circuitBreaker.failures\" must be at least 1"
        }
        ConfigError::Breaker(BreakerError::ZeroOpenFor) => {
            "\"circuitBreaker.openMs\" must be greater than 0"
        }
        ConfigError::Backoff(_) | ConfigError::Budget(_) => "the retry settings are inconsistent",
        ConfigError::Margin => "the margin settings are inconsistent",
    })
}

/// An `ImpossibleError` (a `RangeError` of kind `impossible`, with `weight` and `burst`) for
/// a request that can never fit its quota: the one error for it, from the limiter, the
/// low-level cells and the key machine alike.
/// A weight of 0 has the message of any other bad weight.
pub(crate) fn impossible_error(i: Impossible) -> JsValue {
    let message = match i.n {
        0 => not_a_weight().n(0.0),
        n => Text::new("")
            .n(n as f64)
            .s(" permits can never fit a quota whose burst is ")
            .n(i.burst as f64),
    };
    let fields = fields(&[("weight", i.n as f64), ("burst", i.burst as f64)]);
    ImpossibleError::new(&prefixed(message), &fields).into()
}

/// The second argument of an error class's constructor: `{ name: value, ... }`.
fn fields(fields: &[(&str, f64)]) -> Object {
    let o = Object::new();
    for (k, v) in fields {
        set(&o, k, *v);
    }
    o
}

fn prefixed(message: Text) -> JsString {
    JsString::from(PREFIX).concat(&message.0)
}

/// A `TypeError` (kind `type`) for an option or argument of the wrong type.
pub(crate) fn type_error(message: impl Into<Text>) -> JsValue {
    kind_error(NewTypeError::new(&prefixed(message.into())).into(), "type")
}

/// A `RangeError` (kind `range`, unless the caller names a finer one with [`kind_error`])
/// for an option or argument out of range.
pub(crate) fn range_error(message: impl Into<Text>) -> JsValue {
    kind_error(
        NewRangeError::new(&prefixed(message.into())).into(),
        "range",
    )
}

/// `d` in whole milliseconds, rounded up.
fn ms_up(d: Duration) -> f64 {
    saturating_nanos(d).div_ceil(1_000_000) as f64
}

/// A `RateLimitError` for a wait of `wait`.
fn too_long(wait: Duration, attempts: f64) -> JsValue {
    let ms = ms_up(wait);
    let message = Text::new("the server or the quota asks to wait ")
        .n(ms)
        .s(" ms, longer than maxWaitMs");
    let fields = fields(&[("retryAfterMs", ms), ("attempts", attempts)]);
    RateLimitError::new(&message.0, &fields).into()
}

/// A `CircuitOpenError` with a probe due in `retry_in`.
fn circuit_open(retry_in: Duration, attempts: f64) -> JsValue {
    let ms = ms_up(retry_in);
    let message = Text::new("circuit open: the server kept failing; next try in ")
        .n(ms)
        .s(" ms");
    let fields = fields(&[("retryAfterMs", ms), ("attempts", attempts)]);
    CircuitOpenError::new(&message.0, &fields).into()
}

/// The error of a failed acquisition.
pub(crate) fn acquire_error(e: AcquireError) -> JsValue {
    match e {
        AcquireError::WaitTooLong { wait } => too_long(wait, 0.0),
        AcquireError::CircuitOpen { retry_in } => circuit_open(retry_in, 0.0),
        AcquireError::Impossible(i) => impossible_error(i),
    }
}

/// The error of a throttled fetch that produced no response. A transport failure rethrows
/// what `fetch` rejected with, so callers see the platform's own `TypeError`.
pub(crate) fn client_error(e: ClientError<FetchError>, attempts: u32) -> JsValue {
    let attempts = attempts as f64;
    match e {
        ClientError::Transport(FetchError(js)) => js,
        ClientError::Timeout { after } => {
            let ms = ms_up(after);
            let message = Text::new("no response within ").n(ms).s(" ms");
            let fields = fields(&[("timeoutMs", ms), ("attempts", attempts)]);
            HeadwayTimeoutError::new(&message.0, &fields).into()
        }
        ClientError::WaitTooLong { wait, .. } => too_long(wait, attempts),
        ClientError::CircuitOpen { retry_in } => circuit_open(retry_in, attempts),
        ClientError::Impossible(i) => impossible_error(i),
        ClientError::Shared(why) => {
            unreachable!("the npm package keeps no shared rate store: {why}")
        }
    }
}
