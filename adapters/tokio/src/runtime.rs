//! [`TokioRuntime`]: tokio's clock and timer for the shared engine.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use headway_engine::Runtime;
use tokio::time::Instant;

/// Which timer wakes a waiter at its time.
///
/// Measured against a strict server (GCRA, no burst) at 100 requests per second over
/// loopback, 300 requests: [`Timer::Tokio`] finished in 4.4 s with one 429, [`Timer::Precise`]
/// in 37.6 s with 33 (each 429 costs the server's whole-second `Retry-After`). Waking within
/// 0.1 ms of the slot leaves no slack for the jitter between client and server, so the
/// default is tokio's timer, whose millisecond of lateness doubles as a safety margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timer {
    /// tokio's timer alone: 1 ms resolution, and it follows tokio's paused clock, so tests on
    /// virtual time are exact. Each waiter wakes up to about a millisecond late, which slows a
    /// strict 1,000-per-second schedule but keeps arrivals from landing early.
    #[default]
    Tokio,
    /// tokio's timer to within 2 ms of the deadline, then a dedicated timer thread
    /// (`futures-timer`) for the last stretch: wakes within about 0.1 ms. For servers that
    /// tolerate a little burst, where the extra precision is throughput. Real time only: under
    /// tokio's paused test clock use [`Timer::Tokio`].
    Precise,
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

/// How far ahead of a deadline the precise timer hands over from tokio's wheel.
const HANDOVER: Duration = Duration::from_millis(2);

impl TokioRuntime {
    /// A runtime whose monotonic origin is now, with the default [`Timer::Tokio`] timer.
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
        let timer = self.inner.timer;
        let coarse = match timer {
            Timer::Tokio => deadline,
            Timer::Precise => deadline.checked_sub(HANDOVER).unwrap_or(deadline),
        };
        Sleep {
            coarse: Some(Box::pin(tokio::time::sleep_until(coarse))),
            fine: None,
            deadline,
            timer,
        }
    }

    fn seed(&self) -> u64 {
        // Relaxed: only uniqueness of the values matters, not ordering.
        self.inner
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
    }
}

/// The sleep of a [`TokioRuntime`]: tokio's timer, then (with [`Timer::Precise`]) a
/// dedicated timer thread for the last two milliseconds.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    coarse: Option<Pin<Box<tokio::time::Sleep>>>,
    fine: Option<futures_timer::Delay>,
    deadline: Instant,
    timer: Timer,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(coarse) = &mut self.coarse {
            ready!(coarse.as_mut().poll(cx));
            self.coarse = None;
        }
        if self.timer == Timer::Tokio {
            return Poll::Ready(());
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let fine = self
            .fine
            .get_or_insert_with(|| futures_timer::Delay::new(deadline - now));
        Pin::new(fine).poll(cx)
    }
}
