//! `headway-mock`: a real HTTP server on loopback that behaves like a rate-limited API.
//!
//! Rust tests start it in-process:
//!
//! ```no_run
//! use std::time::Duration;
//! use headway_mock::{HeaderStyle, MockConfig, MockServer, Route};
//!
//! # async fn demo() -> Result<(), headway_mock::MockError> {
//! let server = MockServer::start(
//!     MockConfig::new().route(
//!         "/",
//!         Route::gcra(100, Duration::from_secs(1), 1).headers(HeaderStyle::Ietf08),
//!     ),
//! )
//! .await?;
//! let url = server.url_for("/items");
//! // ... send requests to `url` ...
//! let stats = server.stats();
//! println!("{} admitted, {} rejected", stats.total.admitted, stats.total.rejected);
//! # Ok(())
//! # }
//! ```
//!
//! Other runtimes start the `headway-mock` binary and read its single line
//! `listening on http://127.0.0.1:PORT`.
//!
//! Rate decisions read `tokio::time::Instant`, so a test on tokio's paused clock in the same
//! runtime sees exact virtual time. Each route decides and records a request under one lock.
//!
//! HTTP surface:
//! - any method on any path: the route with the longest matching prefix (or the default route)
//!   answers 200 `{"path": "...", "n": <admission index>}`, 429, an injected 5xx, or closes the
//!   connection;
//! - `GET /__stats`: [`Stats`] as JSON; `POST /__reset`: clear counts and limiter state;
//!   `GET /__config`: the configuration; `POST /__config`: replace it (JSON, as
//!   [`MockConfig::from_json`]) and reset; control endpoints are never rate limited;
//! - `GET /static/...`: files from the optional static directory;
//! - `OPTIONS` preflights (with `Access-Control-Request-Method`) get 204 and CORS headers;
//!   every response carries `Date`, `Access-Control-Allow-Origin: *`,
//!   `Access-Control-Expose-Headers` and `Cache-Control: no-store`.

#![warn(missing_docs)]

mod clock;
pub mod config;
pub mod faults;
mod headers;
mod policy;
pub mod server;
mod static_files;
pub mod stats;

pub use config::{
    ConfigError, Gcra, HeaderStyle, MockConfig, Policy, RetryAfterStyle, Route, Window,
};
pub use faults::{FailEvery, Faults, Outage};
pub use server::{MockError, MockHandle, MockServer, ServerOptions};
pub use stats::{Counts, Stats, DEFAULT_ROUTE_KEY};
