//! # headway-wasm
//!
//! The WebAssembly half of the npm package `headway-limiter`. It exports a small raw API
//! (`RawLimiter`, `RawPermit`, `interpretResponse`, `parseQuota`, `Gcra`, `Tiers`,
//! `Reservation`, `Backoff`, `CircuitBreaker`, and the core's decision machines `KeyMachine`,
//! `RawCall`, `Attempt`, `RetryBudget`, `Schedule`) that the
//! hand-written `js/index.js` wraps into idiomatic JavaScript: option objects, `AbortSignal`,
//! `Error` subclasses and promises.
//!
//! Everything that decides is the shared engine ([`headway_engine`]) and core
//! ([`headway_core`]); the clock, timers and `fetch` come from [`headway_web`].
//!
//! Errors this crate throws are `TypeError`/`RangeError` for bad options and instances of
//! the package's own classes (`RateLimitError`, `CircuitOpenError`, `HeadwayTimeoutError`,
//! `ImpossibleError`), which it imports from `js/errors.js` and constructs itself;
//! `js/index.js` re-exports those classes unchanged.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod abort;
mod args;
mod cells;
mod errors;
mod limiter;
mod lowlevel;
mod machine;
mod options;

pub use cells::{parse_quota, Gcra, Reservation, Tiers};
pub use limiter::{RawLimiter, RawPermit};
pub use lowlevel::{interpret_response, Backoff, BreakerPermit, CircuitBreaker, Retrying};
pub use machine::{
    breaker_success, is_idempotent, Attempt, Call, KeyMachine, RetryBudget, Schedule,
};
pub use options::{parse_options, Options};

/// The allocator: Talc, a fraction of the size of the default dlmalloc.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
