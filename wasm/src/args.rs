//! The arguments the package's methods take, each kind read and checked by one function
//! that every entry point taking it uses: an options argument, a key, a weight, a time, a
//! pause, an HTTP status and response headers.
//!
//! A value of the wrong type is a `TypeError` (kind `type`), one out of range a
//! `RangeError` (kind `range`); the message names the argument and says what was given:
//! `headway-limiter: "weight" must be a positive integer, got 0`.

use js_sys::{Array, Object, Reflect, Symbol};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::errors::{range_error, type_error, Text};
use crate::options::is_set;

/// The key `acquire()`, `tryAcquire()`, `wrap()` and `pause()` use when none is given.
const DEFAULT_KEY: &str = "default";

/// `"name"`, quoted, to start a message about an argument or option.
pub(crate) fn named(name: &str) -> Text {
    Text::new("").quoted(name)
}

/// An options argument: absent (undefined or null, read as no options) or an object.
pub(crate) fn options(v: &JsValue) -> Result<(), JsValue> {
    if is_set(v) && !v.is_object() {
        return Err(type_error(
            Text::new("options must be an object, got ").value(v),
        ));
    }
    Ok(())
}

/// The queue to take a place in: a string, or `"default"` when absent (undefined or null).
pub(crate) fn key(v: &JsValue) -> Result<String, JsValue> {
    if !is_set(v) {
        return Ok(DEFAULT_KEY.to_string());
    }
    v.as_string()
        .ok_or_else(|| type_error(named("key").s(" must be a string, got ").value(v)))
}

/// `pause`'s `origin`: an absolute URL, as a string or a `URL`, read as its origin, the key
/// `fetch` queues its requests under.
pub(crate) fn origin(v: &JsValue) -> Result<String, JsValue> {
    let href = match v.as_string() {
        Some(s) => Some(s),
        None if v.is_object() => crate::options::get(v, "href").as_string(),
        None => None,
    };
    href.as_deref()
        .and_then(crate::options::web_sys_url)
        .ok_or_else(|| type_error(named("origin").s(" must be an absolute URL, got ").value(v)))
}

/// The start of the message for a bad weight, the one message for it everywhere (the
/// `ImpossibleError` of a weight of 0 included).
pub(crate) fn not_a_weight() -> Text {
    named("weight").s(" must be a positive integer, got ")
}

/// An integer from 0 to `max`: a non-number is a `TypeError`, anything else a `RangeError`,
/// both with the message `problem()` starts.
fn whole(v: &JsValue, max: f64, problem: fn() -> Text) -> Result<f64, JsValue> {
    let Some(n) = v.as_f64() else {
        return Err(type_error(problem().value(v)));
    };
    // NaN and the infinities have no zero fraction.
    if n.fract() != 0.0 || !(0.0..=max).contains(&n) {
        return Err(range_error(problem().n(n)));
    }
    Ok(n)
}

/// A weight: the cells one request takes at once, an integer up to 2^32 - 1. A weight of 0
/// passes here and is refused by the quotas as an `ImpossibleError` (with the same message),
/// as the core refuses it.
pub(crate) fn weight(v: &JsValue) -> Result<u32, JsValue> {
    Ok(whole(v, u32::MAX as f64, not_a_weight)? as u32)
}

/// An HTTP status: an integer from 0 (an opaque response) to 65535.
pub(crate) fn status(v: &JsValue) -> Result<u16, JsValue> {
    let problem = || named("status").s(" must be an integer HTTP status, got ");
    Ok(whole(v, u16::MAX as f64, problem)? as u16)
}

/// A non-negative number, fractions and Infinity included: `RangeError` for NaN or a
/// negative number.
fn non_negative_number(n: f64, name: &str) -> Result<f64, JsValue> {
    if n.is_nan() || n < 0.0 {
        return Err(range_error(
            named(name).s(" must be a non-negative number, got ").n(n),
        ));
    }
    Ok(n)
}

/// [`non_negative_number`] from any value: `TypeError` for one that is not a number.
pub(crate) fn non_negative(v: &JsValue, name: &str) -> Result<f64, JsValue> {
    let n = v.as_f64().ok_or_else(|| {
        type_error(
            named(name)
                .s(" must be a non-negative number, got ")
                .value(v),
        )
    })?;
    non_negative_number(n, name)
}

/// A time (or a count) of the caller's clock: a non-negative number, fractions dropped and
/// huge values saturating; NaN or a negative number is a `RangeError`.
pub(crate) fn to_u64(v: f64, name: &str) -> Result<u64, JsValue> {
    Ok(non_negative_number(v, name)? as u64)
}

/// How long to pause, in milliseconds (argument `name`), as nanoseconds: a non-negative
/// number, saturating.
pub(crate) fn pause_ms(v: &JsValue, name: &str) -> Result<u64, JsValue> {
    Ok((non_negative(v, name)? * 1e6) as u64)
}

/// A response's headers: a `Headers` object or any other iterable of `[name, value]` pairs,
/// a record `{ name: value }`, or nothing (undefined or null). Names and values are strings.
pub(crate) fn headers(v: &JsValue) -> Result<Vec<(String, String)>, JsValue> {
    let mut out = Vec::new();
    if !is_set(v) {
        return Ok(out);
    }
    let shape = || {
        type_error(
            named("headers")
                .s(" must be a Headers object, [name, value] pairs or a record, got ")
                .value(v),
        )
    };
    if !v.is_object() {
        return Err(shape());
    }
    let iterable = Reflect::get(v, &Symbol::iterator()).is_ok_and(|f| f.is_function());
    let entries = if iterable {
        Array::from(v)
    } else {
        Object::entries(v.unchecked_ref())
    };
    for entry in entries.iter() {
        let pair = entry
            .dyn_ref::<Array>()
            .filter(|pair| pair.length() == 2)
            .ok_or_else(shape)?;
        out.push(header(pair)?);
    }
    Ok(out)
}

/// One `[name, value]` pair of strings.
fn header(pair: &Array) -> Result<(String, String), JsValue> {
    let (name, value) = (pair.get(0), pair.get(1));
    match (name.as_string(), value.as_string()) {
        (Some(name), Some(value)) => Ok((name, value)),
        _ => {
            let bad = if name.is_string() { value } else { name };
            Err(type_error(
                named("headers")
                    .s(" names and values must be strings, got ")
                    .value(&bad),
            ))
        }
    }
}
