//! # headway (Python)
//!
//! The engine's keyed limiter and throttled client for Python's asyncio. Every decision is
//! [`headway_engine`]'s and [`headway_core`]'s; this crate supplies the event loop's clock
//! and timers ([`runtime::PyRuntime`]), the bridges between Rust futures and asyncio
//! ([`bridge`]), and an async Python function as the transport ([`transport`]). The core's
//! decision machines themselves are bound as `headway.core` ([`core`]) for drivers and tests
//! of one's own.

mod batch;
mod bridge;
mod core;
mod errors;
mod limiter;
mod options;
mod runtime;
mod transport;

use pyo3::prelude::*;

/// Locks a mutex, recovering the data if a panic poisoned it: every critical section here
/// leaves its data consistent.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The extension module `headway._headway`.
#[pymodule]
fn _headway(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<limiter::Limiter>()?;
    m.add_class::<limiter::Permit>()?;
    m.add_class::<limiter::Acquisition>()?;
    m.add_class::<bridge::Pending>()?;
    m.add_class::<batch::Map>()?;
    m.add_function(wrap_pyfunction!(batch::map, m)?)?;
    m.add_submodule(&core::module(m.py())?)?;
    Ok(())
}
