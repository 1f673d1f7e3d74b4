//! [`PyRuntime`]: the asyncio event loop's timers as a [`headway_engine::Runtime`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use headway_engine::Runtime;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// How long before its deadline a sleep on the host's clock stops relying on the loop's
/// timer and finishes by yielding to the loop: asyncio's timers fire up to a millisecond late
/// (the selector's timeout is whole milliseconds).
const FINISH_NS: u64 = 1_000_000;

/// Seeds handed out so far, mixed into each seed so that two in the same nanosecond differ.
static SEEDS: AtomicU64 = AtomicU64::new(0);

/// The clock and timers of a Python host.
///
/// By default the monotonic clock is the process's (`CLOCK_MONOTONIC`, the one
/// `time.monotonic()` and asyncio's loops read), counted from the runtime's creation; sleeps
/// are `loop.call_later` timers of the running loop aimed a millisecond short, finished by
/// `loop.call_soon` turns until the clock reaches the deadline, so a wake is never early and
/// within a few microseconds late. With a `clock` (any object with `time()` in seconds and
/// `call_at(when, callback)` returning a handle with `cancel()`, as an asyncio event loop
/// has), time and timers are the clock's and its timers are taken as exact: tests pass a
/// loop of virtual time.
#[derive(Debug, Clone)]
pub struct PyRuntime {
    origin: Instant,
    clock: Option<Arc<Py<PyAny>>>,
}

impl PyRuntime {
    /// The host's clock, or `clock`'s.
    pub fn new(clock: Option<Py<PyAny>>) -> PyRuntime {
        PyRuntime {
            origin: Instant::now(),
            clock: clock.map(Arc::new),
        }
    }

    /// The clock object, if one was given.
    pub fn clock(&self) -> Option<&Py<PyAny>> {
        self.clock.as_deref()
    }
}

/// Seconds as nanoseconds; negative, NaN or absurd readings saturate (`as` never panics).
pub fn secs_to_ns(secs: f64) -> u64 {
    (secs * 1e9) as u64
}

impl Runtime for PyRuntime {
    type Sleep = Sleep;

    fn now_ns(&self) -> u64 {
        match &self.clock {
            None => headway_core::duration::saturating_nanos(self.origin.elapsed()),
            Some(clock) => Python::attach(|py| {
                // A clock that fails to tell the time is treated as standing at zero: every
                // deadline then lies ahead and its timer fires it.
                clock
                    .bind(py)
                    .call_method0(pyo3::intern!(py, "time"))
                    .and_then(|t| t.extract::<f64>())
                    .map_or(0, secs_to_ns)
            }),
        }
    }

    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, deadline_ns: u64) -> Sleep {
        Sleep {
            runtime: self.clone(),
            deadline_ns,
            timer: None,
        }
    }

    fn seed(&self) -> u64 {
        // Relaxed: a counter for uniqueness only; nothing is published through it.
        let count = SEEDS.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (self.now_ns() << 17)
    }
}

/// What a fired timer wakes: the task polling the sleep.
#[pyclass(frozen)]
struct Alarm {
    state: Arc<Mutex<AlarmState>>,
}

#[derive(Default)]
struct AlarmState {
    fired: bool,
    waker: Option<Waker>,
}

#[pymethods]
impl Alarm {
    fn __call__(&self) {
        let waker = {
            let mut st = crate::lock(&self.state);
            st.fired = true;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// An armed timer: its handle (to cancel it) and what it fires.
struct Timer {
    handle: Py<PyAny>,
    state: Arc<Mutex<AlarmState>>,
}

/// A future that completes once [`PyRuntime::now_ns`] reaches its deadline (see
/// [`PyRuntime`]). Dropping it cancels its pending timer.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    runtime: PyRuntime,
    deadline_ns: u64,
    timer: Option<Timer>,
}

/// `asyncio.get_running_loop`, looked up once.
fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let get = GET.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?;
    get.bind(py).call0()
}

impl Sleep {
    /// Arms a timer for the time left, `wait_ns` from now: on a clock, exactly at the
    /// deadline; on the host's clock, a millisecond short, or the loop's next turn when less
    /// than that is left.
    fn arm(&self, py: Python<'_>, wait_ns: u64) -> PyResult<Timer> {
        let state = Arc::new(Mutex::new(AlarmState::default()));
        let alarm = Alarm {
            state: Arc::clone(&state),
        };
        let handle = match self.runtime.clock() {
            Some(clock) => {
                // The first float time that reads as the deadline or later, so that a
                // timer the clock fires on time is never taken as early.
                let mut when = self.deadline_ns as f64 / 1e9;
                while secs_to_ns(when) < self.deadline_ns {
                    when = f64::from_bits(when.to_bits() + 1);
                }
                clock
                    .bind(py)
                    .call_method1(pyo3::intern!(py, "call_at"), (when, alarm))?
            }
            None => {
                let event_loop = running_loop(py)?;
                if wait_ns <= FINISH_NS {
                    event_loop.call_method1(pyo3::intern!(py, "call_soon"), (alarm,))?
                } else {
                    let delay = (wait_ns - FINISH_NS) as f64 / 1e9;
                    event_loop.call_method1(pyo3::intern!(py, "call_later"), (delay, alarm))?
                }
            }
        };
        Ok(Timer {
            handle: handle.unbind(),
            state,
        })
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let now = this.runtime.now_ns();
            if now >= this.deadline_ns {
                this.timer = None;
                return Poll::Ready(());
            }
            if let Some(timer) = &this.timer {
                let mut st = crate::lock(&timer.state);
                if !st.fired {
                    match &st.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => st.waker = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
                drop(st);
                // Fired before the deadline (the host's timer aimed short, or a clock's
                // rounding): arm again for what is left.
                this.timer = None;
            }
            let armed = Python::attach(|py| this.arm(py, this.deadline_ns - now));
            match armed {
                Ok(timer) => this.timer = Some(timer),
                Err(_) => {
                    // No running loop, or a clock that refuses timers: no timer can wake
                    // this sleep, so it asks to be polled again on the next turn (never
                    // ready before its deadline, never a loop inside one poll).
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            Python::attach(|py| {
                // Cancelling a timer that already ran is a no-op; a failure leaves a timer
                // that wakes nothing.
                let _ = timer
                    .handle
                    .bind(py)
                    .call_method0(pyo3::intern!(py, "cancel"));
            });
        }
    }
}
