//! The arguments the package's methods take, each kind read and checked by one function
//! that every entry point taking it uses: an options argument, a key, a weight, a time and
//! a pause.
//!
//! A value of the wrong type is a `TypeError` (kind `type`), one out of range a
//! `RangeError` (kind `range`); the message names the argument and says what was given:
//! `headway-limiter: "weight" must be a positive integer, got 0`.

use wasm_bindgen::prelude::*;

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
