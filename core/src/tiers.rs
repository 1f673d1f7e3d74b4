//! [`Tiers`]: several quotas at once (10/s and 500/h and 5000/day), all-or-nothing.
//!
//! A request released at time `t` must conform to **every** tier at `t`. Reserving each tier
//! at its own earliest slot and releasing at the latest of them is wrong: the tighter tier's
//! slot was planned for an earlier instant, and the next request's spacing is computed from it.
//! So the limiter finds `t` = the latest of the tiers' earliest times, then admits the
//! request in every tier *at `t`*.
//!
//! Commit is optimistic: every tier's `TAT` is read, the decision made, then each tier is
//! moved by compare-and-swap in order. If another request moved a tier in between, the tiers
//! already moved are moved back and the whole decision is retried. A move back that finds its
//! tier moved again (another request was planned on top of it) leaves that slot unused rather
//! than let two requests share it: under contention a tier can lose a slot, but no tier ever
//! admits more than its quota and a denied request never consumes anything without
//! contention. A caller that serialises access (like the scheduler in the adapters, which
//! holds a per-key lock) never loses slots.

use core::fmt;

use crate::gcra::{plan, Denied, Gcra, Impossible, Refusal};
use crate::quota::Quota;
use crate::sync::{AtomicU64, Ordering};

/// The most quotas one [`Tiers`] limiter holds.
pub const MAX_TIERS: usize = 8;

/// Why a tier set could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TiersError {
    /// No quota was given.
    Empty,
    /// More than [`MAX_TIERS`] quotas were given.
    TooMany(usize),
}

impl fmt::Display for TiersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TiersError::Empty => f.write_str("at least one quota is required"),
            TiersError::TooMany(n) => write!(f, "{n} quotas given; at most {MAX_TIERS} allowed"),
        }
    }
}

impl core::error::Error for TiersError {}

/// Up to [`MAX_TIERS`] quotas checked and reserved all-or-nothing.
///
/// ```
/// use headway_core::{Quota, Tiers};
///
/// const S: u64 = 1_000_000_000;
/// let tiers = Tiers::new(&[
///     Quota::per_second(10).unwrap().with_burst(10).unwrap(),
///     Quota::per_minute(15).unwrap(),
/// ]).unwrap();
/// // The per-minute tier spaces requests 4 s apart even though 10/s would allow a burst.
/// assert!(tiers.check(0).is_ok());
/// assert_eq!(tiers.check(0).unwrap_err().wait_ns(), 4 * S);
/// ```
#[derive(Debug)]
pub struct Tiers {
    cells: [Gcra; MAX_TIERS],
    len: usize,
    not_before: AtomicU64,
}

/// A committed multi-tier reservation; see [`Tiers::reserve_n`].
///
/// Neither `Clone` nor `Copy`: each tier's slot can be given back at most once (see
/// [`Tiers::refund`]).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation holds a slot in every tier: send at ready_at, or refund it"]
pub struct TiersReservation {
    ready_at: u64,
    prev: [u64; MAX_TIERS],
    next: [u64; MAX_TIERS],
    /// Bit `i` is set once tier `i` took its slot back.
    refunded: u8,
}

impl TiersReservation {
    /// When the reserved request may be sent: it conforms to every tier then.
    pub fn ready_at(&self) -> u64 {
        self.ready_at
    }

    /// How long from `now` until the request may be sent: never negative.
    pub fn wait_ns(&self, now: u64) -> u64 {
        self.ready_at.saturating_sub(now)
    }
}

/// A private copy of a tier set's state, for planning a queue of requests ahead without
/// committing any: see [`Tiers::schedule`] and [`Tiers::plan_on`].
///
/// ```
/// use headway_core::{Quota, Tiers};
///
/// let tiers = Tiers::new(&[Quota::per_second(1).unwrap()]).unwrap();
/// let mut ahead = tiers.schedule();
/// // Three requests queued at 0 would go at 0, 1 s and 2 s; the tiers themselves are untouched.
/// let turns: Vec<u64> = (0..3).map(|_| tiers.plan_on(&mut ahead, 1, 0).unwrap()).collect();
/// assert_eq!(turns, [0, 1_000_000_000, 2_000_000_000]);
/// assert!(tiers.check(0).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub(crate) tats: [u64; MAX_TIERS],
    pub(crate) not_before: u64,
}

impl Schedule {
    /// Moves every tier's schedule `by` nanoseconds later: what a request planned on it that
    /// went `by` late can have cost at most, so plans on the result stay on the safe side.
    ///
    /// ```
    /// use headway_core::{Quota, Tiers};
    /// let tiers = Tiers::new(&[Quota::per_second(1).unwrap()]).unwrap();
    /// let mut ahead = tiers.schedule();
    /// assert_eq!(tiers.plan_on(&mut ahead, 1, 0), Ok(0));
    /// ahead.delay(5);
    /// assert_eq!(tiers.plan_on(&mut ahead, 1, 0), Ok(1_000_000_005));
    /// ```
    pub fn delay(&mut self, by: u64) {
        for tat in &mut self.tats {
            *tat = tat.saturating_add(by);
        }
    }
}

/// The outcome of planning `n` cells at `now` across the tiers.
struct TierPlan {
    ready_at: u64,
    prev: [u64; MAX_TIERS],
    next: [u64; MAX_TIERS],
}

impl Tiers {
    /// A limiter enforcing every quota in `quotas` at once.
    pub fn new(quotas: &[Quota]) -> Result<Tiers, TiersError> {
        let first = *quotas.first().ok_or(TiersError::Empty)?;
        if quotas.len() > MAX_TIERS {
            return Err(TiersError::TooMany(quotas.len()));
        }
        Ok(Tiers {
            cells: core::array::from_fn(|i| Gcra::new(*quotas.get(i).unwrap_or(&first))),
            len: quotas.len(),
            not_before: AtomicU64::new(0),
        })
    }

    /// The quotas in force, in the order given.
    pub fn quotas(&self) -> impl Iterator<Item = Quota> + '_ {
        self.cells[..self.len].iter().map(Gcra::quota)
    }

    /// How many tiers there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a tier set holds at least one quota.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Replaces the quotas. Tier `i` keeps its state if it existed; new tiers start fresh;
    /// a pause set by [`Tiers::defer_until`] stays.
    pub fn set_quotas(&mut self, quotas: &[Quota]) -> Result<(), TiersError> {
        if quotas.is_empty() {
            return Err(TiersError::Empty);
        }
        if quotas.len() > MAX_TIERS {
            return Err(TiersError::TooMany(quotas.len()));
        }
        for (i, quota) in quotas.iter().enumerate() {
            if i < self.len {
                self.cells[i].set_quota(*quota);
            } else {
                self.cells[i] = Gcra::new(*quota);
            }
        }
        self.len = quotas.len();
        Ok(())
    }

    /// Plans `n` cells at `now`: the earliest time every tier conforms, and each tier's state
    /// once the request is admitted at that time.
    fn plan(&self, n: u32, now: u64) -> Result<TierPlan, Impossible> {
        let mut prev = [0; MAX_TIERS];
        for (i, cell) in self.cells[..self.len].iter().enumerate() {
            prev[i] = cell.tat();
        }
        // Acquire: a pause published by `defer_until` before this call is seen. Read after
        // the tiers' TATs: if one of them was written by a request that saw a pause, this
        // sees it too, so a request planned before a pause is never admitted on top of one
        // planned after it (see `Gcra::not_before_after_tat`).
        let not_before = self.not_before.load(Ordering::Acquire);
        let mut ready_at = now.max(not_before);
        for (i, cell) in self.cells[..self.len].iter().enumerate() {
            ready_at = ready_at.max(plan(prev[i], not_before, cell.timing(), n, now)?.ready_at);
        }
        let mut next = [0; MAX_TIERS];
        for (i, cell) in self.cells[..self.len].iter().enumerate() {
            // Admitting at `ready_at`, where this tier conforms because its earliest time
            // is no later: the step's ready time is exactly `ready_at`.
            next[i] = plan(prev[i], not_before, cell.timing(), n, ready_at)?.new_tat;
        }
        Ok(TierPlan {
            ready_at,
            prev,
            next,
        })
    }

    /// A copy of the state as it is now, to plan requests on with [`Tiers::plan_on`].
    pub fn schedule(&self) -> Schedule {
        let mut tats = [0; MAX_TIERS];
        for (i, cell) in self.cells[..self.len].iter().enumerate() {
            tats[i] = cell.tat();
        }
        Schedule {
            tats,
            not_before: self.deferred_until(),
        }
    }

    /// Plans `n` cells on `schedule` as if every request planned on it before had been
    /// admitted at its planned time: returns when these would conform (never before `now`)
    /// and admits them on `schedule` then. The tiers themselves are not changed; the quotas
    /// used are the ones in force now.
    pub fn plan_on(&self, schedule: &mut Schedule, n: u32, now: u64) -> Result<u64, Impossible> {
        let mut ready_at = now.max(schedule.not_before);
        for (i, cell) in self.cells[..self.len].iter().enumerate() {
            let step = plan(schedule.tats[i], schedule.not_before, cell.timing(), n, now)?;
            ready_at = ready_at.max(step.ready_at);
        }
        for (i, cell) in self.cells[..self.len].iter().enumerate() {
            schedule.tats[i] = plan(
                schedule.tats[i],
                schedule.not_before,
                cell.timing(),
                n,
                ready_at,
            )?
            .new_tat;
        }
        Ok(ready_at)
    }

    /// Moves every tier from `prev` to `next`, or none (see the module docs).
    fn commit(&self, p: &TierPlan) -> bool {
        for i in 0..self.len {
            if !self.cells[i].compare_set_tat(p.prev[i], p.next[i]) {
                for j in (0..i).rev() {
                    // If this fails, a request was planned on top of our slot in tier j:
                    // the slot is forfeited, never shared.
                    self.cells[j].compare_set_tat(p.next[j], p.prev[j]);
                }
                return false;
            }
        }
        true
    }

    /// Admits one request at `now` if every tier allows it, or says how long to wait.
    pub fn check(&self, now: u64) -> Result<(), Denied> {
        match self.check_n(1, now) {
            Ok(()) => Ok(()),
            Err(Refusal::Later(d)) => Err(d),
            Err(Refusal::Never(_)) => unreachable!("every quota admits one cell"),
        }
    }

    /// Admits `n` cells at `now` in every tier, or none.
    pub fn check_n(&self, n: u32, now: u64) -> Result<(), Refusal> {
        loop {
            let p = self.plan(n, now).map_err(Refusal::Never)?;
            if p.ready_at > now {
                return Err(Refusal::Later(Denied::new(p.ready_at, now)));
            }
            if self.commit(&p) {
                return Ok(());
            }
        }
    }

    /// Would `n` cells conform in every tier at `now`? Consumes nothing.
    pub fn peek_n(&self, n: u32, now: u64) -> Result<(), Refusal> {
        let p = self.plan(n, now).map_err(Refusal::Never)?;
        if p.ready_at > now {
            return Err(Refusal::Later(Denied::new(p.ready_at, now)));
        }
        Ok(())
    }

    /// Reserves `n` cells in every tier at the earliest time all conform.
    pub fn reserve_n(&self, n: u32, now: u64) -> Result<TiersReservation, Impossible> {
        loop {
            let p = self.plan(n, now)?;
            if self.commit(&p) {
                return Ok(TiersReservation {
                    ready_at: p.ready_at,
                    prev: p.prev,
                    next: p.next,
                    refunded: 0,
                });
            }
        }
    }

    /// Gives back an unused reservation, tier by tier; see [`Gcra::refund`]. Returns `true`
    /// if every tier took its slot back.
    ///
    /// With `false`, some tiers may still have taken their slot back (each tier decides on its
    /// own), so a reservation handed to `refund` must not be sent, whatever the answer. Each
    /// tier that took its slot back is marked in the reservation and is never refunded again:
    /// a later call only tries the tiers that refused, so no tier can give one slot back twice
    /// however its `TAT` values recur. A reservation whose every tier was already given back
    /// returns `false`.
    pub fn refund(&self, reservation: &mut TiersReservation) -> bool {
        let every_tier = (1u16 << self.len) - 1;
        if u16::from(reservation.refunded) == every_tier {
            return false;
        }
        let mut all = true;
        for i in 0..self.len {
            let bit = 1u8 << i;
            if reservation.refunded & bit != 0 {
                continue;
            }
            if self.cells[i].compare_set_tat(reservation.next[i], reservation.prev[i]) {
                reservation.refunded |= bit;
            } else {
                all = false;
            }
        }
        all
    }

    /// Nothing conforms in any tier before `t`.
    pub fn defer_until(&self, t: u64) {
        // AcqRel: published to the Acquire load in `plan`.
        self.not_before.fetch_max(t, Ordering::AcqRel);
    }

    /// The time before which nothing conforms, set by [`Tiers::defer_until`].
    pub fn deferred_until(&self) -> u64 {
        // Acquire: pairs with `defer_until`.
        self.not_before.load(Ordering::Acquire)
    }

    /// Single requests that would conform back to back at `now`: the least over the tiers.
    pub fn remaining(&self, now: u64) -> u32 {
        if self.deferred_until() > now {
            return 0;
        }
        self.cells[..self.len]
            .iter()
            .map(|c| c.remaining(now))
            .min()
            .unwrap_or(0)
    }

    /// How long until every tier is fully replenished.
    pub fn reset_after(&self, now: u64) -> u64 {
        self.cells[..self.len]
            .iter()
            .map(|c| c.reset_after(now))
            .max()
            .unwrap_or(0)
            .max(self.deferred_until().saturating_sub(now))
    }

    /// True when the limiter holds no information at `now` and may be evicted.
    pub fn is_idle(&self, now: u64) -> bool {
        self.reset_after(now) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn rejects_bad_sets() {
        assert_eq!(Tiers::new(&[]).unwrap_err(), TiersError::Empty);
        let q = Quota::per_second(1).unwrap();
        assert_eq!(Tiers::new(&[q; 9]).unwrap_err(), TiersError::TooMany(9));
    }

    #[test]
    fn released_request_conforms_to_every_tier_at_its_time() {
        // 2/s burst 2, and 3 per 10 s burst 3.
        let fast = Quota::per_second(2).unwrap().with_burst(2).unwrap();
        let slow = Quota::new(3, core::time::Duration::from_secs(10))
            .unwrap()
            .with_burst(3)
            .unwrap();
        let t = Tiers::new(&[fast, slow]).unwrap();
        let times: std::vec::Vec<u64> = (0..6)
            .map(|_| t.reserve_n(1, 0).unwrap().ready_at())
            .collect();
        // Fast tier alone: 0, 0, 0.5, 1.0, ...; slow tier: three at once, then one per 3.33 s.
        let slow_t = slow.emission_interval_ns();
        assert_eq!(times[..3], [0, 0, S / 2]);
        assert_eq!(times[3], slow_t);
        assert_eq!(times[4], 2 * slow_t);
        assert_eq!(times[5], 3 * slow_t);
    }

    #[test]
    fn denied_changes_nothing() {
        let t = Tiers::new(&[
            Quota::per_second(10).unwrap().with_burst(5).unwrap(),
            Quota::per_minute(1).unwrap(),
        ])
        .unwrap();
        assert!(t.check(0).is_ok());
        assert!(t.check(S).is_err());
        // The fast tier must not have been charged for the denied request.
        assert_eq!(t.cells[0].remaining(S), 5);
    }

    #[test]
    fn impossible_in_any_tier() {
        let t = Tiers::new(&[
            Quota::per_second(10).unwrap().with_burst(5).unwrap(),
            Quota::per_minute(10).unwrap().with_burst(2).unwrap(),
        ])
        .unwrap();
        assert_eq!(
            t.check_n(3, 0),
            Err(Refusal::Never(Impossible { n: 3, burst: 2 }))
        );
        assert!(t.check_n(2, 0).is_ok());
    }

    #[test]
    fn refund_and_defer() {
        let t = Tiers::new(&[Quota::per_second(1).unwrap()]).unwrap();
        let mut r = t.reserve_n(1, 0).unwrap();
        t.defer_until(3 * S);
        assert!(t.refund(&mut r));
        assert_eq!(t.check(0).unwrap_err().wait_ns(), 3 * S);
        assert!(t.check(3 * S).is_ok());
    }
}
