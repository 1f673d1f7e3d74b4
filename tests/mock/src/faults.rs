//! Injected faults: periodic error statuses, dropped connections, slow responses and outages.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The faults a route injects. All are off by default.
///
/// Every request that reaches the route is numbered from 1 (the numbering restarts on reset).
/// Faults are applied in this order: the delay, then an outage, then a dropped connection, then
/// an error status; a request that none of them hits goes to the admission policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// After every `every` requests, the next `count` get `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_every: Option<FailEvery>,
    /// Every Nth request (N, 2N, ...) has its connection closed without any response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_every: Option<u64>,
    /// Every request is held this long (on the tokio clock) before it is decided and answered.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    /// A window during which every request gets 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<Outage>,
}

/// Periodic error responses: requests `every+1 ..= every+count` of each cycle of
/// `every + count` requests get `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailEvery {
    /// Requests served normally before each run of failures (at least 1).
    pub every: u64,
    /// Failures in each run (at least 1).
    #[serde(default = "one")]
    pub count: u64,
    /// The status sent (500..=599).
    #[serde(default = "service_unavailable")]
    pub status: u16,
    /// Optional `Retry-After` in seconds on the failures (written in the route's style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// An outage window measured from server start or the last reset: every request in
/// `[start_after_ms, start_after_ms + duration_ms)` gets 429 and counts as rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// Start of the window, in milliseconds after start or reset.
    #[serde(default)]
    pub start_after_ms: u64,
    /// Length of the window in milliseconds.
    pub duration_ms: u64,
    /// The `Retry-After` sent during the window, in seconds.
    #[serde(default = "one")]
    pub retry_after_secs: u64,
}

/// What the faults make of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FaultAction {
    /// No fault: the policy decides.
    Pass,
    /// Inside an outage: 429 with the given `Retry-After`; `until` is the time left in the window.
    Outage {
        retry_after_secs: u64,
        until: Duration,
    },
    /// Close the connection without a response.
    Reset,
    /// Answer with an error status.
    Fail {
        status: u16,
        retry_after_secs: Option<u64>,
    },
}

fn one() -> u64 {
    1
}

fn service_unavailable() -> u16 {
    503
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Faults {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// After every `every` requests, the next `count` get `status` (500..=599).
    pub fn fail_every(mut self, every: u64, count: u64, status: u16) -> Self {
        self.fail_every = Some(FailEvery {
            every,
            count,
            status,
            retry_after_secs: None,
        });
        self
    }

    /// Like [`Faults::fail_every`], with a `Retry-After` of `secs` on the failures.
    pub fn fail_every_with_retry_after(
        mut self,
        every: u64,
        count: u64,
        status: u16,
        secs: u64,
    ) -> Self {
        self.fail_every = Some(FailEvery {
            every,
            count,
            status,
            retry_after_secs: Some(secs),
        });
        self
    }

    /// Every `n`th request has its connection closed without a response.
    pub fn reset_every(mut self, n: u64) -> Self {
        self.reset_every = Some(n);
        self
    }

    /// Holds every request for `delay` (whole milliseconds) before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// An outage of `duration` starting `start_after` after start or reset, answering 429 with
    /// `Retry-After: retry_after_secs`.
    pub fn outage(
        mut self,
        start_after: Duration,
        duration: Duration,
        retry_after_secs: u64,
    ) -> Self {
        self.outage = Some(Outage {
            start_after_ms: u64::try_from(start_after.as_millis()).unwrap_or(u64::MAX),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            retry_after_secs,
        });
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(f) = &self.fail_every {
            if f.every == 0 || f.count == 0 {
                return Err(ConfigError(
                    "fail_every needs every and count of at least 1".into(),
                ));
            }
            if !(500..=599).contains(&f.status) {
                return Err(ConfigError(format!(
                    "fail_every status {} is not a 5xx status",
                    f.status
                )));
            }
        }
        if self.reset_every == Some(0) {
            return Err(ConfigError("reset_every must be at least 1".into()));
        }
        Ok(())
    }

    /// Decides the fault for request number `index` (1-based) arriving `since_epoch` after start
    /// or the last reset.
    pub(crate) fn decide(&self, index: u64, since_epoch: Duration) -> FaultAction {
        if let Some(o) = &self.outage {
            let start = Duration::from_millis(o.start_after_ms);
            let end = start.saturating_add(Duration::from_millis(o.duration_ms));
            if since_epoch >= start && since_epoch < end {
                return FaultAction::Outage {
                    retry_after_secs: o.retry_after_secs,
                    until: end - since_epoch,
                };
            }
        }
        if let Some(n) = self.reset_every {
            if n > 0 && index % n == 0 {
                return FaultAction::Reset;
            }
        }
        if let Some(f) = &self.fail_every {
            let cycle = f.every.saturating_add(f.count);
            if cycle > 0 && (index.saturating_sub(1) % cycle) >= f.every {
                return FaultAction::Fail {
                    status: f.status,
                    retry_after_secs: f.retry_after_secs,
                };
            }
        }
        FaultAction::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_every_cycles() {
        let f = Faults::new().fail_every(3, 2, 503);
        let failed: Vec<u64> = (1..=11)
            .filter(|&i| f.decide(i, Duration::ZERO) != FaultAction::Pass)
            .collect();
        assert_eq!(failed, vec![4, 5, 9, 10]);
    }

    #[test]
    fn reset_every_nth() {
        let f = Faults::new().reset_every(3);
        let reset: Vec<u64> = (1..=9)
            .filter(|&i| f.decide(i, Duration::ZERO) == FaultAction::Reset)
            .collect();
        assert_eq!(reset, vec![3, 6, 9]);
    }

    #[test]
    fn outage_window_is_half_open() {
        let f = Faults::new().outage(Duration::from_secs(1), Duration::from_secs(2), 7);
        assert_eq!(f.decide(1, Duration::from_millis(999)), FaultAction::Pass);
        assert_eq!(
            f.decide(1, Duration::from_millis(1000)),
            FaultAction::Outage {
                retry_after_secs: 7,
                until: Duration::from_secs(2)
            }
        );
        assert_eq!(f.decide(1, Duration::from_millis(3000)), FaultAction::Pass);
    }
}
