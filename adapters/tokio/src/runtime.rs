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

/// Monotonic time from `tokio::time::Instant` (so tests on tokio's paused clock are exact),
/// wall time as the system time at creation plus the monotonic time elapsed since.
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    inner: Arc<Origin>,
}

#[derive(Debug)]
struct Origin {
    instant: Instant,
    wall_ms: u64,
    seed: AtomicU64,
    timer: Timer,
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
                instant: Instant::now(),
                wall_ms,
                seed: AtomicU64::new(wall_ms ^ 0x9E37_79B9_7F4A_7C15),
                timer,
            }),
        }
    }

    /// The tokio instant of a point on this runtime's timeline.
    pub fn instant_at(&self, ns: u64) -> Instant {
        self.inner.instant + Duration::from_nanos(ns)
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
        u64::try_from(self.inner.instant.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn wall_ms(&self) -> u64 {
        self.inner.wall_ms.saturating_add(self.now_ns() / 1_000_000)
    }

    fn sleep_until(&self, deadline_ns: u64) -> Sleep {
        // Far-future deadlines saturate instead of overflowing `Instant`.
        let deadline = self
            .inner
            .instant
            .checked_add(Duration::from_nanos(deadline_ns))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365 * 30));
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
