//! The two bridges between Rust futures and asyncio.
//!
//! - [`Pending`]: a Rust future as a Python awaitable. The task that awaits it polls it; while
//!   it is pending the task waits on an `asyncio.Future` that the future's waker completes.
//!   A task cancelled while waiting drops the Rust future at once (for an acquisition: its
//!   place in the queue goes back).
//! - [`Task`]: a Python awaitable as a Rust future. It runs as an asyncio task whose
//!   completion wakes the Rust future; dropping the future cancels the task.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::lock;

/// A future whose output becomes the Python value (or exception) of an awaitable.
pub type BoxFuture = Pin<Box<dyn Future<Output = PyResult<Py<PyAny>>> + Send>>;

/// An `asyncio` function, looked up once.
fn asyncio_fn(
    py: Python<'_>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<Py<PyAny>> {
    cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio")?.getattr(name)?.unbind())
    })
    .map(|f| f.clone_ref(py))
}

/// What a waker of a [`Pending`] completes: the `asyncio.Future` its task waits on, once
/// the task is waiting.
#[derive(Default)]
struct Signal {
    state: Mutex<SignalState>,
}

#[derive(Default)]
struct SignalState {
    /// Woken before the task started waiting: it polls again at once.
    woken: bool,
    /// The future the task waits on, and the thread of its loop.
    waiting: Option<(Py<PyAny>, ThreadId)>,
}

/// Completes `future` unless it is done (cancelled) already.
fn complete(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<()> {
    if !future
        .call_method0(pyo3::intern!(py, "done"))?
        .is_truthy()?
    {
        future.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?;
    }
    Ok(())
}

/// Completes a future from another thread, on its loop (`call_soon_threadsafe`).
#[pyfunction]
fn complete_soon(py: Python<'_>, future: Bound<'_, PyAny>) -> PyResult<()> {
    complete(py, &future)
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiting = {
            let mut st = lock(&self.state);
            st.woken = true;
            st.waiting.take()
        };
        let Some((future, thread)) = waiting else {
            return;
        };
        Python::attach(|py| {
            let future = future.bind(py);
            // A wake that cannot be delivered leaves the task waiting on a future nobody
            // completes; the only failures here are a closed loop or interpreter shutdown,
            // when nothing waits any more.
            let _ = if std::thread::current().id() == thread {
                complete(py, future)
            } else {
                wrap_pyfunction!(complete_soon, py).and_then(|f| {
                    let event_loop = future.call_method0(pyo3::intern!(py, "get_loop"))?;
                    event_loop
                        .call_method1(pyo3::intern!(py, "call_soon_threadsafe"), (f, future))
                        .map(drop)
                })
            };
        });
    }
}

/// A Rust future awaited from Python (`await pending`). Awaiting it twice, or after it
/// finished, raises `RuntimeError`.
#[pyclass(module = "headway._headway")]
pub struct Pending {
    future: Mutex<Option<BoxFuture>>,
    signal: Arc<Signal>,
}

impl Pending {
    /// Wraps `future`.
    pub fn new(future: impl Future<Output = PyResult<Py<PyAny>>> + Send + 'static) -> Pending {
        Pending {
            future: Mutex::new(Some(Box::pin(future))),
            signal: Arc::default(),
        }
    }

    /// A future already finished with `result`.
    pub fn ready(result: PyResult<Py<PyAny>>) -> Pending {
        Pending::new(std::future::ready(result))
    }
}

#[pymethods]
impl Pending {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// One step of the awaiting task: the result (as `StopIteration`), or a future to wait
    /// on until the Rust future can make progress.
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.send(py, py.None())
    }

    /// As `__next__` (the value sent is ignored).
    fn send(&self, py: Python<'_>, _value: Py<PyAny>) -> PyResult<Py<PyAny>> {
        let mut slot = lock(&self.future);
        let Some(future) = slot.as_mut() else {
            return Err(PyRuntimeError::new_err(
                "cannot reuse an awaited headway operation",
            ));
        };
        lock(&self.signal.state).woken = false;
        let waker = Waker::from(Arc::clone(&self.signal));
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(result) => {
                *slot = None;
                drop(slot);
                Err(PyStopIteration::new_err((result?,)))
            }
            Poll::Pending => {
                drop(slot);
                let mut st = lock(&self.signal.state);
                if st.woken {
                    // Woken during the poll: a bare yield, and the task steps again at once.
                    return Ok(py.None());
                }
                static GET_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
                let event_loop = asyncio_fn(py, &GET_LOOP, "get_running_loop")?.call0(py)?;
                let waiting = event_loop.call_method0(py, pyo3::intern!(py, "create_future"))?;
                waiting.setattr(py, pyo3::intern!(py, "_asyncio_future_blocking"), true)?;
                st.waiting = Some((waiting.clone_ref(py), std::thread::current().id()));
                Ok(waiting)
            }
        }
    }

    /// An exception thrown into the awaiting task (a cancellation): the Rust future is
    /// dropped (an acquisition gives its place back) and the exception goes on.
    #[pyo3(signature = (kind, value=None, _traceback=None))]
    fn throw(
        &self,
        py: Python<'_>,
        kind: Bound<'_, PyAny>,
        value: Option<Bound<'_, PyAny>>,
        _traceback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.close();
        let error = match value {
            Some(v) if !v.is_none() && v.is_instance_of::<pyo3::exceptions::PyBaseException>() => v,
            Some(v) if !v.is_none() => kind.call1((v,))?,
            _ if kind.is_instance_of::<PyType>() => kind.call0()?,
            _ => kind,
        };
        let _ = py;
        Err(PyErr::from_value(error))
    }

    /// Drops the Rust future (an acquisition gives its place back).
    fn close(&self) {
        let future = lock(&self.future).take();
        drop(future);
    }
}

/// A Python awaitable running as an asyncio task, as a Rust future of its result.
pub struct Task {
    task: Py<PyAny>,
    done: Arc<Mutex<Done>>,
}

#[derive(Default)]
struct Done {
    finished: bool,
    waker: Option<Waker>,
}

/// The task's done-callback: wakes the Rust future.
#[pyclass(frozen)]
struct OnDone {
    done: Arc<Mutex<Done>>,
}

#[pymethods]
impl OnDone {
    fn __call__(&self, _task: Py<PyAny>) {
        let waker = {
            let mut d = lock(&self.done);
            d.finished = true;
            d.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Task {
    /// Schedules `awaitable` on the running loop (`asyncio.ensure_future`).
    pub fn spawn(py: Python<'_>, awaitable: Bound<'_, PyAny>) -> PyResult<Task> {
        static ENSURE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let task = asyncio_fn(py, &ENSURE, "ensure_future")?.call1(py, (awaitable,))?;
        let done = Arc::new(Mutex::new(Done::default()));
        let on_done = OnDone {
            done: Arc::clone(&done),
        };
        task.call_method1(py, pyo3::intern!(py, "add_done_callback"), (on_done,))?;
        Ok(Task { task, done })
    }
}

impl Future for Task {
    type Output = PyResult<Py<PyAny>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut d = lock(&self.done);
        if !d.finished {
            match &d.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => d.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        drop(d);
        Poll::Ready(Python::attach(|py| {
            self.task.call_method0(py, pyo3::intern!(py, "result"))
        }))
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if !lock(&self.done).finished {
            Python::attach(|py| {
                // Cancelling a task whose loop is closed fails; it runs no more either way.
                let _ = self.task.call_method0(py, pyo3::intern!(py, "cancel"));
            });
        }
    }
}
