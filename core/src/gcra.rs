//! [`Gcra`]: the generic cell rate algorithm, lock-free, in one `AtomicU64` per cell.
//!
//! The state of a cell is its theoretical arrival time `TAT` (the time at which the cell would
//! be fully replenished if nothing else arrived), plus a `not_before` word written only by
//! [`Gcra::defer_until`]. With emission interval `T` and tolerance `tau` from the [`Quota`]:
//!
//! - a request of `n` cells at `now` conforms iff `now >= TAT + (n-1)*T - tau` and
//!   `now >= not_before`; it then sets `TAT = max(TAT, now) + n*T`;
//! - a request with `(n-1)*T > tau` can never conform: that is [`Impossible`], not a wait;
//! - a denied request changes nothing.
//!
//! Every update is one compare-and-swap on `TAT`, retried on contention. No update ever moves
//! `TAT` backwards except [`Gcra::refund`], which only succeeds while the refunded reservation
//! is still the latest (so two requests can never end up in one slot), and `not_before` is a
//! separate word precisely so that a refund can never undo a server's pause.
//!
//! A cell whose `TAT <= now` and `not_before <= now` is indistinguishable from a fresh cell:
//! [`Gcra::is_idle`] tells a keyed store it may evict it with no loss.

use core::fmt;

use crate::quota::Quota;
use crate::quota_cell::QuotaCell;
use crate::sync::{AtomicU64, Ordering};

/// A GCRA rate limiter cell: one quota, one `AtomicU64` of state, shareable by reference.
///
/// ```
/// use headway_core::{Gcra, Quota};
///
/// let cell = Gcra::new(Quota::per_second(10).unwrap().with_burst(2).unwrap());
/// assert!(cell.check(0).is_ok());
/// assert!(cell.check(0).is_ok()); // burst of 2
/// let denied = cell.check(0).unwrap_err();
/// assert_eq!(denied.wait_ns(), 100_000_000); // one emission interval
/// ```
#[derive(Debug)]
pub struct Gcra {
    tat: AtomicU64,
    not_before: AtomicU64,
    quota: QuotaCell,
}

/// A request that does not conform yet: it would at [`Denied::ready_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    ready_at: u64,
    now: u64,
}

impl Denied {
    pub(crate) fn new(ready_at: u64, now: u64) -> Denied {
        Denied { ready_at, now }
    }

    /// The earliest time (on the caller's timeline) at which the request would conform, if
    /// nothing else happens first.
    pub fn ready_at(&self) -> u64 {
        self.ready_at
    }

    /// How long to wait from the `now` that was passed in: never negative.
    pub fn wait_ns(&self) -> u64 {
        self.ready_at.saturating_sub(self.now)
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limited: retry in {} ns", self.wait_ns())
    }
}

impl core::error::Error for Denied {}

/// A request for `n` cells that can never conform, because `n` exceeds the quota's burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Impossible {
    /// The cells asked for.
    pub n: u32,
    /// The most cells one request may take (the burst).
    pub burst: u32,
}

impl fmt::Display for Impossible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cells can never fit a quota whose burst is {}",
            self.n, self.burst
        )
    }
}

impl core::error::Error for Impossible {}

/// Why a request for `n` cells was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not now; it would conform later.
    Later(Denied),
    /// Never: `n` is larger than the burst.
    Never(Impossible),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Later(d) => d.fmt(f),
            Refusal::Never(i) => i.fmt(f),
        }
    }
}

impl core::error::Error for Refusal {}

/// A committed reservation: the request may go at [`Reservation::ready_at`].
///
/// Hand it back to [`Gcra::refund`] if the request is cancelled before it is sent. A
/// reservation is neither `Clone` nor `Copy`, and a successful refund marks it spent, so one
/// reservation can give its slot back at most once: a second refund of the same reservation
/// always fails, even when later reservations bring `TAT` back to the value it had.
///
/// ```
/// use headway_core::{Gcra, Quota};
///
/// let cell = Gcra::new(Quota::per_second(1).unwrap());
/// let mut first = cell.reserve(0);
/// assert!(cell.refund(&mut first)); // the slot at 0 is free again
/// let second = cell.reserve(0); // and taken by a new request, ready at 0
/// assert_eq!(second.ready_at(), 0);
/// assert!(!cell.refund(&mut first)); // spent: the new request keeps its slot
/// assert_eq!(cell.reserve(0).ready_at(), 1_000_000_000);
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation holds a slot: send at ready_at, or refund it"]
pub struct Reservation {
    ready_at: u64,
    prev_tat: u64,
    tat: u64,
    spent: bool,
}

impl Reservation {
    /// When the reserved request may be sent.
    pub fn ready_at(&self) -> u64 {
        self.ready_at
    }

    /// How long from `now` until the request may be sent: never negative.
    pub fn wait_ns(&self, now: u64) -> u64 {
        self.ready_at.saturating_sub(now)
    }

    /// True once a refund of this reservation has succeeded.
    pub fn is_refunded(&self) -> bool {
        self.spent
    }
}

/// What a request of `n` cells at `now` would do to a cell whose state is `tat`/`not_before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The earliest time the request conforms (>= now).
    pub(crate) ready_at: u64,
    /// The cell's `TAT` once the request is admitted at `ready_at`.
    pub(crate) new_tat: u64,
}

/// The pure GCRA step: when `n` cells conform, and the state after admitting them then.
#[inline]
pub(crate) fn plan(
    tat: u64,
    not_before: u64,
    (t_ns, tau_ns): (u64, u64),
    n: u32,
    now: u64,
) -> Result<Plan, Impossible> {
    let impossible = Impossible {
        n,
        burst: (tau_ns / t_ns).saturating_add(1).min(u64::from(u32::MAX)) as u32,
    };
    let extra = u64::from(n.saturating_sub(1))
        .checked_mul(t_ns)
        .ok_or(impossible)?;
    if n == 0 || extra > tau_ns {
        return Err(impossible);
    }
    let earliest = tat.saturating_add(extra).saturating_sub(tau_ns);
    let ready_at = now.max(not_before).max(earliest);
    let increment = extra.saturating_add(t_ns);
    Ok(Plan {
        ready_at,
        new_tat: tat.max(ready_at).saturating_add(increment),
    })
}

impl Gcra {
    /// A fresh cell: the whole burst is available at any `now`.
    pub fn new(quota: Quota) -> Gcra {
        Gcra {
            tat: AtomicU64::new(0),
            not_before: AtomicU64::new(0),
            quota: QuotaCell::new(quota),
        }
    }

    /// The quota in force.
    pub fn quota(&self) -> Quota {
        self.quota.get()
    }

    /// Replaces the quota, keeping the state: requests already admitted still count, so a
    /// lower quota takes effect without a burst and a higher one without a stall.
    pub fn set_quota(&self, quota: Quota) {
        self.quota.set(quota);
    }

    /// Admits one request at `now`, or says how long to wait. A denial changes nothing.
    #[inline]
    pub fn check(&self, now: u64) -> Result<(), Denied> {
        match self.check_n(1, now) {
            Ok(()) => Ok(()),
            Err(Refusal::Later(denied)) => Err(denied),
            // One cell always fits: a quota's burst is at least 1.
            Err(Refusal::Never(_)) => unreachable!("a quota always admits one cell"),
        }
    }

    /// Admits `n` cells at once at `now`, or refuses: [`Refusal::Later`] with the wait, or
    /// [`Refusal::Never`] if `n` is 0 or larger than the burst.
    #[inline]
    pub fn check_n(&self, n: u32, now: u64) -> Result<(), Refusal> {
        // Acquire: see `commit`.
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let not_before = self.not_before_after_tat();
            let step =
                plan(tat, not_before, self.quota.timing(), n, now).map_err(Refusal::Never)?;
            if step.ready_at > now {
                return Err(Refusal::Later(Denied {
                    ready_at: step.ready_at,
                    now,
                }));
            }
            match self.commit(tat, step.new_tat) {
                Ok(()) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }

    /// Would `n` cells conform at `now`? Consumes nothing.
    #[inline]
    pub fn peek_n(&self, n: u32, now: u64) -> Result<(), Refusal> {
        // Acquire: as in `check_n`.
        let not_before = self.not_before.load(Ordering::Acquire);
        let tat = self.tat.load(Ordering::Acquire);
        let step = plan(tat, not_before, self.quota.timing(), n, now).map_err(Refusal::Never)?;
        if step.ready_at > now {
            return Err(Refusal::Later(Denied {
                ready_at: step.ready_at,
                now,
            }));
        }
        Ok(())
    }

    /// Would one request conform at `now`? Consumes nothing.
    pub fn peek(&self, now: u64) -> Result<(), Denied> {
        match self.peek_n(1, now) {
            Ok(()) => Ok(()),
            Err(Refusal::Later(denied)) => Err(denied),
            Err(Refusal::Never(_)) => unreachable!("a quota always admits one cell"),
        }
    }

    /// How many single requests would conform back to back at `now` (at most the burst).
    pub fn remaining(&self, now: u64) -> u32 {
        // Acquire: as in `check_n`.
        if self.not_before.load(Ordering::Acquire) > now {
            return 0;
        }
        let tat = self.tat.load(Ordering::Acquire);
        let (t_ns, tau_ns) = self.quota.timing();
        // k requests conform iff max(TAT, now) + (k-1)*T - tau <= now.
        let slack = now
            .saturating_add(tau_ns)
            .saturating_add(t_ns)
            .saturating_sub(tat.max(now));
        (slack / t_ns).min(u64::from(u32::MAX)) as u32
    }

    /// How long from `now` until the cell is fully replenished (indistinguishable from fresh).
    pub fn reset_after(&self, now: u64) -> u64 {
        // Acquire: as in `check_n`.
        let tat = self.tat.load(Ordering::Acquire);
        let not_before = self.not_before.load(Ordering::Acquire);
        tat.max(not_before).saturating_sub(now)
    }

    /// True when the cell holds no information at `now`: a keyed store may drop it and
    /// recreate it later with no change in behaviour.
    pub fn is_idle(&self, now: u64) -> bool {
        self.reset_after(now) == 0
    }

    /// Reserves `n` cells: always commits (unless impossible) and says when they may go.
    ///
    /// For schedulers: the caller sleeps until [`Reservation::ready_at`] and sends. If the
    /// request is abandoned before then, [`Gcra::refund`] may give the slot back.
    #[inline]
    pub fn reserve_n(&self, n: u32, now: u64) -> Result<Reservation, Impossible> {
        // Acquire: see `commit`.
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let not_before = self.not_before_after_tat();
            let step = plan(tat, not_before, self.quota.timing(), n, now)?;
            match self.commit(tat, step.new_tat) {
                Ok(()) => {
                    return Ok(Reservation {
                        ready_at: step.ready_at,
                        prev_tat: tat,
                        tat: step.new_tat,
                        spent: false,
                    })
                }
                Err(current) => tat = current,
            }
        }
    }

    /// Reserves one cell; see [`Gcra::reserve_n`].
    pub fn reserve(&self, now: u64) -> Reservation {
        match self.reserve_n(1, now) {
            Ok(r) => r,
            Err(_) => unreachable!("a quota always admits one cell"),
        }
    }

    /// Gives back an unused reservation. Returns `true` if the slot was returned.
    ///
    /// The slot is returned only while the reservation is still the latest one (nothing has
    /// been admitted or reserved since, or everything since was given back); otherwise a
    /// later request was planned after it and returning the slot could put two requests in
    /// one slot, so the refund fails and changes nothing (it may succeed later, once the
    /// reservations after it are given back). That is conservative: it can only make the
    /// client slower, never faster than allowed.
    ///
    /// A successful refund marks the reservation spent; refunding it again returns `false`.
    /// Without that mark, a new reservation that brought `TAT` back to the same value would
    /// let the old one be refunded twice, leaving two requests in one slot.
    pub fn refund(&self, reservation: &mut Reservation) -> bool {
        if reservation.spent {
            return false;
        }
        // A strong CAS: a weak one may fail spuriously (LL/SC targets), which would forfeit
        // the slot and report `false` for a refund that nothing prevented.
        reservation.spent = self.compare_set_tat(reservation.tat, reservation.prev_tat);
        reservation.spent
    }

    /// Nothing conforms before `t` (for example a server's `Retry-After`). Waiters planning
    /// after this call see the pause; a later, earlier `t` never shortens it.
    pub fn defer_until(&self, t: u64) {
        // AcqRel: the pause is published to every later `Acquire` load in check/reserve.
        self.not_before.fetch_max(t, Ordering::AcqRel);
    }

    /// The time before which nothing conforms, set by [`Gcra::defer_until`].
    pub fn deferred_until(&self) -> u64 {
        // Acquire: pairs with the AcqRel `fetch_max` in `defer_until`.
        self.not_before.load(Ordering::Acquire)
    }

    /// The pause, read *after* the `TAT` a plan is built on (and again on every retry).
    ///
    /// If that `TAT` was written by a request that saw a pause, this load sees the pause too
    /// (the Acquire load or failed CAS of `TAT` synchronises with that request's commit, which
    /// came after its own read of the pause). Reading the pause first, or only once before a
    /// retry loop, would let a request planned before a pause be admitted *after* one that saw
    /// it, at a time inside the pause.
    #[inline]
    fn not_before_after_tat(&self) -> u64 {
        // Acquire: pairs with the AcqRel `fetch_max` in `defer_until`.
        self.not_before.load(Ordering::Acquire)
    }

    /// Moves `TAT` from `old` to `new` if nobody else moved it first.
    #[inline]
    fn commit(&self, old: u64, new: u64) -> Result<(), u64> {
        // AcqRel on success: admissions are totally ordered through this word; a request
        // admitted after another also sees what that one did before being admitted, so
        // callers may use admission as a synchronisation point. Acquire on failure: the
        // value returned is used to plan the retry. (On x86 every CAS costs the same.)
        self.tat
            .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
    }

    /// The raw `TAT`, for the multi-tier limiter.
    pub(crate) fn tat(&self) -> u64 {
        // Acquire: as in `check_n`.
        self.tat.load(Ordering::Acquire)
    }

    /// The raw CAS, for the multi-tier limiter.
    pub(crate) fn compare_set_tat(&self, old: u64, new: u64) -> bool {
        // Strong CAS: the multi-tier limiter treats failure as real contention.
        // AcqRel/Acquire: as in `commit`.
        self.tat
            .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The emission interval and tolerance in force.
    pub(crate) fn timing(&self) -> (u64, u64) {
        self.quota.timing()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn cell(limit: u32, burst: u32) -> Gcra {
        Gcra::new(Quota::per_second(limit).unwrap().with_burst(burst).unwrap())
    }

    #[test]
    fn spaces_requests_by_the_emission_interval() {
        let c = cell(10, 1);
        assert!(c.check(0).is_ok());
        assert_eq!(c.check(0).unwrap_err().wait_ns(), 100 * MS);
        assert_eq!(c.check(99 * MS).unwrap_err().wait_ns(), MS);
        assert!(c.check(100 * MS).is_ok());
    }

    #[test]
    fn burst_then_steady() {
        let c = cell(10, 3);
        for _ in 0..3 {
            assert!(c.check(0).is_ok());
        }
        assert_eq!(c.check(0).unwrap_err().wait_ns(), 100 * MS);
        assert_eq!(c.remaining(0), 0);
        assert_eq!(c.remaining(250 * MS), 2);
        assert_eq!(c.reset_after(0), 300 * MS);
    }

    #[test]
    fn n_cells() {
        let c = cell(10, 3);
        assert_eq!(
            c.check_n(4, 0),
            Err(Refusal::Never(Impossible { n: 4, burst: 3 }))
        );
        assert!(matches!(c.check_n(0, 0), Err(Refusal::Never(_))));
        assert!(c.check_n(3, 0).is_ok());
        match c.check_n(2, 0) {
            Err(Refusal::Later(d)) => assert_eq!(d.wait_ns(), 200 * MS),
            other => panic!("{other:?}"),
        }
        assert!(c.peek_n(2, 200 * MS).is_ok());
        assert!(c.check_n(2, 200 * MS).is_ok());
    }

    #[test]
    fn reserve_and_refund() {
        let c = cell(10, 1);
        let mut a = c.reserve(0);
        let mut b = c.reserve(0);
        assert_eq!((a.ready_at(), b.ready_at()), (0, 100 * MS));
        // `a` is no longer the latest reservation: refunding it must fail.
        assert!(!c.refund(&mut a));
        assert!(c.refund(&mut b));
        assert!(b.is_refunded() && !a.is_refunded());
        assert_eq!(c.reserve(0).ready_at(), 100 * MS);
    }

    #[test]
    fn a_refund_never_repeats_when_tat_recurs() {
        let c = cell(1, 1);
        let mut r1 = c.reserve(0);
        assert!(c.refund(&mut r1));
        let r2 = c.reserve(0);
        // TAT is back to the value r1 left: only the spent mark stops a second refund.
        assert!(!c.refund(&mut r1));
        let r3 = c.reserve(0);
        assert_eq!((r2.ready_at(), r3.ready_at()), (0, 1_000 * MS));
    }

    #[test]
    fn defer_survives_refund() {
        let c = cell(10, 1);
        let mut r = c.reserve(0);
        c.defer_until(5_000 * MS);
        assert!(c.refund(&mut r));
        assert_eq!(c.check(0).unwrap_err().wait_ns(), 5_000 * MS);
        assert_eq!(c.reserve(MS).ready_at(), 5_000 * MS);
        assert!(!c.is_idle(5_000 * MS));
        assert!(c.is_idle(5_100 * MS));
    }

    #[test]
    fn set_quota_keeps_state() {
        let c = cell(10, 1);
        assert!(c.check(0).is_ok());
        c.set_quota(Quota::per_second(1).unwrap());
        // TAT stayed at 100 ms; the new interval applies to the next admission.
        assert!(c.check(100 * MS).is_ok());
        assert_eq!(c.check(100 * MS).unwrap_err().wait_ns(), 1_000 * MS);
        assert_eq!(c.quota(), Quota::per_second(1).unwrap());
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let c = cell(1, 1);
        c.defer_until(u64::MAX);
        assert_eq!(c.check(u64::MAX - 1).unwrap_err().wait_ns(), 1);
        assert_eq!(c.reset_after(0), u64::MAX);
        let c = cell(1, 1);
        assert!(c.check(u64::MAX - 10).is_ok());
        assert_eq!(c.check(u64::MAX - 10).unwrap_err().wait_ns(), 10);
    }
}
