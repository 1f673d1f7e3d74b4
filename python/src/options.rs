//! The Python options of `Limiter(...)`, checked and turned into the engine's
//! [`ClientConfig`]. Every bad option raises at construction, naming the option.

use std::time::Duration;

use headway_core::Quota;
use headway_engine::{BreakerPolicy, BudgetPolicy, ClientConfig, MarginPolicy};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use crate::errors::{config, wrong_type};

/// A short description of a value's type, for messages.
fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}

/// One quota string such as `"100/min"` or `"30000/h burst 10"`, with `burst` applied when
/// the string names none.
fn quota(
    py: Python<'_>,
    option: &str,
    v: &Bound<'_, PyAny>,
    burst: Option<u32>,
) -> PyResult<Quota> {
    let Ok(s) = v.cast::<PyString>() else {
        return Err(wrong_type(format!(
            "\"{option}\" must be a quota string such as \"100/min\", got {}",
            type_name(v)
        )));
    };
    let s: String = s.extract()?;
    let s = s.as_str();
    let q: Quota = s
        .parse()
        .map_err(|e| config(py, format!("\"{option}\": {e}, got {s:?}")))?;
    match burst {
        Some(b) if !s.contains("burst") => q
            .with_burst(b)
            .map_err(|e| config(py, format!("\"burst\": {e}"))),
        _ => Ok(q),
    }
}

/// `None`, one quota string, or a list of them (tiers, all of which must admit).
pub fn quotas(
    py: Python<'_>,
    option: &str,
    v: &Bound<'_, PyAny>,
    burst: Option<u32>,
) -> PyResult<Vec<Quota>> {
    if v.is_none() {
        return Ok(Vec::new());
    }
    if v.is_instance_of::<PyString>() {
        return Ok(vec![quota(py, option, v, burst)?]);
    }
    let Ok(items) = v.try_iter() else {
        return Err(wrong_type(format!(
            "\"{option}\" must be a quota string or a list of them, got {}",
            type_name(v)
        )));
    };
    let mut out = Vec::new();
    for item in items {
        out.push(quota(py, option, &item?, burst)?);
    }
    if out.is_empty() {
        return Err(config(
            py,
            format!("\"{option}\" must not be an empty list (use None for no quota)"),
        ));
    }
    Ok(out)
}

/// An optional integer of at least `min`.
pub fn count(
    py: Python<'_>,
    option: &str,
    v: &Bound<'_, PyAny>,
    min: u64,
) -> PyResult<Option<u64>> {
    if v.is_none() {
        return Ok(None);
    }
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(wrong_type(format!(
            "\"{option}\" must be an int, got {}",
            type_name(v)
        )));
    }
    match v.extract::<u64>() {
        Ok(n) if n >= min => Ok(Some(n)),
        _ => Err(config(
            py,
            format!("\"{option}\" must be at least {min}, got {v}"),
        )),
    }
}

/// An optional integer of at least `min` that fits `u32`.
pub fn count_u32(
    py: Python<'_>,
    option: &str,
    v: &Bound<'_, PyAny>,
    min: u32,
) -> PyResult<Option<u32>> {
    match count(py, option, v, min.into())? {
        None => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            config(
                py,
                format!("\"{option}\" must be at most {}, got {n}", u32::MAX),
            )
        }),
    }
}

/// A duration in seconds (int or float, finite or `inf`, at least zero; more than zero when
/// `positive`).
pub fn seconds(
    py: Python<'_>,
    option: &str,
    v: &Bound<'_, PyAny>,
    positive: bool,
) -> PyResult<Duration> {
    if v.is_instance_of::<PyBool>()
        || !(v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>())
    {
        return Err(wrong_type(format!(
            "\"{option}\" must be a number of seconds, got {}",
            type_name(v)
        )));
    }
    let s: f64 = v.extract()?;
    if s.is_nan() || s < 0.0 || (positive && s == 0.0) {
        let bound = if positive {
            "greater than 0"
        } else {
            "at least 0"
        };
        return Err(config(
            py,
            format!("\"{option}\" must be {bound} seconds, got {s}"),
        ));
    }
    Ok(Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
}

/// A boolean.
pub fn flag(option: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    v.cast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| wrong_type(format!("\"{option}\" must be a bool, got {}", type_name(v))))
}

/// Everything `Limiter(...)` takes, as the Python objects given.
pub struct Options<'py> {
    /// `quotas`: `None`, a string, or a list of strings.
    pub quotas: Bound<'py, PyAny>,
    /// `burst`: applied to every quota string that names none.
    pub burst: Bound<'py, PyAny>,
    /// `concurrency`: requests in flight across all keys.
    pub concurrency: Bound<'py, PyAny>,
    /// `per_key_concurrency`: requests in flight per key.
    pub per_key_concurrency: Bound<'py, PyAny>,
    /// `max_wait`: seconds.
    pub max_wait: Bound<'py, PyAny>,
    /// `timeout`: per-attempt seconds, or `None`.
    pub timeout: Bound<'py, PyAny>,
    /// `max_retries`: retries per call.
    pub max_retries: Bound<'py, PyAny>,
    /// `key_quotas`: a dict of key to quotas.
    pub key_quotas: Bound<'py, PyAny>,
    /// `learn`, `breaker`, `budget`, `margin`, `retry_non_idempotent`.
    pub learn: Bound<'py, PyAny>,
    /// See `learn`.
    pub breaker: Bound<'py, PyAny>,
    /// See `learn`.
    pub budget: Bound<'py, PyAny>,
    /// See `learn`.
    pub margin: Bound<'py, PyAny>,
    /// See `learn`.
    pub retry_non_idempotent: Bound<'py, PyAny>,
}

impl Options<'_> {
    /// Checks every option and builds the engine's configuration.
    pub fn config(&self, py: Python<'_>) -> PyResult<ClientConfig> {
        let burst = count_u32(py, "burst", &self.burst, 1)?;
        let mut cfg = ClientConfig {
            quotas: quotas(py, "quotas", &self.quotas, burst)?,
            ..ClientConfig::default()
        };
        if let Some(n) = count(py, "concurrency", &self.concurrency, 1)? {
            cfg.concurrency = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        cfg.per_key_concurrency =
            count_u32(py, "per_key_concurrency", &self.per_key_concurrency, 1)?;
        cfg.max_wait = seconds(py, "max_wait", &self.max_wait, false)?;
        cfg.timeout = if self.timeout.is_none() {
            None
        } else {
            Some(seconds(py, "timeout", &self.timeout, true)?)
        };
        if let Some(n) = count_u32(py, "max_retries", &self.max_retries, 0)? {
            cfg.backoff = cfg.backoff.with_max_attempts(n);
        }
        if !self.key_quotas.is_none() {
            let Ok(dict) = self.key_quotas.cast::<PyDict>() else {
                return Err(wrong_type(format!(
                    "\"key_quotas\" must be a dict of key to quotas, got {}",
                    type_name(&self.key_quotas)
                )));
            };
            for (k, v) in dict.iter() {
                let key: String = k.extract().map_err(|_| {
                    wrong_type(format!(
                        "\"key_quotas\" keys must be strings, got {}",
                        type_name(&k)
                    ))
                })?;
                let option = format!("key_quotas[{key:?}]");
                let qs = quotas(py, &option, &v, burst)?;
                if qs.is_empty() {
                    return Err(config(
                        py,
                        format!("\"{option}\" must name at least one quota"),
                    ));
                }
                cfg.key_quotas.push((key, qs));
            }
        }
        cfg.learn = flag("learn", &self.learn)?;
        cfg.breaker = flag("breaker", &self.breaker)?.then(BreakerPolicy::default);
        cfg.budget = flag("budget", &self.budget)?.then(BudgetPolicy::default);
        cfg.margin = flag("margin", &self.margin)?.then(MarginPolicy::default);
        cfg.retry_non_idempotent = flag("retry_non_idempotent", &self.retry_non_idempotent)?;
        Ok(cfg)
    }
}

/// Checks that `clock` has `time()` and `call_at(when, callback)`, as an event loop has.
pub fn clock(v: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
    if v.is_none() {
        return Ok(None);
    }
    for member in ["time", "call_at"] {
        let ok = v.getattr(member).is_ok_and(|m| m.is_callable());
        if !ok {
            return Err(wrong_type(format!(
                "\"clock\" must have a callable \"{member}\" (an asyncio event loop does), got {}",
                type_name(v)
            )));
        }
    }
    Ok(Some(v.clone().unbind()))
}
