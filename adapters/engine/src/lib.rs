//! # headway-engine
//!
//! The driver every runtime shares, with no decisions of its own: those are the core's
//! state machines ([`headway_core::key::KeyMachine`], [`headway_core::call::Call`]). Here
//! are the key map and the FIFO wait queue in front of each key ([`Limiter`]), the request
//! loop that feeds each attempt's outcome to both machines ([`Client`]), and bounded batch
//! execution ([`run_all`]).
//!
//! An adapter supplies only a clock and a sleep ([`Runtime`]) and a way to send a request
//! ([`Transport`], whose requests and responses are read through [`Request`] and
//! [`Response`]): `headway-tokio` over tokio and reqwest, `headway-web` over the browser's
//! timers and `fetch`. Futures here are `Send` exactly when the adapter's are.
//!
//! ```
//! use headway_core::Quota;
//! use headway_engine::{testing::FakeRuntime, Limiter, Runtime};
//!
//! let rt = FakeRuntime::new();
//! let limiter: Limiter<&str, _> = Limiter::builder(rt.clone())
//!     .quota(Quota::per_second(2).unwrap())
//!     .build()
//!     .unwrap();
//! let times = rt.run(async {
//!     let mut times = Vec::new();
//!     for _ in 0..3 {
//!         let _permit = limiter.acquire(&"example.com").await.unwrap();
//!         times.push(rt.now_ns());
//!     }
//!     times
//! });
//! assert_eq!(times, [0, 500_000_000, 1_000_000_000]);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod batch;
mod client;
mod error;
mod event;
mod key;
mod limiter;
mod runtime;
mod shared;
mod slots;
mod stats;
pub mod testing;
mod transport;

pub use batch::{run_all, run_stream, BatchOptions, Order};
pub use client::{Client, ClientConfig, Sent};
pub use error::{ClientError, Failure};
pub use event::Event;
pub use headway_core::budget::BudgetPolicy;
pub use headway_core::key::{BreakerPolicy, KeyPolicy, MarginPolicy, QuotaSource};
pub use headway_core::ConfigError;
pub use key::{Acquire, AcquireError, KeySnapshot, Permit, TryAcquireError};
pub use limiter::{Limiter, LimiterBuilder};
pub use runtime::Runtime;
pub use shared::{Reserving, SharedError, SharedRate, SharedSlot};
pub use stats::Stats;
pub use transport::{Request, Response, Transport};

/// `duration` in whole milliseconds, rounded up: how error messages show a wait.
pub(crate) fn millis_up(duration: std::time::Duration) -> u64 {
    headway_core::duration::saturating_nanos(duration).div_ceil(1_000_000)
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical
/// section here leaves the state consistent before anything that could panic.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
