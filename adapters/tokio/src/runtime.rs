//! [`TokioRuntime`]: tokio's clock and timer for the shared engine.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use headway_engine::Runtime;
use tokio::time::Instant;

use crate::precise::{Alarm, HANDOVER};

/// Which timer wakes a waiter at its time.
///
/// Against a strict server (no burst tolerance) every microsecond a waiter wakes late is
/// lost for good, since the next slot is planned from the actual send; the key's safety
/// margin, not the timer's lateness, keeps arrivals from landing early (see
/// [`headway_core::key::MarginPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timer {
    /// tokio's timer to within 2 ms of the deadline, then the process's precise timer thread
    /// for the last stretch, which sleeps to about 80 us before the deadline and spins the
    /// rest: wakes within microseconds. Under tokio's paused test clock the last stretch
    /// falls back to tokio's timer, so tests on virtual time stay exact.
    #[default]
    Precise,
    /// tokio's timer alone: 1 ms resolution, so each waiter wakes up to about a millisecond
    /// late. No timer thread and no spinning.
    Tokio,
}

/// Monotonic time and sleeps for the engine, wall time as the system time at creation plus
/// the monotonic time elapsed since.
///
/// The monotonic clock is the fastest the machine has: the CPU's invariant time-stamp
/// counter where there is one (through `quanta`, calibrated against the OS's monotonic clock
/// once per process; about half the cost of `Instant::now()` here), else the OS's
/// monotonic clock. Under tokio's paused test clock, when the runtime is created, it is
/// tokio's clock instead, so tests on virtual time stay exact. (Pause tokio's clock before
/// creating the runtime, as `#[tokio::test(start_paused = true)]` does: a runtime created on
/// a real clock keeps it.) Sleeps are tokio's timer (and the precise timer thread) for the
/// time left on this clock, so the two clocks never need to agree on an origin.
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    inner: Arc<Origin>,
}

#[derive(Debug)]
struct Origin {
    clock: Clock,
    wall_ms: u64,
    seed: AtomicU64,
    timer: Timer,
}

/// Where a [`TokioRuntime`]'s monotonic time comes from.
#[derive(Debug)]
enum Clock {
    /// The fastest monotonic clock, from the raw reading at creation.
    Fast { clock: quanta::Clock, start: u64 },
    /// tokio's clock, paused when the runtime was created.
    Tokio(Instant),
}

impl Clock {
    /// The fast clock, unless tokio's clock is paused now.
    fn detect() -> Clock {
        if tokio_clock_is_paused() {
            Clock::Tokio(Instant::now())
        } else {
            let clock = quanta::Clock::new();
            let start = clock.raw();
            Clock::Fast { clock, start }
        }
    }

    fn now_ns(&self) -> u64 {
        match self {
            Clock::Fast { clock, start } => clock.delta_as_nanos(*start, clock.raw()),
            Clock::Tokio(origin) => u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

/// True when tokio's clock stands still while real time passes: it is paused, and only
/// advances when told to or when the runtime is idle, never while this function runs.
fn tokio_clock_is_paused() -> bool {
    let before = Instant::now();
    let real = std::time::Instant::now();
    // A real clock moves by far more than a nanosecond in this time.
    while real.elapsed() < Duration::from_micros(20) {
        std::hint::spin_loop();
    }
    Instant::now() == before
}

impl TokioRuntime {
    /// A runtime whose monotonic origin is now, with the default [`Timer::Precise`] timer.
    /// Call it inside a tokio runtime.
    pub fn new() -> TokioRuntime {
        TokioRuntime::with_timer(Timer::default())
    }

    /// A runtime whose monotonic origin is now, waking waiters with `timer`.
    pub fn with_timer(timer: Timer) -> TokioRuntime {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        TokioRuntime {
            inner: Arc::new(Origin {
                clock: Clock::detect(),
                wall_ms,
                seed: AtomicU64::new(wall_ms ^ 0x9E37_79B9_7F4A_7C15),
                timer,
            }),
        }
    }

    /// The tokio instant of a point on this runtime's timeline, from the time left until it
    /// (a point already past is now).
    pub fn instant_at(&self, ns: u64) -> Instant {
        let left = Duration::from_nanos(ns.saturating_sub(self.now_ns()));
        let now = Instant::now();
        // Far-future points saturate instead of overflowing `Instant`.
        now.checked_add(left)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
    }
}

impl Default for TokioRuntime {
    fn default() -> Self {
        TokioRuntime::new()
    }
}

impl Runtime for TokioRuntime {
    type Sleep = Sleep;

    fn now_ns(&self) -> u64 {
        self.inner.clock.now_ns()
    }

    fn wall_ms(&self) -> u64 {
        self.inner.wall_ms.saturating_add(self.now_ns() / 1_000_000)
    }

    fn sleep_until(&self, deadline_ns: u64) -> Sleep {
        let deadline = self.instant_at(deadline_ns);
        let handover = match self.inner.timer {
            Timer::Tokio => None,
            Timer::Precise => deadline
                .checked_sub(HANDOVER)
                .filter(|at| *at > Instant::now()),
        };
        Sleep {
            tokio: Box::pin(tokio::time::sleep_until(handover.unwrap_or(deadline))),
            alarm: None,
            deadline,
            stage: match (self.inner.timer, handover) {
                (Timer::Tokio, _) => Stage::Last,
                (Timer::Precise, Some(_)) => Stage::Coarse,
                (Timer::Precise, None) => Stage::HandOver,
            },
        }
    }

    fn seed(&self) -> u64 {
        // Relaxed: only uniqueness of the values matters, not ordering.
        self.inner
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
    }
}

/// The sleep of a [`TokioRuntime`]: tokio's timer, then (with [`Timer::Precise`]) the
/// precise timer thread for the last two milliseconds.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    /// tokio's sleep: to the hand-over point while coarse, then to the deadline itself (the
    /// fallback when tokio's clock is paused).
    tokio: Pin<Box<tokio::time::Sleep>>,
    alarm: Option<Alarm>,
    deadline: Instant,
    stage: Stage,
}

/// Where a [`Sleep`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// On tokio's wheel, to the hand-over point.
    Coarse,
    /// At the hand-over point: the precise timer takes over.
    HandOver,
    /// On the precise timer (if the clock is real) and on tokio's sleep to the deadline.
    Last,
}

/// True when tokio's clock is the monotonic clock (not paused): only then does a deadline on
/// it mean the same instant to the precise timer thread.
fn clock_is_real() -> bool {
    let tokio_now = Instant::now().into_std();
    let std_now = std::time::Instant::now();
    std_now.saturating_duration_since(tokio_now) < Duration::from_millis(1)
        && tokio_now.saturating_duration_since(std_now) < Duration::from_millis(1)
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.stage == Stage::Coarse {
            ready!(self.tokio.as_mut().poll(cx));
            self.stage = Stage::HandOver;
        }
        if self.stage == Stage::HandOver {
            self.stage = Stage::Last;
            let deadline = self.deadline;
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            if clock_is_real() {
                self.alarm = Some(Alarm::at(deadline.into_std()));
            }
            self.tokio.as_mut().reset(deadline);
        }
        if let Some(alarm) = &mut self.alarm {
            if Pin::new(alarm).poll(cx).is_ready() {
                if Instant::now() >= self.deadline {
                    return Poll::Ready(());
                }
                // tokio's clock was paused meanwhile: its own sleep decides.
                self.alarm = None;
            }
        }
        self.tokio.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn on_a_paused_clock_time_is_tokios() {
        let rt = TokioRuntime::new();
        assert!(matches!(rt.inner.clock, Clock::Tokio(_)));
        let start = rt.now_ns();
        // An hour of virtual time passes at once, and the runtime's clock sees all of it.
        rt.sleep_until(start + 3_600_000_000_000).await;
        assert_eq!(rt.now_ns(), start + 3_600_000_000_000);
    }

    #[tokio::test]
    async fn on_a_real_clock_a_sleep_ends_at_its_deadline_on_the_fast_clock() {
        let rt = TokioRuntime::new();
        assert!(matches!(rt.inner.clock, Clock::Fast { .. }));
        let real = std::time::Instant::now();
        for step in [3_000_000, 500_000, 2_500_000] {
            let deadline = rt.now_ns() + step;
            rt.sleep_until(deadline).await;
            assert!(rt.now_ns() >= deadline, "woke before the deadline");
        }
        // The fast clock keeps real time: 6 ms passed on both (within the test's own work).
        let fast = rt.now_ns();
        let elapsed = u64::try_from(real.elapsed().as_nanos()).unwrap();
        assert!(fast >= 6_000_000 && elapsed >= 6_000_000);
        assert!(fast.abs_diff(elapsed) < 1_000_000, "{fast} vs {elapsed}");
    }
}
