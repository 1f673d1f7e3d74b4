//! [`Stats`]: what a client has done so far, as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use headway_core::Quota;

use crate::key::KeySnapshot;

/// Counters updated as the client works. Relaxed atomics throughout: each counter is
/// independent and read only for reporting, so no ordering between them is promised.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) unsuccessful: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) failed: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        // Relaxed: a statistic, not a synchronisation point.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        // Relaxed: see `bump`.
        counter.load(Ordering::Relaxed)
    }
}

/// A snapshot of a client's activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Requests put on the wire, retries included.
    pub sent: u64,
    /// Calls that ended with a successful response (status below 400).
    pub succeeded: u64,
    /// Calls that ended with an unsuccessful response (status 400 or more: retries, the
    /// budget or the caps ran out, or the status is not retried).
    pub unsuccessful: u64,
    /// 429 responses seen.
    pub rate_limited: u64,
    /// Retries made.
    pub retries: u64,
    /// Calls that ended in an error.
    pub failed: u64,
    /// Waiters queued across all keys.
    pub queued: usize,
    /// Per key: quotas in force (configured or learned), pause, queue, in flight.
    pub keys: Vec<(String, KeySnapshot)>,
}

impl Stats {
    /// The longest pause any key is under (zero when none is paused).
    pub fn max_pause(&self) -> Duration {
        self.keys
            .iter()
            .map(|(_, k)| k.paused_for)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The quotas in force for `key`, if the key is known.
    pub fn quotas(&self, key: &str) -> Option<&[Quota]> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s.quotas.as_slice())
    }
}
