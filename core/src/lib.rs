//! # headway-core
//!
//! The runtime-agnostic heart of Headway: everything that *decides* how fast an HTTP client may
//! go, with no clock, no allocation in the limiter paths and no `std`.
//!
//! - [`Quota`]: `limit` requests per `period` with a `burst`, parsed from strings like `"100/min"`.
//! - [`Gcra`]: a lock-free GCRA cell in one `AtomicU64` (check, reserve, refund, defer, ...).
//! - [`Tiers`]: up to [`MAX_TIERS`] quotas checked and reserved all-or-nothing.
//! - [`backoff`], [`budget`], [`breaker`]: retry pacing, retry budgets and a circuit breaker.
//! - [`key`]: the per-key state machine (quotas and their source, tiers, pause, probe,
//!   in-flight cap, breaker) and [`call`]: the per-call retry state machine.
//! - [`feedback`]: what an HTTP response means (Retry-After, `RateLimit-*`, `X-RateLimit-*`).
//!
//! Time is always passed in. `now` is a `u64` count of nanoseconds on a monotonic timeline the
//! caller owns (an `Instant` taken at start, `performance.now()`, hardware ticks converted to
//! nanoseconds). Wall-clock time, needed only to read HTTP dates and epoch resets, is passed
//! separately as unix milliseconds. All arithmetic saturates: no input can overflow or panic.
//!
//! ```
//! use headway_core::{Gcra, Quota};
//!
//! let quota: Quota = "2/s".parse().unwrap();
//! let cell = Gcra::new(quota);
//! assert!(cell.check(0).is_ok());
//! // The second request must wait half a second.
//! assert_eq!(cell.check(0).unwrap_err().wait_ns(), 500_000_000);
//! assert!(cell.check(500_000_000).is_ok());
//! ```
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(any(test, loom))]
extern crate std;

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod call;
mod config;
pub mod duration;
pub mod feedback;
mod gcra;
pub mod key;
mod quota;
mod quota_cell;
mod sync;
mod tiers;

pub use config::ConfigError;
pub use gcra::{Denied, Gcra, Impossible, Refusal, Reservation};
pub use quota::{Quota, QuotaError};
pub use tiers::{Schedule, Tiers, TiersError, TiersReservation, MAX_TIERS};

/// Nanoseconds in one millisecond.
pub const NANOS_PER_MILLI: u64 = 1_000_000;
/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;
