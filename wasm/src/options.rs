//! Reading the JavaScript options object of `new Limiter(options)`.

use std::time::Duration;

use headway_core::duration::{parse_duration, unit_nanos, DurationError};
use headway_core::{Quota, NANOS_PER_MILLI};
use headway_engine::{ClientConfig, MarginPolicy};
use headway_web::{WebClock, WebRuntime};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::args::{self, named};
use crate::errors::{quota_error, range_error, type_error, Text};

/// What `new Limiter(options)` configures: the engine's client settings plus the
/// limiter's own.
#[derive(Debug, Clone)]
pub struct Options {
    /// The engine configuration (quotas, caps, retries, waits).
    pub config: ClientConfig,
    /// The host's clock and timers, or the `clock` option's.
    pub runtime: WebRuntime,
}

pub(crate) fn get(obj: &JsValue, name: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

pub(crate) fn is_set(v: &JsValue) -> bool {
    !v.is_undefined() && !v.is_null()
}

/// An integer option from `min` to `max`.
pub(crate) fn integer(v: &JsValue, name: &str, min: f64, max: f64) -> Result<f64, JsValue> {
    let n = v
        .as_f64()
        .ok_or_else(|| type_error(named(name).s(" must be a number, got ").value(v)))?;
    if !n.is_finite() || n.fract() != 0.0 || n < min || n > max {
        return Err(range_error(
            named(name)
                .s(" must be an integer from ")
                .n(min)
                .s(" to ")
                .n(max)
                .s(", got ")
                .n(n),
        ));
    }
    Ok(n)
}

/// A quota's limit or burst: 1 to 2^32 - 1, or 0, which the quota refuses with its own
/// error kind.
fn count(v: &JsValue, name: &str) -> Result<u32, JsValue> {
    if v.as_f64() == Some(0.0) {
        return Ok(0);
    }
    Ok(integer(v, name, 1.0, u32::MAX as f64)? as u32)
}

pub(crate) fn boolean(v: &JsValue, name: &str) -> Result<bool, JsValue> {
    v.as_bool()
        .ok_or_else(|| type_error(named(name).s(" must be a boolean, got ").value(v)))
}

/// Milliseconds (a number) or a duration string (`"1m"`, `"1.5s"`, `"250ms"`, `"hour"`) to
/// nanoseconds.
fn duration_ns(v: &JsValue, name: &str) -> Result<u64, JsValue> {
    if let Some(s) = v.as_string() {
        let s = s.trim();
        return unit_nanos(s)
            .map(Ok)
            .unwrap_or_else(|| parse_duration(s))
            .map_err(|e| {
                let problem = match e {
                    DurationError::Overflow => " is too long: ",
                    _ => " must be a duration such as \"1m\", \"1.5s\" or \"250ms\", got ",
                };
                range_error(named(name).s(problem).quoted(s))
            });
    }
    let ms = v.as_f64().ok_or_else(|| {
        type_error(
            named(name)
                .s(" must be milliseconds or a duration string such as \"1m\", got ")
                .value(v),
        )
    })?;
    if !ms.is_finite() || ms < 0.0 {
        return Err(range_error(
            named(name)
                .s(" must be a non-negative number of milliseconds, got ")
                .n(ms),
        ));
    }
    Ok((ms * NANOS_PER_MILLI as f64) as u64)
}

/// One quota: a string `"100/min burst 5"`, `{ limit, per, burst }` (`per` in milliseconds
/// or a duration string) or `{ limit, periodNs, burst }`. Out-of-range values are
/// `RangeError`s whose `kind` names the problem (`zero_limit`, `zero_period`, ...).
pub(crate) fn quota(v: &JsValue, where_: &Text) -> Result<Quota, JsValue> {
    let at = || where_.clone();
    if let Some(s) = v.as_string() {
        return s.parse().map_err(|e| quota_error(at(), e));
    }
    if !v.is_object() {
        return Err(type_error(
            at().s(" must be { limit, per } or a string such as \"100/min\", got ")
                .value(v),
        ));
    }
    let limit = get(v, "limit");
    if !is_set(&limit) {
        return Err(type_error(at().s(": \"limit\" is required")));
    }
    let limit = count(&limit, "limit")?;
    let per = get(v, "per");
    let period = get(v, "periodNs");
    let period_ns = match (is_set(&per), is_set(&period)) {
        (true, false) => duration_ns(&per, "per")?,
        (false, true) => integer(&period, "periodNs", 0.0, u64::MAX as f64)? as u64,
        (true, true) => {
            return Err(type_error(
                at().s(": give \"per\" or \"periodNs\", not both"),
            ))
        }
        (false, false) => {
            return Err(type_error(at().s(
                ": \"per\" is required (milliseconds or a duration such as \"1m\")",
            )))
        }
    };
    let q = Quota::from_nanos(limit, period_ns).map_err(|e| quota_error(at(), e))?;
    let burst = get(v, "burst");
    if is_set(&burst) {
        let b = count(&burst, "burst")?;
        return q.with_burst(b).map_err(|e| quota_error(at(), e));
    }
    Ok(q)
}

/// Tiers: one quota, or an array of them.
fn quotas(v: &JsValue, where_: Text) -> Result<Vec<Quota>, JsValue> {
    if let Some(arr) = v.dyn_ref::<js_sys::Array>() {
        if arr.length() == 0 {
            return Err(range_error(where_.s(" must not be empty")));
        }
        let mut out = Vec::with_capacity(arr.length() as usize);
        for (i, t) in arr.iter().enumerate() {
            out.push(quota(&t, &where_.clone().s("[").n(i as f64).s("]"))?);
        }
        return Ok(out);
    }
    Ok(vec![quota(v, &where_)?])
}

/// The options `new Limiter(options)` reads; any other is a `TypeError`.
const KNOWN: &[&str] = &[
    "limit",
    "per",
    "periodNs",
    "burst",
    "quota",
    "tiers",
    "origins",
    "concurrency",
    "perOriginConcurrency",
    "maxWaitMs",
    "timeoutMs",
    "retries",
    "learn",
    "margin",
    "retryNonIdempotent",
    "retryBudget",
    "circuitBreaker",
    "clock",
];

/// What to write instead of an option of p-queue, bottleneck or ky that Headway spells
/// otherwise, or `None` for a name no such library uses.
fn headway_name(option: &str) -> Option<&'static str> {
    Some(match option {
        "interval" | "intervalCap" => {
            "p-queue's { intervalCap: n, interval: ms } is { limit: n, per: ms }"
        }
        "maxConcurrent" => "bottleneck's maxConcurrent is \"concurrency\"",
        "minTime" => "bottleneck's { minTime: ms } is { limit: 1, per: ms }",
        "reservoir" | "reservoirRefreshAmount" | "reservoirRefreshInterval" => {
            "bottleneck's reservoir refreshed with n every ms is { limit: n, per: ms, burst: n }"
        }
        "timeout" => "the per-attempt timeout is \"timeoutMs\"",
        "maxWait" => "the longest wait is \"maxWaitMs\"",
        "retry" | "maxRetries" => "the retry count is \"retries\"",
        "rate" | "quotas" => "a quota is \"quota\" (a string), \"limit\"/\"per\" or \"tiers\"",
        "autoStart"
        | "carryoverConcurrencyCount"
        | "queueClass"
        | "throwOnTimeout"
        | "highWater"
        | "strategy"
        | "penalty"
        | "id"
        | "datastore" => "Headway has no such setting",
        _ => return None,
    })
}

/// Throws a `TypeError` for the first own property of `v` not in `known`, naming it and,
/// for another library's name, what Headway calls it. `where_` says whose options they are.
fn reject_unknown(v: &JsValue, known: &[&str], where_: &str) -> Result<(), JsValue> {
    let Some(obj) = v.dyn_ref::<Object>() else {
        return Ok(());
    };
    for name in Object::keys(obj).iter() {
        let name = name.as_string().unwrap_or_default();
        if known.contains(&name.as_str()) {
            continue;
        }
        let message = Text::new("unknown ").s(where_).s(" ").quoted(&name);
        let message = match headway_name(&name) {
            Some(hint) => message.s(": ").s(hint),
            None => message.s("; the options are ").s(&known.join(", ")),
        };
        return Err(type_error(message));
    }
    Ok(())
}

/// Reads `new Limiter(options)`. Throws `TypeError` for a wrong type or an unknown option
/// (suggesting Headway's name for p-queue's, bottleneck's and ky's) and `RangeError` for a
/// value out of range, naming the option.
pub fn parse_options(v: &JsValue) -> Result<Options, JsValue> {
    let mut config = ClientConfig::default();
    if !is_set(v) {
        return Ok(Options {
            config,
            runtime: WebRuntime::new(),
        });
    }
    args::options(v)?;
    reject_unknown(v, KNOWN, "option")?;
    let tiers = get(v, "tiers");
    let quota_str = get(v, "quota");
    let limit = get(v, "limit");
    let given = [&tiers, &quota_str, &limit]
        .iter()
        .filter(|x| is_set(x))
        .count();
    if given > 1 {
        return Err(type_error(
            "give only one of \"limit\"/\"per\", \"quota\" or \"tiers\"",
        ));
    }
    if is_set(&tiers) {
        if !js_sys::Array::is_array(&tiers) {
            return Err(type_error("\"tiers\" must be an array of { limit, per }"));
        }
        config.quotas = quotas(&tiers, Text::new("tiers"))?;
    } else if is_set(&quota_str) {
        config.quotas = vec![quota(&quota_str, &Text::new("quota"))?];
    } else if is_set(&limit) {
        config.quotas = vec![quota(v, &Text::new("options"))?];
    } else if is_set(&get(v, "per")) || is_set(&get(v, "burst")) {
        return Err(type_error("\"per\" and \"burst\" need \"limit\""));
    }
    let origins = get(v, "origins");
    if is_set(&origins) {
        if !origins.is_object() || js_sys::Array::is_array(&origins) {
            return Err(type_error(
                "\"origins\" must map origins to quotas, e.g. { \"https://api.example.com\": { limit: 10, per: \"1s\" } }",
            ));
        }
        for entry in Object::entries(origins.unchecked_ref()).iter() {
            let pair: js_sys::Array = entry.unchecked_into();
            let key = pair.get(0).as_string().unwrap_or_default();
            let origin = normalize_origin(&key)?;
            let where_ = Text::new("origins[").quoted(&key).s("]");
            config
                .key_quotas
                .push((origin, quotas(&pair.get(1), where_)?));
        }
    }
    let n = get(v, "concurrency");
    if is_set(&n) {
        config.concurrency = Some(integer(&n, "concurrency", 1.0, 1e9)? as usize);
    }
    let n = get(v, "perOriginConcurrency");
    if is_set(&n) {
        config.per_key_concurrency =
            Some(integer(&n, "perOriginConcurrency", 1.0, u32::MAX as f64)? as u32);
    }
    let n = get(v, "maxWaitMs");
    if is_set(&n) {
        config.max_wait = Duration::from_nanos(duration_ns(&n, "maxWaitMs")?);
    }
    let n = get(v, "timeoutMs");
    if n.is_null() || n.as_f64() == Some(0.0) {
        config.timeout = None;
    } else if is_set(&n) {
        config.timeout = Some(Duration::from_nanos(duration_ns(&n, "timeoutMs")?));
    }
    let n = get(v, "retries");
    if is_set(&n) {
        let retries = integer(&n, "retries", 0.0, 1000.0)? as u32;
        config.backoff = config.backoff.with_max_attempts(retries);
    }
    let n = get(v, "learn");
    if is_set(&n) {
        config.learn = boolean(&n, "learn")?;
    }
    // The margin is on by default, as in the Rust client: a fetch's way to the server has
    // jitter it covers. It only ever spaces keys that `fetch` sends on; a key used only by
    // `acquire()` never heard from a server and goes exactly on its quotas.
    config.margin = Some(MarginPolicy::default());
    let n = get(v, "margin");
    if n.as_bool() == Some(false) {
        config.margin = None;
    } else if is_set(&n) && n.as_bool() != Some(true) {
        return Err(type_error("\"margin\" must be a boolean"));
    }
    let n = get(v, "retryNonIdempotent");
    if is_set(&n) {
        config.retry_non_idempotent = boolean(&n, "retryNonIdempotent")?;
    }
    let n = get(v, "retryBudget");
    if n.as_bool() == Some(false) {
        config.budget = None;
    } else if is_set(&n) && n.as_bool() != Some(true) {
        return Err(type_error("\"retryBudget\" must be a boolean"));
    }
    let n = get(v, "circuitBreaker");
    if n.as_bool() == Some(false) {
        config.breaker = None;
    } else if is_set(&n) && n.as_bool() != Some(true) {
        if !n.is_object() {
            return Err(type_error(
                "\"circuitBreaker\" must be a boolean or { failures, openMs }",
            ));
        }
        reject_unknown(&n, &["failures", "openMs"], "circuitBreaker option")?;
        let mut breaker = config.breaker.unwrap_or_default();
        let f = get(&n, "failures");
        if is_set(&f) {
            breaker.failure_threshold =
                integer(&f, "circuitBreaker.failures", 1.0, u32::MAX as f64)? as u32;
        }
        let o = get(&n, "openMs");
        if is_set(&o) {
            breaker.open_for_ns = duration_ns(&o, "circuitBreaker.openMs")?;
        }
        config.breaker = Some(breaker);
    }
    let clock = get(v, "clock");
    let runtime = if is_set(&clock) {
        let clock = WebClock::from_js(clock).map_err(|e| {
            let problem = match e.member {
                "" => Text::new("\"clock\" must be an object with now(), setTimeout(fn, ms) and clearTimeout(handle)"),
                m => Text::new("\"clock\": ").quoted(m).s(" must be a function"),
            };
            type_error(problem)
        })?;
        WebRuntime::with_clock(clock)
    } else {
        WebRuntime::new()
    };
    Ok(Options { config, runtime })
}

/// `https://API.example.com/` -> `https://api.example.com`, as the transport keys requests.
fn normalize_origin(s: &str) -> Result<String, JsValue> {
    web_sys_url(s).ok_or_else(|| {
        type_error(
            Text::new("\"origins\": ")
                .quoted(s)
                .s(" is not an absolute URL"),
        )
    })
}

/// The origin of the absolute URL `s` (`https://API.example.com/x` -> `https://api.example.com`),
/// as `URL` reads it; `None` when `s` is not one.
pub(crate) fn web_sys_url(s: &str) -> Option<String> {
    let url = js_sys::global();
    let ctor = Reflect::get(&url, &JsValue::from_str("URL")).ok()?;
    let ctor: js_sys::Function = ctor.dyn_into().ok()?;
    let args = js_sys::Array::of1(&JsValue::from_str(s));
    let obj = Reflect::construct(&ctor, &args).ok()?;
    Reflect::get(&obj, &JsValue::from_str("origin"))
        .ok()?
        .as_string()
}
