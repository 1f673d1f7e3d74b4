//! [`PyTransport`]: an async Python function as the engine's [`Transport`], so the engine's
//! retry loop drives httpx and aiohttp. The Python side (`headway/httpx.py`,
//! `headway/aiohttp.py`) supplies the key of each request, whether it can be sent again,
//! which of its failures no retry can fix, and the send itself.

use std::future::Future;
use std::pin::Pin;

use headway_engine::{Request, Response, Transport};
use pyo3::prelude::*;

use crate::bridge::Task;

/// A request as the engine reads it: the Python request object with its key, method and
/// whether it can be sent again (decided by the Python side).
pub struct PyRequest {
    /// The library's request object.
    pub object: Py<PyAny>,
    /// Its rate-limit key, e.g. its origin.
    pub key: String,
    /// Its method, as sent.
    pub method: String,
    /// True when the same object can be sent again.
    pub replayable: bool,
}

impl Request for PyRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn try_clone(&self) -> Option<PyRequest> {
        self.replayable.then(|| PyRequest {
            object: Python::attach(|py| self.object.clone_ref(py)),
            key: self.key.clone(),
            method: self.method.clone(),
            replayable: true,
        })
    }
}

/// A response whose status and headers arrived, with the headers copied out.
pub struct PyResponse {
    /// The library's response object.
    pub object: Py<PyAny>,
    status: u16,
    headers: Vec<(String, String)>,
    /// When the request went on the wire (the runtime's nanoseconds), if the send saw it.
    sent_at: Option<u64>,
}

impl Response for PyResponse {
    fn status(&self) -> u16 {
        self.status
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn sent_at(&self) -> Option<u64> {
        self.sent_at
    }
}

/// The send of the Python side: `send(request)` is awaited and returns
/// `(response, status, headers, sent_at)` with `headers` an iterable of `(name, value)`
/// strings and `sent_at` when the request went on the wire, read from
/// `Limiter._now_ns()`, or `None` when the send cannot tell;
/// `permanent(exception)` says whether a failure is one no retry can fix.
pub struct PyTransport {
    /// `async def send(request) -> (response, status, headers, sent_at)`.
    pub send: Py<PyAny>,
    /// `def permanent(exception) -> bool`.
    pub permanent: Py<PyAny>,
}

/// One send in progress.
pub type Sending = Pin<Box<dyn Future<Output = Result<PyResponse, PyErr>> + Send>>;

/// Reads `(response, status, headers, sent_at)`.
fn response(py: Python<'_>, sent: Py<PyAny>) -> PyResult<PyResponse> {
    let (object, status, headers, sent_at): (Py<PyAny>, u16, Bound<'_, PyAny>, Option<u64>) =
        sent.extract(py)?;
    let mut copied = Vec::new();
    for pair in headers.try_iter()? {
        let (k, v): (String, String) = pair?.extract()?;
        copied.push((k, v));
    }
    Ok(PyResponse {
        object,
        status,
        headers: copied,
        sent_at,
    })
}

impl Transport for PyTransport {
    type Request = PyRequest;
    type Response = PyResponse;
    type Error = PyErr;
    type Sending = Sending;

    fn key(&self, request: &PyRequest) -> String {
        request.key.clone()
    }

    fn send(&self, request: PyRequest) -> Sending {
        let task = Python::attach(|py| {
            let awaitable = self.send.bind(py).call1((request.object,))?;
            Task::spawn(py, awaitable)
        });
        Box::pin(async move {
            let sent = task?.await?;
            Python::attach(|py| response(py, sent))
        })
    }

    fn is_permanent(&self, error: &PyErr) -> bool {
        Python::attach(|py| {
            self.permanent
                .bind(py)
                .call1((error.value(py),))
                .and_then(|r| r.is_truthy())
                // A predicate that fails cannot tell: the failure may be transient.
                .unwrap_or(false)
        })
    }
}
