//! The server's two clocks.
//!
//! Rate decisions use `tokio::time::Instant`, so a test on tokio's paused clock in the same
//! runtime sees exact virtual time. The `Date` clock is the wall time captured at start plus the
//! tokio time elapsed since then plus a configurable signed skew; it never goes below the unix
//! epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Wall time derived from the tokio clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DateClock {
    start: Instant,
    start_wall_ns: u64,
}

impl DateClock {
    /// Pairs the tokio clock's now with `wall` (the system clock when `None`).
    pub fn start(wall: Option<SystemTime>) -> Self {
        let wall = wall
            .unwrap_or_else(SystemTime::now)
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        DateClock {
            start: Instant::now(),
            start_wall_ns: u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// Unix time in nanoseconds at tokio instant `now`, shifted by `skew_ms`.
    pub fn wall_ns(&self, now: Instant, skew_ms: i64) -> u64 {
        let elapsed =
            u64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        let base = self.start_wall_ns.saturating_add(elapsed);
        let skew_ns = skew_ms.unsigned_abs().saturating_mul(1_000_000);
        if skew_ms >= 0 {
            base.saturating_add(skew_ns)
        } else {
            base.saturating_sub(skew_ns)
        }
    }
}

/// Formats whole unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn http_date(unix_secs: u64) -> String {
    // Keep within what SystemTime and the formatter handle everywhere (year 9999).
    let secs = unix_secs.min(253_402_300_799);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Whole seconds of a unix-nanosecond time, rounded down (what a `Date` header shows).
pub(crate) fn floor_secs(ns: u64) -> u64 {
    ns / NANOS_PER_SEC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn skew_never_underflows() {
        let c = DateClock::start(None);
        assert_eq!(c.wall_ns(Instant::now(), i64::MIN), 0);
        assert!(c.wall_ns(Instant::now(), i64::MAX) > 0);
    }
}
