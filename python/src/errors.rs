//! The engine's errors as the Python exceptions of `headway.errors`.

use std::time::Duration;

use headway_engine::{AcquireError, ClientError, ConfigError, Failure, TryAcquireError};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Seconds as a Python float.
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// An instance of `headway.errors.<class>` built with `args`.
fn raise<'py>(py: Python<'py>, class: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    let built = py
        .import(pyo3::intern!(py, "headway.errors"))
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1(args));
    match built {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// A bad option: `ValueError` (as `headway.ConfigError`) naming it.
pub fn config(py: Python<'_>, message: String) -> PyErr {
    raise(py, "ConfigError", (message,))
}

/// An option of the wrong type: `TypeError` naming it.
pub fn wrong_type(message: String) -> PyErr {
    PyTypeError::new_err(message)
}

/// A configuration the engine refused, naming the option behind it.
pub fn engine_config(py: Python<'_>, e: ConfigError) -> PyErr {
    let option = match e {
        ConfigError::Tiers(_) => "quotas",
        ConfigError::ZeroConcurrency => "concurrency",
        ConfigError::Backoff(_) => "backoff",
        ConfigError::Budget(_) => "budget",
        ConfigError::Breaker(_) => "breaker",
        ConfigError::Margin => "margin",
    };
    config(py, format!("\"{option}\": {e}"))
}

/// Why an acquisition failed.
pub fn acquire(py: Python<'_>, e: AcquireError) -> PyErr {
    let message = e.to_string();
    match e {
        AcquireError::Impossible(i) => raise(py, "ImpossibleError", (message, i.n, i.burst)),
        AcquireError::WaitTooLong { wait } => {
            raise(py, "WaitTooLongError", (message, secs(wait), false))
        }
        AcquireError::CircuitOpen { retry_in } => {
            raise(py, "CircuitOpenError", (message, secs(retry_in)))
        }
    }
}

/// Why `try_acquire` gave no permit.
pub fn try_acquire(py: Python<'_>, e: TryAcquireError) -> PyErr {
    let message = e.to_string();
    match e {
        TryAcquireError::NotYet { wait } => raise(py, "NotReadyError", (message, Some(secs(wait)))),
        TryAcquireError::AtCapacity => raise(py, "NotReadyError", (message, None::<f64>)),
        TryAcquireError::Never(e) => acquire(py, e),
    }
}

/// Why a call produced no response; a transport's own exception is raised as it was.
pub fn failure(py: Python<'_>, f: Failure<PyErr>) -> PyErr {
    let message = f.to_string();
    match f.error {
        ClientError::Transport(e) => e,
        ClientError::Timeout { after } => {
            raise(py, "TimeoutError", (message, secs(after), f.attempts))
        }
        ClientError::WaitTooLong { wait, server } => {
            raise(py, "WaitTooLongError", (message, secs(wait), server))
        }
        ClientError::CircuitOpen { retry_in } => {
            raise(py, "CircuitOpenError", (message, secs(retry_in)))
        }
        ClientError::Impossible(i) => raise(py, "ImpossibleError", (message, i.n, i.burst)),
        // The package configures no shared rate store, so the engine has none to fail; should
        // one be added, its failure is a plain HeadwayError carrying the store's reason.
        ClientError::Shared(_) => raise(py, "HeadwayError", (message,)),
    }
}

/// A `ValueError` for a bad argument of a call (not of the configuration).
pub fn bad_argument(message: String) -> PyErr {
    PyValueError::new_err(message)
}
