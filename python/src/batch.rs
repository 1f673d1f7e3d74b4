//! `headway.map`: the engine's bounded batch runner ([`headway_engine::run_stream`]) over
//! a Python iterable, each item's call an async Python function.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::stream::{Stream, StreamExt};
use pyo3::exceptions::{PyException, PyRuntimeError, PyStopAsyncIteration};
use pyo3::prelude::*;

use crate::bridge::{Pending, Task};
use crate::lock;
use crate::options;

/// What the runner yields for one item, or what ends it.
enum Out {
    /// An item's result: its call's value, or the `Exception` it raised, as a value.
    Value(Py<PyAny>),
    /// Raised from the iterator: the input's own failure, or a `BaseException` that is not
    /// an `Exception` (a cancellation, `KeyboardInterrupt`); nothing follows it.
    Raise(PyErr),
}

type Outputs = Pin<Box<dyn Stream<Item = Out> + Send>>;

/// The items of a Python iterable or async iterable, pulled one at a time.
struct Items {
    iterator: Py<PyAny>,
    asynchronous: bool,
    next: Option<Task>,
    done: bool,
}

impl Stream for Items {
    type Item = PyResult<Py<PyAny>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if !self.asynchronous {
            let next = Python::attach(|py| {
                let it = self.iterator.bind(py);
                match it.call_method0(pyo3::intern!(py, "__next__")) {
                    Ok(item) => Some(Ok(item.unbind())),
                    Err(e) if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) => None,
                    Err(e) => Some(Err(e)),
                }
            });
            self.done = !matches!(next, Some(Ok(_)));
            return Poll::Ready(next);
        }
        if self.next.is_none() {
            let task = Python::attach(|py| {
                let awaitable = self
                    .iterator
                    .bind(py)
                    .call_method0(pyo3::intern!(py, "__anext__"))?;
                Task::spawn(py, awaitable)
            });
            match task {
                Ok(t) => self.next = Some(t),
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
        let Some(task) = self.next.as_mut() else {
            return Poll::Ready(None);
        };
        let result = match Pin::new(task).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        self.next = None;
        match result {
            Ok(item) => Poll::Ready(Some(Ok(item))),
            Err(e) => {
                self.done = true;
                let end = Python::attach(|py| e.is_instance_of::<PyStopAsyncIteration>(py));
                Poll::Ready((!end).then_some(Err(e)))
            }
        }
    }
}

use std::future::Future;

/// One item's call: `fetch(item)` run as a task; its exception is its value.
fn call(
    fetch: &Py<PyAny>,
    item: PyResult<Py<PyAny>>,
) -> impl Future<Output = Out> + Send + 'static {
    let task = item.and_then(|item| {
        Python::attach(|py| -> PyResult<PyResult<Task>> {
            // A call that raises at once, or returns no awaitable, is that item's result.
            Ok(fetch
                .bind(py)
                .call1((item,))
                .and_then(|awaitable| Task::spawn(py, awaitable)))
        })
    });
    async move {
        let result = match task {
            Err(input) => return Out::Raise(input),
            Ok(Err(e)) => Err(e),
            Ok(Ok(task)) => task.await,
        };
        Python::attach(|py| match result {
            Ok(v) => Out::Value(v),
            Err(e) if e.is_instance_of::<PyException>(py) => {
                Out::Value(e.into_value(py).into_any())
            }
            Err(e) => Out::Raise(e),
        })
    }
}

/// The async iterator `headway.map` returns.
#[pyclass(module = "headway._headway", frozen)]
pub struct Map {
    outputs: Arc<Mutex<Option<Outputs>>>,
}

/// Puts the runner back when one `__anext__` ends, however it ends (cancelled included).
struct Borrowed {
    home: Arc<Mutex<Option<Outputs>>>,
    outputs: Option<Outputs>,
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        if let Some(o) = self.outputs.take() {
            *lock(&self.home) = Some(o);
        }
    }
}

#[pymethods]
impl Map {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__(&self) -> Pending {
        let home = Arc::clone(&self.outputs);
        Pending::new(async move {
            let taken = lock(&home).take();
            let Some(outputs) = taken else {
                return Err(PyRuntimeError::new_err(
                    "headway.map: __anext__ called while another is pending, or after the end",
                ));
            };
            let mut borrowed = Borrowed {
                home,
                outputs: Some(outputs),
            };
            let next = match borrowed.outputs.as_mut() {
                Some(o) => o.next().await,
                None => None,
            };
            match next {
                Some(Out::Value(v)) => Ok(v),
                Some(Out::Raise(e)) => {
                    // Nothing follows a raised error: the runner (and its calls) go.
                    borrowed.outputs = None;
                    Err(e)
                }
                None => {
                    borrowed.outputs = Some(Box::pin(futures_util::stream::empty()));
                    Err(PyStopAsyncIteration::new_err(()))
                }
            }
        })
    }

    /// Stops: calls in progress are cancelled and no more items are pulled.
    fn aclose(&self) -> Pending {
        let outputs = lock(&self.outputs).take();
        drop(outputs);
        *lock(&self.outputs) = Some(Box::pin(futures_util::stream::empty()));
        Pending::ready(Python::attach(|py| Ok(py.None())))
    }
}

/// `headway.map(fetch, items, concurrency=10, ordered=True)`.
#[pyfunction]
#[pyo3(signature = (fetch, items, *, concurrency=None, ordered=true))]
pub fn map(
    py: Python<'_>,
    fetch: Bound<'_, PyAny>,
    items: Bound<'_, PyAny>,
    concurrency: Option<Bound<'_, PyAny>>,
    ordered: bool,
) -> PyResult<Map> {
    if !fetch.is_callable() {
        return Err(crate::errors::wrong_type(
            "\"fetch\" must be an async function".into(),
        ));
    }
    let concurrency = match concurrency {
        None => 10,
        Some(c) => options::count(py, "concurrency", &c, 1)?.unwrap_or(10),
    };
    let concurrency = usize::try_from(concurrency).unwrap_or(usize::MAX);
    let (iterator, asynchronous) = if items.hasattr(pyo3::intern!(py, "__aiter__"))? {
        (items.call_method0(pyo3::intern!(py, "__aiter__"))?, true)
    } else {
        let it = items.try_iter().map_err(|_| {
            crate::errors::wrong_type("\"items\" must be an iterable or an async iterable".into())
        })?;
        (it.into_any(), false)
    };
    let input = Items {
        iterator: iterator.unbind(),
        asynchronous,
        next: None,
        done: false,
    };
    let fetch = fetch.unbind();
    let options = headway_engine::BatchOptions::new(concurrency).order(if ordered {
        headway_engine::Order::Input
    } else {
        headway_engine::Order::Completion
    });
    let outputs = headway_engine::run_stream(input, options, move |item| call(&fetch, item));
    Ok(Map {
        outputs: Arc::new(Mutex::new(Some(Box::pin(outputs)))),
    })
}
