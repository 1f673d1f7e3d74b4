//! `Limiter`: the engine's client (keyed FIFO limiter, retry loop, feedback) for Python.

use std::sync::Mutex;

use headway_engine::{Client, KeySnapshot, Permit as EnginePermit, QuotaSource, Runtime, Stats};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::bridge::Pending;
use crate::errors::{self, secs};
use crate::lock;
use crate::options::{self, Options};
use crate::runtime::PyRuntime;
use crate::transport::{PyRequest, PyTransport};

/// The key an acquisition without one uses.
const DEFAULT_KEY: &str = "default";

/// A keyed rate limiter and throttled client. See `headway/_headway.pyi` for the Python API.
#[pyclass(module = "headway._headway", frozen)]
pub struct Limiter {
    client: Client<PyRuntime>,
}

/// The right to proceed: holds an in-flight slot until released.
#[pyclass(module = "headway._headway", frozen)]
pub struct Permit {
    permit: Mutex<Option<EnginePermit>>,
}

impl Permit {
    fn new(permit: EnginePermit) -> Permit {
        Permit {
            permit: Mutex::new(Some(permit)),
        }
    }
}

#[pymethods]
impl Permit {
    /// Gives the in-flight slot back; calling it again does nothing.
    fn release(&self) {
        let permit = lock(&self.permit).take();
        drop(permit);
    }

    /// Whether the permit is still held.
    #[getter]
    fn held(&self) -> bool {
        lock(&self.permit).is_some()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.release();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "<headway.Permit held={}>",
            if self.held() { "True" } else { "False" }
        )
    }
}

/// `limiter.acquire(...)`: awaitable (a [`Permit`]) and async context manager (the permit
/// is held inside the block).
#[pyclass(module = "headway._headway", frozen)]
pub struct Acquisition {
    client: Client<PyRuntime>,
    key: String,
    n: u32,
    held: Mutex<Option<Py<Permit>>>,
}

impl Acquisition {
    /// The acquisition as a future of a [`Permit`] object, kept in `keep` when given.
    fn pending(&self, keep: Option<Py<Acquisition>>) -> Pending {
        let acquire = self.client.limiter().acquire_n(self.key.as_str(), self.n);
        Pending::new(async move {
            let result = acquire.await;
            Python::attach(|py| {
                let permit = result.map_err(|e| errors::acquire(py, e))?;
                let permit = Py::new(py, Permit::new(permit))?;
                if let Some(acq) = keep {
                    *lock(&acq.get().held) = Some(permit.clone_ref(py));
                }
                Ok(permit.into_any())
            })
        })
    }
}

#[pymethods]
impl Acquisition {
    fn __await__(&self) -> Pending {
        self.pending(None)
    }

    fn __aenter__(slf: Py<Self>) -> Pending {
        let keep = Python::attach(|py| slf.clone_ref(py));
        slf.get().pending(Some(keep))
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> Pending {
        if let Some(permit) = lock(&self.held).take() {
            permit.get().release();
        }
        Pending::ready(Ok(false
            .into_pyobject(py)
            .map(|b| b.to_owned().into_any().unbind())
            .unwrap_or_else(|_| py.None())))
    }
}

/// `n` as cells: an int of at least 1.
fn cells(n: &Bound<'_, PyAny>) -> PyResult<u32> {
    let py = n.py();
    options::count_u32(py, "n", n, 1)
        .map_err(|_| {
            errors::bad_argument(format!(
                "\"n\" must be an int from 1 to {}, got {n}",
                u32::MAX
            ))
        })
        .and_then(|n| {
            n.ok_or_else(|| errors::bad_argument("\"n\" must be an int, got None".into()))
        })
}

/// A key: a string.
fn key(k: &Bound<'_, PyAny>) -> PyResult<String> {
    k.extract::<String>().map_err(|_| {
        errors::wrong_type(format!(
            "\"key\" must be a str, got {}",
            k.get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })
}

fn source(s: QuotaSource) -> &'static str {
    match s {
        QuotaSource::None => "none",
        QuotaSource::Configured => "configured",
        QuotaSource::Learned => "learned",
    }
}

fn key_dict<'py>(py: Python<'py>, k: &KeySnapshot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let quotas: Vec<String> = k.quotas.iter().map(|q| q.to_string()).collect();
    d.set_item("quotas", PyList::new(py, quotas)?)?;
    d.set_item("source", source(k.source))?;
    d.set_item("paused_for", secs(k.paused_for))?;
    d.set_item("queued", k.queued)?;
    d.set_item("in_flight", k.in_flight)?;
    d.set_item("margin", secs(k.margin))?;
    Ok(d)
}

fn stats_dict<'py>(
    py: Python<'py>,
    s: &Stats,
    in_flight: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("sent", s.sent)?;
    d.set_item("succeeded", s.succeeded)?;
    d.set_item("unsuccessful", s.unsuccessful)?;
    d.set_item("rate_limited", s.rate_limited)?;
    d.set_item("retries", s.retries)?;
    d.set_item("failed", s.failed)?;
    d.set_item("queued", s.queued)?;
    d.set_item("in_flight", in_flight)?;
    let keys = PyDict::new(py);
    for (k, snap) in &s.keys {
        keys.set_item(k, key_dict(py, snap)?)?;
    }
    d.set_item("keys", keys)?;
    Ok(d)
}

#[pymethods]
impl Limiter {
    #[new]
    #[pyo3(signature = (
        quotas=None, *, burst=None, concurrency=None, per_key_concurrency=None,
        max_wait=None, timeout=None, max_retries=None, key_quotas=None, learn=None,
        breaker=None, budget=None, margin=None, retry_non_idempotent=None, clock=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        quotas: Option<Bound<'_, PyAny>>,
        burst: Option<Bound<'_, PyAny>>,
        concurrency: Option<Bound<'_, PyAny>>,
        per_key_concurrency: Option<Bound<'_, PyAny>>,
        max_wait: Option<Bound<'_, PyAny>>,
        timeout: Option<Bound<'_, PyAny>>,
        max_retries: Option<Bound<'_, PyAny>>,
        key_quotas: Option<Bound<'_, PyAny>>,
        learn: Option<Bound<'_, PyAny>>,
        breaker: Option<Bound<'_, PyAny>>,
        budget: Option<Bound<'_, PyAny>>,
        margin: Option<Bound<'_, PyAny>>,
        retry_non_idempotent: Option<Bound<'_, PyAny>>,
        clock: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Limiter> {
        let none = || py.None().into_bound(py);
        let yes = || pyo3::types::PyBool::new(py, true).to_owned().into_any();
        let no = || pyo3::types::PyBool::new(py, false).to_owned().into_any();
        let given_timeout = timeout.is_some();
        let opts = Options {
            quotas: quotas.unwrap_or_else(none),
            burst: burst.unwrap_or_else(none),
            concurrency: concurrency.unwrap_or_else(none),
            per_key_concurrency: per_key_concurrency.unwrap_or_else(none),
            max_wait: max_wait.unwrap_or(pyo3::types::PyFloat::new(py, 600.0).into_any()),
            timeout: timeout.unwrap_or_else(none),
            max_retries: max_retries.unwrap_or_else(none),
            key_quotas: key_quotas.unwrap_or_else(none),
            learn: learn.unwrap_or_else(yes),
            breaker: breaker.unwrap_or_else(yes),
            budget: budget.unwrap_or_else(yes),
            margin: margin.unwrap_or_else(yes),
            retry_non_idempotent: retry_non_idempotent.unwrap_or_else(no),
        };
        let mut config = opts.config(py)?;
        if !given_timeout {
            config.timeout = headway_engine::ClientConfig::default().timeout;
        }
        let clock = options::clock(&clock.unwrap_or_else(none))?;
        let client =
            Client::new(PyRuntime::new(clock), config).map_err(|e| errors::engine_config(py, e))?;
        Ok(Limiter { client })
    }

    /// Waits in `key`'s queue for `n` cells.
    #[pyo3(signature = (key=None, n=None))]
    fn acquire(
        &self,
        key: Option<Bound<'_, PyAny>>,
        n: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Acquisition> {
        let key = key
            .as_ref()
            .map_or_else(|| Ok(DEFAULT_KEY.to_string()), self::key)?;
        let n = n.as_ref().map_or(Ok(1), cells)?;
        Ok(Acquisition {
            client: self.client.clone(),
            key,
            n,
            held: Mutex::new(None),
        })
    }

    /// A permit now, or `NotReadyError` (or a permanent error); never jumps the queue.
    #[pyo3(signature = (key=None, n=None))]
    fn try_acquire(
        &self,
        py: Python<'_>,
        key: Option<Bound<'_, PyAny>>,
        n: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Permit> {
        let key = key
            .as_ref()
            .map_or_else(|| Ok(DEFAULT_KEY.to_string()), self::key)?;
        let n = n.as_ref().map_or(Ok(1), cells)?;
        self.client
            .limiter()
            .try_acquire_n(key.as_str(), n)
            .map(Permit::new)
            .map_err(|e| errors::try_acquire(py, e))
    }

    /// Admits nothing on `key` for `seconds`; every queued waiter re-plans.
    fn pause(
        &self,
        py: Python<'_>,
        key: Bound<'_, PyAny>,
        seconds: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = self::key(&key)?;
        let d = options::seconds(py, "seconds", &seconds, false)?;
        self.client.limiter().pause_for(key.as_str(), d);
        Ok(())
    }

    /// Sets `key`'s quotas, keeping its state.
    fn set_quotas(
        &self,
        py: Python<'_>,
        key: Bound<'_, PyAny>,
        quotas: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = self::key(&key)?;
        let quotas = options::quotas(py, "quotas", &quotas, None)?;
        self.client
            .limiter()
            .set_quotas(key.as_str(), &quotas)
            .map_err(|e| errors::engine_config(py, e))
    }

    /// What the limiter has done, and every key it holds.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.client.stats(), self.client.limiter().in_flight())
    }

    /// The state of one key (as it would start, when not held).
    fn key_stats<'py>(
        &self,
        py: Python<'py>,
        key: Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let key = self::key(&key)?;
        key_dict(py, &self.client.limiter().snapshot(key.as_str()))
    }

    /// The longest an acquisition may wait, in seconds.
    #[getter]
    fn max_wait(&self) -> f64 {
        secs(self.client.limiter().max_wait())
    }

    /// The limiter's clock now, in nanoseconds: what a send reports as the moment its
    /// request went on the wire (see `_execute`).
    fn _now_ns(&self) -> u64 {
        self.client.limiter().runtime().now_ns()
    }

    /// Sends `request` through `send` under its key's limits with the engine's retries:
    /// resolves to `(response, attempts, waited)`. Used by `headway.httpx` and
    /// `headway.aiohttp`.
    #[pyo3(signature = (send, permanent, request, key, method, replayable))]
    fn _execute(
        &self,
        send: Py<PyAny>,
        permanent: Py<PyAny>,
        request: Py<PyAny>,
        key: String,
        method: String,
        replayable: bool,
    ) -> Pending {
        let client = self.client.clone();
        let transport = PyTransport { send, permanent };
        let request = PyRequest {
            object: request,
            key,
            method,
            replayable,
        };
        Pending::new(async move {
            let result = client.execute(&transport, request).await;
            Python::attach(|py| match result {
                Ok(sent) => {
                    let out = (sent.response.object, sent.attempts, secs(sent.waited));
                    Ok(out.into_pyobject(py)?.into_any().unbind())
                }
                Err(failure) => Err(errors::failure(py, failure)),
            })
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "<headway.Limiter {:?}>",
            self.client
                .config()
                .quotas
                .iter()
                .map(|q| q.to_string())
                .collect::<Vec<_>>()
        )
    }
}
