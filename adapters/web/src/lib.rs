//! # headway-web
//!
//! Headway on `wasm32-unknown-unknown`, in browsers and in Node 18 and later: the three things
//! the shared engine needs from the world and nothing more.
//!
//! - [`WebRuntime`]: `performance.now()` as the monotonic clock, `Date.now()` as the wall
//!   clock, a `setTimeout` future as the sleep, `Math.random()` for jitter seeds; or, for
//!   tests on virtual time, a [`WebClock`] supplied from JavaScript.
//! - [`FetchTransport`]: the global `fetch`, keyed by the request URL's origin.
//! - [`WebClient`]: [`headway_engine::Client`] on those two, the throttled fetch with
//!   retries, `Retry-After`, header learning and a per-origin queue.
//!
//! Every decision (scheduling, retries, what a response means) is made by
//! [`headway_engine`] and [`headway_core`]; this crate only binds them to JavaScript.
//! Futures here are not `Send`: JavaScript is single-threaded.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod runtime;
mod transport;

pub use runtime::{ClockError, Sleep, WebClock, WebRuntime};
pub use transport::{FetchError, FetchRequest, FetchResponse, FetchTransport};

use headway_engine::{Client, ClientConfig, ConfigError, Failure, Sent, Stats};

/// A throttled `fetch`: the shared [`Client`] on a [`WebRuntime`] with a [`FetchTransport`].
///
/// Requests are queued per origin (`scheme://host:port`) under the configured quotas and
/// whatever the server's headers teach; 429 and 503 responses pause the origin for every
/// queued request and are retried within the backoff caps and the retry budget.
#[derive(Debug, Clone)]
pub struct WebClient {
    client: Client<WebRuntime>,
    transport: FetchTransport,
}

impl WebClient {
    /// Checks `config` and builds a client.
    pub fn new(config: ClientConfig) -> Result<WebClient, ConfigError> {
        WebClient::with_runtime(WebRuntime::new(), config)
    }

    /// Checks `config` and builds a client on `runtime` (for instance one with a
    /// [`WebClock`] of virtual time).
    pub fn with_runtime(
        runtime: WebRuntime,
        config: ClientConfig,
    ) -> Result<WebClient, ConfigError> {
        Ok(WebClient {
            client: Client::new(runtime, config)?,
            transport: FetchTransport::new(),
        })
    }

    /// Sends `request` under its origin's limits, retrying as configured. The response's
    /// body is untouched; responses that were retried had their bodies cancelled.
    pub async fn fetch(
        &self,
        request: web_sys::Request,
    ) -> Result<Sent<FetchResponse>, Failure<FetchError>> {
        self.client
            .execute(&self.transport, FetchRequest::new(request))
            .await
    }

    /// The shared engine client underneath (its limiter, configuration and stats).
    pub fn client(&self) -> &Client<WebRuntime> {
        &self.client
    }

    /// A snapshot of what the client has done and of every origin.
    pub fn stats(&self) -> Stats {
        self.client.stats()
    }
}
