//! `RawLimiter`: the engine's client and keyed limiter behind the JavaScript `Limiter`.

use std::time::Duration;

use headway_core::duration::saturating_nanos;
use headway_engine::{AcquireError, Permit, QuotaSource, TryAcquireError};
use headway_web::WebClient;
use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{AbortSignal, Request};

use crate::abort::Abortable;
use crate::errors::{acquire_error, client_error, config_error};
use crate::options::parse_options;

/// The key `acquire()` and `tryAcquire()` use when none is given.
const DEFAULT_KEY: &str = "default";

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

#[wasm_bindgen]
impl RawLimiter {
    /// Builds a limiter from the options object described in `index.d.ts`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<RawLimiter, JsValue> {
        let options = parse_options(&options)?;
        let client =
            WebClient::with_runtime(options.runtime, options.config).map_err(config_error)?;
        Ok(RawLimiter { client })
    }

    /// Waits in `key`'s queue for `weight` cells; resolves to a `RawPermit`. Aborting
    /// `signal` leaves the queue and rejects with the signal's reason.
    pub fn acquire(
        &self,
        key: Option<String>,
        weight: u32,
        signal: Option<AbortSignal>,
    ) -> Promise {
        let key = key.unwrap_or_else(|| DEFAULT_KEY.to_string());
        let waiting = self
            .client
            .client()
            .limiter()
            .acquire_n(&key, weight.max(1));
        future_to_promise(async move {
            match Abortable::new(waiting, signal).await? {
                Ok(permit) => Ok(RawPermit {
                    permit: Some(permit),
                }
                .into()),
                Err(e) => Err(acquire_error(e)),
            }
        })
    }

    /// A permit now, or `undefined` when the rate or the in-flight cap says not yet.
    /// Throws when `weight` can never fit the burst.
    #[wasm_bindgen(js_name = tryAcquire)]
    pub fn try_acquire(
        &self,
        key: Option<String>,
        weight: u32,
    ) -> Result<Option<RawPermit>, JsValue> {
        let key = key.unwrap_or_else(|| DEFAULT_KEY.to_string());
        match self
            .client
            .client()
            .limiter()
            .try_acquire_n(&key, weight.max(1))
        {
            Ok(permit) => Ok(Some(RawPermit {
                permit: Some(permit),
            })),
            Err(TryAcquireError::NotYet { .. })
            | Err(TryAcquireError::AtCapacity)
            | Err(TryAcquireError::Never(AcquireError::WaitTooLong { .. })) => Ok(None),
            Err(TryAcquireError::Never(e)) => Err(acquire_error(e)),
        }
    }

    /// Pauses `key` (an origin such as `https://api.example.com`, or a limiter key) for `ms`
    /// milliseconds: every queued request waits.
    pub fn pause(&self, key: Option<String>, ms: f64) {
        let key = key.unwrap_or_else(|| DEFAULT_KEY.to_string());
        let ns = if ms.is_finite() && ms > 0.0 {
            (ms * 1e6) as u64
        } else {
            0
        };
        let limiter = self.client.client().limiter();
        limiter.pause_for(&key, Duration::from_nanos(ns));
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
            let quotas = js_sys::Array::new();
            for q in &k.quotas {
                let qo = Object::new();
                set(&qo, "limit", q.limit() as f64);
                set(&qo, "periodMs", ms(q.period_ns()));
                set(&qo, "burst", q.burst() as f64);
                quotas.push(&qo);
            }
            set(&o, "quotas", quotas);
            let source = match k.source {
                QuotaSource::None => "none",
                QuotaSource::Configured => "configured",
                QuotaSource::Learned => "learned",
            };
            set(&o, "source", source);
            set(&o, "pausedForMs", ms(saturating_nanos(k.paused_for)));
            set(&o, "queued", k.queued as f64);
            set(&o, "inFlight", k.in_flight as f64);
            set(&keys, key, o);
        }
        set(&out, "keys", keys);
        out.into()
    }
}
