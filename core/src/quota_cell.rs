//! [`QuotaCell`]: a [`Quota`] that can be replaced at runtime while other threads read it,
//! without locks on the read path.
//!
//! It is a sequence lock over four words. A reader loads the sequence, the words, then the
//! sequence again, and retries if a writer was active in between, so it always sees one whole
//! quota, never the interval of one and the tolerance of another. Writers exclude each other by
//! moving the sequence from even to odd with a compare-and-swap. Quotas change rarely (a
//! configuration change, a quota learned from a server), so readers almost never retry.

use crate::quota::Quota;
use crate::sync::{fence, spin, AtomicU64, Ordering};

/// A quota readable and replaceable through `&self`.
#[derive(Debug)]
pub(crate) struct QuotaCell {
    /// Even: stable. Odd: a writer is storing new words.
    seq: AtomicU64,
    t_ns: AtomicU64,
    tau_ns: AtomicU64,
    period_ns: AtomicU64,
    /// `limit` in the high 32 bits, `burst` in the low 32 bits.
    limit_burst: AtomicU64,
}

impl QuotaCell {
    pub(crate) fn new(quota: Quota) -> QuotaCell {
        QuotaCell {
            seq: AtomicU64::new(0),
            t_ns: AtomicU64::new(quota.emission_interval_ns()),
            tau_ns: AtomicU64::new(quota.tolerance_ns()),
            period_ns: AtomicU64::new(quota.period_ns()),
            limit_burst: AtomicU64::new(
                (u64::from(quota.limit()) << 32) | u64::from(quota.burst()),
            ),
        }
    }

    /// Runs `read` on a consistent snapshot of the words.
    #[inline]
    fn read<R>(&self, read: impl Fn(&QuotaCell) -> R) -> R {
        loop {
            // Acquire: pairs with the writer's Release store of the even sequence, so the
            // words read below are at least those that writer stored.
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let value = read(self);
                // Acquire fence: orders the word loads above before the sequence re-load
                // below, so if a writer's stores were seen, so is its odd sequence.
                fence(Ordering::Acquire);
                // Relaxed: ordered by the fence above.
                if self.seq.load(Ordering::Relaxed) == before {
                    return value;
                }
            }
            spin();
        }
    }

    /// The emission interval and tolerance, as one consistent pair.
    #[inline]
    pub(crate) fn timing(&self) -> (u64, u64) {
        // Relaxed: the sequence lock in `read` orders these loads.
        self.read(|c| {
            (
                c.t_ns.load(Ordering::Relaxed),
                c.tau_ns.load(Ordering::Relaxed),
            )
        })
    }

    /// The whole quota.
    pub(crate) fn get(&self) -> Quota {
        // Relaxed: the sequence lock in `read` orders these loads.
        self.read(|c| {
            let limit_burst = c.limit_burst.load(Ordering::Relaxed);
            Quota::from_parts(
                (limit_burst >> 32) as u32,
                c.period_ns.load(Ordering::Relaxed),
                limit_burst as u32,
                c.t_ns.load(Ordering::Relaxed),
            )
        })
    }

    /// Replaces the quota.
    pub(crate) fn set(&self, quota: Quota) {
        let mut seq = self.seq.load(Ordering::Relaxed);
        loop {
            if seq & 1 == 1 {
                spin();
                seq = self.seq.load(Ordering::Relaxed);
                continue;
            }
            // Acquire on success: this writer's stores come after the previous writer's
            // (whose Release store of the even sequence we read).
            match self.seq.compare_exchange_weak(
                seq,
                seq.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(current) => seq = current,
            }
        }
        // Release fence: a reader that sees any word stored below also sees the odd sequence
        // stored above, and so retries.
        fence(Ordering::Release);
        // Relaxed: published by the Release store of the sequence below.
        self.t_ns
            .store(quota.emission_interval_ns(), Ordering::Relaxed);
        self.tau_ns.store(quota.tolerance_ns(), Ordering::Relaxed);
        self.period_ns.store(quota.period_ns(), Ordering::Relaxed);
        self.limit_burst.store(
            (u64::from(quota.limit()) << 32) | u64::from(quota.burst()),
            Ordering::Relaxed,
        );
        // Release: readers that load this even sequence see every word stored above.
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}
