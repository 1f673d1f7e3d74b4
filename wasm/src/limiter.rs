//! `RawLimiter`: the engine's client and keyed limiter behind the JavaScript `Limiter`.

use std::time::Duration;

use headway_core::duration::saturating_nanos;
use headway_core::Quota;
use headway_engine::{AcquireError, Event, Permit, QuotaSource, TryAcquireError};
use headway_web::WebClient;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{AbortSignal, Request};

use crate::abort::Abortable;
use crate::args::{self, named};
use crate::errors::{acquire_error, client_error, config_error, type_error, Text};
use crate::options::{get, is_set, parse_options};

/// A rate limiter and throttled `fetch` sharing one set of quotas and in-flight caps.
/// Wrapped by `Limiter` in `js/index.js`.
#[wasm_bindgen]
#[derive(Debug)]
pub struct RawLimiter {
    client: WebClient,
}

/// The right to proceed, holding an in-flight slot until [`RawPermit::release`].
#[wasm_bindgen]
#[derive(Debug)]
pub struct RawPermit {
    permit: Option<Permit>,
}

#[wasm_bindgen]
impl RawPermit {
    /// Gives the in-flight slot back. Calling it again does nothing.
    pub fn release(&mut self) {
        self.permit = None;
    }

    /// Whether the permit is still held.
    #[wasm_bindgen(getter)]
    pub fn held(&self) -> bool {
        self.permit.is_some()
    }
}

fn set(obj: &Object, name: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(name), &value.into());
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The `{ key, weight }` of `acquire`, `tryAcquire` and `wrap`: the key's queue (default
/// `"default"`) and the cells to take (default 1).
fn place(options: &JsValue) -> Result<(String, u32), JsValue> {
    args::options(options)?;
    let key = args::key(&get(options, "key"))?;
    let weight = get(options, "weight");
    let weight = if is_set(&weight) {
        args::weight(&weight)?
    } else {
        1
    };
    Ok((key, weight))
}

/// The `signal` of `acquire`'s options: an `AbortSignal`, or none.
fn signal(options: &JsValue) -> Result<Option<AbortSignal>, JsValue> {
    let signal = get(options, "signal");
    if !is_set(&signal) {
        return Ok(None);
    }
    signal
        .dyn_into()
        .map(Some)
        .map_err(|v| type_error(named("signal").s(" must be an AbortSignal, got ").value(&v)))
}

/// An engine event as the JavaScript `Limiter` dispatches it: its type and its `detail`.
///
/// - `"pause"`: `{ key, pauseMs }`, a server's answer paused `key` (for `fetch`, the origin).
/// - `"learn"`: `{ key, quotas: [{ limit, periodMs, burst }] }`, every quota now in force
///   for a key whose server-declared quotas changed.
/// - `"retry"`: `{ key, attempt, status, delayMs, paused }`, an attempt is retried after
///   `delayMs` (`status` null when no response came; `paused` when the wait is the key's
///   pause, shared by every waiter).
///
/// `None` for an event this version does not know.
fn event_detail(event: &Event<'_>) -> Option<(&'static str, JsValue)> {
    let detail = Object::new();
    let kind = match event {
        Event::Paused { key, pause } => {
            set(&detail, "key", *key);
            set(&detail, "pauseMs", ms(saturating_nanos(*pause)));
            "pause"
        }
        Event::Learned { key, quotas } => {
            set(&detail, "key", *key);
            set(&detail, "quotas", quota_list(quotas));
            "learn"
        }
        Event::Retry {
            key,
            attempt,
            status,
            delay,
            paused,
        } => {
            set(&detail, "key", *key);
            set(&detail, "attempt", *attempt as f64);
            let status = status.map_or(JsValue::NULL, |s| JsValue::from(s as f64));
            set(&detail, "status", status);
            set(&detail, "delayMs", ms(saturating_nanos(*delay)));
            set(&detail, "paused", *paused);
            "retry"
        }
        _ => return None,
    };
    Some((kind, detail.into()))
}

/// `[{ limit, periodMs, burst }]`, as `stats()` and the `"learn"` event show quotas.
fn quota_list(quotas: &[Quota]) -> js_sys::Array {
    let list = js_sys::Array::new();
    for q in quotas {
        let qo = Object::new();
        set(&qo, "limit", q.limit() as f64);
        set(&qo, "periodMs", ms(q.period_ns()));
        set(&qo, "burst", q.burst() as f64);
        list.push(&qo);
    }
    list
}

#[wasm_bindgen]
impl RawLimiter {
    /// Builds a limiter from the options object described in `index.d.ts`. `dispatch`, when
    /// a function, is called as `dispatch(type, detail)` for each event the engine reports:
    /// `"pause"`, `"learn"` and `"retry"` (see [`event_detail`]).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, dispatch: JsValue) -> Result<RawLimiter, JsValue> {
        let options = parse_options(&options)?;
        let runtime = match dispatch.dyn_into::<Function>() {
            Ok(dispatch) => options.runtime.with_events(move |event| {
                if let Some((kind, detail)) = event_detail(event) {
                    // The JS side's dispatch hands the event to dispatchEvent, which reports
                    // a listener's exception itself and does not throw.
                    let _ = dispatch.call2(&JsValue::NULL, &JsValue::from_str(kind), &detail);
                }
            }),
            Err(_) => options.runtime,
        };
        let client = WebClient::with_runtime(runtime, options.config).map_err(config_error)?;
        Ok(RawLimiter { client })
    }

    /// `{ signal, key, weight }`: waits in `key`'s queue for `weight` cells; resolves to a
    /// `RawPermit`. Aborting `signal` leaves the queue and rejects with the signal's reason;
    /// bad options, or a signal already aborted, throw.
    pub fn acquire(&self, options: &JsValue) -> Result<Promise, JsValue> {
        let (key, weight) = place(options)?;
        let signal = signal(options)?;
        if let Some(signal) = signal.as_ref().filter(|s| s.aborted()) {
            return Err(signal.reason());
        }
        let waiting = self.client.client().limiter().acquire_n(&key, weight);
        Ok(future_to_promise(async move {
            match Abortable::new(waiting, signal).await? {
                Ok(permit) => Ok(RawPermit {
                    permit: Some(permit),
                }
                .into()),
                Err(e) => Err(acquire_error(e)),
            }
        }))
    }

    /// `{ key, weight }`: a permit now, or `undefined` when the rate or the in-flight cap
    /// says not yet. Throws when `weight` can never fit the burst.
    #[wasm_bindgen(js_name = tryAcquire)]
    pub fn try_acquire(&self, options: &JsValue) -> Result<Option<RawPermit>, JsValue> {
        let (key, weight) = place(options)?;
        match self.client.client().limiter().try_acquire_n(&key, weight) {
            Ok(permit) => Ok(Some(RawPermit {
                permit: Some(permit),
            })),
            Err(TryAcquireError::NotYet { .. })
            | Err(TryAcquireError::AtCapacity)
            | Err(TryAcquireError::Never(AcquireError::WaitTooLong { .. })) => Ok(None),
            Err(TryAcquireError::Never(e)) => Err(acquire_error(e)),
        }
    }

    /// What `wrap(fn, { key, weight, signal })` checks before it wraps: `fn` a function and
    /// the options as `acquire` takes them.
    #[wasm_bindgen(js_name = checkWrap)]
    pub fn check_wrap(&self, f: &JsValue, options: &JsValue) -> Result<(), JsValue> {
        if !f.is_function() {
            return Err(type_error(
                named("fn").s(" must be a function, got ").value(f),
            ));
        }
        place(options)?;
        signal(options).map(|_| ())
    }

    /// Pauses for `ms` milliseconds `{ origin }` (any URL: its origin is the key `fetch`
    /// queues it under), `{ key }` (a key as given), or, with neither, every key: those in
    /// use, the `"default"` key of `acquire`, and any first used before the pause ends.
    pub fn pause(&self, ms: &JsValue, options: &JsValue) -> Result<(), JsValue> {
        let ns = args::pause_ms(ms, "ms")?;
        args::options(options)?;
        let (key, origin) = (get(options, "key"), get(options, "origin"));
        let limiter = self.client.client().limiter();
        let pause = Duration::from_nanos(ns);
        match (is_set(&key), is_set(&origin)) {
            (true, true) => {
                return Err(type_error(Text::new(
                    "give \"key\" or \"origin\", not both",
                )))
            }
            (true, false) => limiter.pause_for(&args::key(&key)?, pause),
            (false, true) => limiter.pause_for(&args::origin(&origin)?, pause),
            (false, false) => limiter.pause_all_for(pause),
        }
        Ok(())
    }

    /// A throttled `fetch` of `request`: queued per origin, retried on 429/503 (and on 5xx
    /// and network errors when idempotent), following `Retry-After` and rate-limit headers.
    /// Resolves to the `Response`; aborting `signal` rejects with its reason.
    pub fn fetch(&self, request: Request, signal: Option<AbortSignal>) -> Promise {
        let client = self.client.clone();
        future_to_promise(async move {
            match Abortable::new(async move { client.fetch(request).await }, signal).await? {
                Ok(sent) => Ok(sent.response.into_response().into()),
                Err(failure) => Err(client_error(failure.error, failure.attempts)),
            }
        })
    }

    /// A snapshot: counters, and per key its quotas, pause, queue and requests in flight.
    pub fn stats(&self) -> JsValue {
        let s = self.client.stats();
        let out = Object::new();
        set(&out, "sent", s.sent as f64);
        set(&out, "succeeded", s.succeeded as f64);
        set(&out, "unsuccessful", s.unsuccessful as f64);
        set(&out, "rateLimited", s.rate_limited as f64);
        set(&out, "retries", s.retries as f64);
        set(&out, "failed", s.failed as f64);
        set(&out, "queued", s.queued as f64);
        let in_flight: u32 = s.keys.iter().map(|(_, k)| k.in_flight).sum();
        set(&out, "inFlight", in_flight as f64);
        let keys = Object::new();
        for (key, k) in &s.keys {
            let o = Object::new();
            set(&o, "quotas", quota_list(&k.quotas));
            let source = match k.source {
                QuotaSource::None => "none",
                QuotaSource::Configured => "configured",
                QuotaSource::Learned => "learned",
            };
            set(&o, "source", source);
            set(&o, "pausedForMs", ms(saturating_nanos(k.paused_for)));
            set(&o, "queued", k.queued as f64);
            set(&o, "inFlight", k.in_flight as f64);
            set(&o, "marginMs", ms(saturating_nanos(k.margin)));
            set(&keys, key, o);
        }
        set(&out, "keys", keys);
        out.into()
    }
}
