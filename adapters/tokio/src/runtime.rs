//! [`TokioRuntime`]: tokio's clock and timer for the shared engine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use headway_engine::Runtime;
use tokio::time::Instant;

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
}

impl TokioRuntime {
    /// A runtime whose monotonic origin is now. Call it inside a tokio runtime.
    pub fn new() -> TokioRuntime {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        TokioRuntime {
            inner: Arc::new(Origin {
                instant: Instant::now(),
                wall_ms,
                seed: AtomicU64::new(wall_ms ^ 0x9E37_79B9_7F4A_7C15),
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
    type Sleep = tokio::time::Sleep;

    fn now_ns(&self) -> u64 {
        u64::try_from(self.inner.instant.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn wall_ms(&self) -> u64 {
        self.inner.wall_ms.saturating_add(self.now_ns() / 1_000_000)
    }

    fn sleep_until(&self, deadline_ns: u64) -> tokio::time::Sleep {
        // Far-future deadlines saturate instead of overflowing `Instant`.
        let deadline = self
            .inner
            .instant
            .checked_add(Duration::from_nanos(deadline_ns))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365 * 30));
        tokio::time::sleep_until(deadline)
    }

    fn seed(&self) -> u64 {
        // Relaxed: only uniqueness of the values matters, not ordering.
        self.inner
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
    }
}
