//! # headway-tokio
//!
//! Headway on tokio and reqwest. Hand it requests and a quota (or no quota, and let the
//! server's headers teach it) and get every response back, as fast as allowed and no faster.
//!
//! - [`Client`]: a throttled `reqwest::Client` (per-origin keys, FIFO, retries inside a
//!   retry budget, `Retry-After` applied to the whole key, circuit breaker, `max_wait`).
//! - [`HeadwayMiddleware`]: the same as a `reqwest-middleware` layer.
//! - [`limiter`]: a keyed async limiter for any work, not only HTTP.
//! - [`Client::execute_all`]: a million requests with bounded memory, one result each.
//!
//! All logic lives in `headway-engine` and `headway-core`; this crate supplies tokio's clock
//! and timer ([`TokioRuntime`]) and reqwest as the transport ([`ReqwestTransport`]; the
//! engine reads reqwest's requests and responses through [`ReqwestRequest`] and
//! [`ReqwestResponse`]).
//!
//! ## TLS
//!
//! `https://` works by default: the `rustls` feature (on by default) gives reqwest rustls
//! with the platform's certificate verifier. For the platform's own TLS library, depend with
//! `default-features = false, features = ["native-tls"]`. With `default-features = false`
//! alone there is no TLS: plain `http://` only, and every `https://` request fails with the
//! connector's `invalid URL, scheme is not http` (a connect error, so it is retried like one
//! before the [`Failure`] comes back).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod client;
mod middleware;
mod precise;
mod runtime;
mod transport;

pub use client::{BuildError, Client, ClientBuilder, Outcome};
pub use headway_core::backoff::{Backoff, Jitter};
pub use headway_core::{Impossible, Quota, QuotaError};
pub use headway_engine::{
    AcquireError, BatchOptions, BreakerPolicy, BudgetPolicy, ClientConfig, ClientError,
    ConfigError, Failure, KeySnapshot, LimiterBuilder, MarginPolicy, Order, Permit, QuotaSource,
    Reserving, Sent, SharedError, SharedRate, SharedSlot, Stats, TryAcquireError,
};
pub use middleware::{HeadwayError, HeadwayMiddleware};
pub use runtime::{Sleep, Timer, TokioRuntime};
pub use transport::{KeyBy, ReqwestRequest, ReqwestResponse, ReqwestTransport};

/// A keyed async limiter on tokio's clock: FIFO per key, cancel-safe, no busy polling.
pub type Limiter<K> = headway_engine::Limiter<K, TokioRuntime>;

/// Starts building a keyed [`Limiter`] on tokio's clock.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use headway_tokio::{limiter, Quota};
/// let limits: headway_tokio::Limiter<&str> = limiter()
///     .quota(Quota::per_second(100).unwrap())
///     .concurrency(10)
///     .build()
///     .unwrap();
/// let _permit = limits.acquire(&"db").await.unwrap();
/// # }
/// ```
pub fn limiter<K: std::hash::Hash + Eq + Clone>() -> LimiterBuilder<K, TokioRuntime> {
    headway_engine::Limiter::builder(TokioRuntime::new())
}

/// The Rust examples of the workspace README, compiled (and run, where not `no_run`) as doc
/// tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;
