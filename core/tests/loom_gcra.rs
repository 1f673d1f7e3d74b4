//! Loom models of the lock-free GCRA cell: concurrent checks, reservations racing refunds,
//! quota changes racing readers, and pauses racing admissions.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p headway-core --release --test loom_gcra`.
//!
//! Every model starts from a fresh cell at `now = 0`, where `TAT` only ever grows by whole
//! emission intervals, so the final `TAT` (read through `reset_after(0)`) counts the slots
//! taken.
#![cfg(loom)]

mod common;

use common::{builder, on_threads};
use headway_core::{Gcra, Quota, Refusal, Reservation};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

/// Emission interval used by the models, in nanoseconds.
const T: u64 = 100;

/// One request per `T` with the given burst.
fn quota(burst: u32) -> Quota {
    common::quota(T, burst)
}

/// Checks from three threads at the same instant: exactly `burst` are admitted (nobody is
/// denied for any other reason), each denial names a real wait, and the cell ends holding
/// exactly the admitted slots.
fn concurrent_checks(burst: u32) {
    builder(None).check(move || {
        let cell = Arc::new(Gcra::new(quota(burst)));
        let c = cell.clone();
        let results = on_threads(2, move |_| c.check(0));
        let admitted = results.iter().filter(|r| r.is_ok()).count() as u64;
        assert_eq!(admitted, u64::from(burst).min(3), "{results:?}");
        for denied in results.iter().filter_map(|r| r.err()) {
            // Denied only once the burst is used: the next slot opens one interval later.
            assert_eq!(denied.wait_ns(), T);
        }
        assert_eq!(cell.reset_after(0), admitted * T);
    });
}

#[test]
fn concurrent_checks_burst_1() {
    concurrent_checks(1);
}

#[test]
fn concurrent_checks_burst_2() {
    concurrent_checks(2);
}

#[test]
fn concurrent_checks_burst_3() {
    concurrent_checks(3);
}

/// A two-cell request races a one-cell request against a burst of 2: never more than two
/// cells in total, exactly one of the two requests wins, and the loser's refusal is the
/// wait the winner's slots imply.
#[test]
fn concurrent_check_n_never_over_admits() {
    builder(None).check(|| {
        let cell = Arc::new(Gcra::new(quota(2)));
        let c = cell.clone();
        let pair = thread::spawn(move || c.check_n(2, 0));
        let single = cell.check(0);
        let pair = pair.join().unwrap();
        match (pair, single) {
            (Ok(()), Err(d)) => {
                assert_eq!(d.wait_ns(), T);
                assert_eq!(cell.reset_after(0), 2 * T);
            }
            (Err(Refusal::Later(d)), Ok(())) => {
                // One slot gone: two cells fit again one interval later.
                assert_eq!(d.wait_ns(), T);
                assert_eq!(cell.reset_after(0), T);
            }
            other => panic!("exactly one request must win: {other:?}"),
        }
    });
}

/// The ready times of the reservations still held must be pairwise at least `T` apart (burst
/// 1: one request per slot).
fn assert_spaced(kept: &[u64]) {
    for (i, a) in kept.iter().enumerate() {
        for b in &kept[i + 1..] {
            assert!(a.abs_diff(*b) >= T, "two requests share a slot: {kept:?}");
        }
    }
}

/// Two threads reserve while a third refunds a reservation made before they started. Kept
/// reservations (not refunded, or refund refused) never share a slot; a refund that said
/// `true` really gave its slot back (the cell holds exactly the kept slots); one that said
/// `false` left the slot forfeited, never reused.
#[test]
fn reservations_race_a_refund() {
    builder(None).check(|| {
        let cell = Arc::new(Gcra::new(quota(1)));
        let mut first = cell.reserve(0);
        let first_at = first.ready_at();
        assert_eq!(first_at, 0);
        let c = cell.clone();
        let refunder = thread::spawn(move || c.refund(&mut first));
        let c = cell.clone();
        let other = thread::spawn(move || c.reserve(0));
        let mine = cell.reserve(0);
        let other = other.join().unwrap();
        let refunded = refunder.join().unwrap();

        let mut kept = vec![mine.ready_at(), other.ready_at()];
        if !refunded {
            kept.push(first_at);
        }
        assert_spaced(&kept);
        // Every slot taken is held by a kept reservation, except a forfeited one.
        let slots = cell.reset_after(0) / T;
        assert_eq!(slots, if refunded { 2 } else { 3 });
        if refunded {
            // The freed slot at 0 went to one of the later reservations.
            assert!(kept.contains(&0), "{kept:?}");
        }
    });
}

/// One thread reserves and immediately refunds its own reservation while two others reserve.
/// Same guarantees as above, with the refund racing from inside a reserving thread.
#[test]
fn reserve_then_refund_races_reservations() {
    builder(None).check(|| {
        let cell = Arc::new(Gcra::new(quota(1)));
        let c = cell.clone();
        let results: Vec<(Reservation, Option<bool>)> = on_threads(2, move |i| {
            let mut r = c.reserve(0);
            let refunded = (i == 0).then(|| c.refund(&mut r));
            (r, refunded)
        });
        let kept: Vec<u64> = results
            .iter()
            .filter(|(_, refunded)| *refunded != Some(true))
            .map(|(r, _)| r.ready_at())
            .collect();
        assert_spaced(&kept);
        let refunded = results.iter().any(|(_, r)| *r == Some(true));
        assert_eq!(cell.reset_after(0) / T, if refunded { 2 } else { 3 });
        // The slots held are exactly 0, T, ... up to the last one taken.
        let mut sorted = kept.clone();
        sorted.sort_unstable();
        if refunded {
            assert_eq!(sorted, vec![0, T]);
        }
    });
}

/// Reserve, refund, reserve again, then refund the *first* reservation once more, racing a
/// thread that reserves and refunds on its own. The second refund of the first reservation
/// must fail whatever `TAT` holds by then (the values recur: every reservation here moves it
/// between 0, `T` and `2T`), so the reservations still held never share a slot and the cell
/// holds exactly their slots.
#[test]
fn a_refunded_reservation_never_refunds_again() {
    builder(None).check(|| {
        let cell = Arc::new(Gcra::new(quota(1)));
        let c = cell.clone();
        let other = thread::spawn(move || {
            let mut r = c.reserve(0);
            let refunded = c.refund(&mut r);
            (r.ready_at(), refunded)
        });
        let mut first = cell.reserve(0);
        let first_refunded = cell.refund(&mut first);
        let second = cell.reserve(0);
        let again = cell.refund(&mut first);
        assert!(!(first_refunded && again), "one reservation refunded twice");
        let (other_at, other_refunded) = other.join().unwrap();

        let mut kept = vec![second.ready_at()];
        if !(first_refunded || again) {
            kept.push(first.ready_at());
        }
        if !other_refunded {
            kept.push(other_at);
        }
        assert_spaced(&kept);
        // Every reservation not given back is held, and only those: a refund succeeds only
        // on the latest reservation, so the slots stay contiguous from 0.
        assert_eq!(cell.reset_after(0) / T, kept.len() as u64, "{kept:?}");
    });
}

/// Two quotas whose halves, mixed, would admit what neither admits: `A` has `T = 1000` and
/// burst 1 (so two cells at once are impossible); `B` has `T = 100` and burst 11 (`tau =
/// 1000`). A reader that took `T` from `A` and `tau` from `B` would admit two cells with
/// `T = 1000`, leaving `TAT = 2000`.
const T_A: u64 = 1000;
const T_B: u64 = 100;

fn quota_a() -> Quota {
    Quota::from_nanos(1, T_A).unwrap()
}

fn quota_b() -> Quota {
    Quota::from_nanos(1, T_B).unwrap().with_burst(11).unwrap()
}

/// What a fresh cell does with a two-cell check at 0 and `remaining(0)`, under each quota.
fn assert_reads_one_quota(cell: &Gcra, pair: Result<(), Refusal>, remaining: u32, seen: Quota) {
    assert!(
        seen == quota_a() || seen == quota_b(),
        "mixed quota {seen:?}"
    );
    // Fresh: A allows 1 back to back, B allows 11; a mix would say 2 (T_A, tau_B) or 1.
    assert!(remaining == 1 || remaining == 11, "remaining {remaining}");
    match pair {
        // Only B admits two cells, and charges them at T_B.
        Ok(()) => assert_eq!(cell.reset_after(0), 2 * T_B),
        Err(Refusal::Never(i)) => assert_eq!((i.n, i.burst), (2, 1)),
        Err(Refusal::Later(d)) => panic!("a fresh cell never says later: {d:?}"),
    }
}

/// `set_quota` racing a reader: the reader sees `A` or `B`, never a mix of the two.
#[test]
fn set_quota_never_shows_a_mixed_quota() {
    builder(Some(5)).check(|| {
        let cell = Arc::new(Gcra::new(quota_a()));
        let c = cell.clone();
        let writer = thread::spawn(move || c.set_quota(quota_b()));
        let remaining = cell.remaining(0);
        let pair = cell.check_n(2, 0);
        let seen = cell.quota();
        writer.join().unwrap();
        assert_reads_one_quota(&cell, pair, remaining, seen);
        assert_eq!(cell.quota(), quota_b());
    });
}

/// Two writers racing each other and a reader: writers exclude each other, the reader sees one
/// whole quota, and the cell ends with one whole quota.
#[test]
fn concurrent_set_quota_writers() {
    builder(Some(2)).check(|| {
        let cell = Arc::new(Gcra::new(quota_a()));
        let c = cell.clone();
        let w1 = thread::spawn(move || c.set_quota(quota_b()));
        let c = cell.clone();
        let w2 = thread::spawn(move || c.set_quota(quota_a()));
        let remaining = cell.remaining(0);
        let pair = cell.check_n(2, 0);
        let seen = cell.quota();
        w1.join().unwrap();
        w2.join().unwrap();
        assert_reads_one_quota(&cell, pair, remaining, seen);
        let last = cell.quota();
        assert!(last == quota_a() || last == quota_b(), "{last:?}");
    });
}

/// The pause used by the defer models.
const PAUSE: u64 = 10 * T;

/// A pause racing a check and a reserve-and-refund. After `defer_until(PAUSE)` returned, the
/// same thread's checks before `PAUSE` are denied, its reservations are not ready before
/// `PAUSE`, and so are those of any thread that learnt of the pause (through a flag published
/// after it). A refund, successful or not, never undoes the pause.
#[test]
fn defer_until_races_check_and_refund() {
    builder(Some(4)).check(|| {
        let cell = Arc::new(Gcra::new(quota(3)));
        let published = Arc::new(AtomicBool::new(false));

        let (c, p) = (cell.clone(), published.clone());
        let deferrer = thread::spawn(move || {
            c.defer_until(PAUSE);
            // Release: whoever reads `true` also sees the pause.
            p.store(true, Ordering::Release);
            let denied = c.check(PAUSE - 1).expect_err("checked inside the pause");
            assert_eq!(denied.ready_at(), PAUSE);
        });

        let c = cell.clone();
        let refunder = thread::spawn(move || {
            let mut r = c.reserve(0);
            c.refund(&mut r)
        });

        // Acquire: pairs with the Release store after the pause.
        let knew = published.load(Ordering::Acquire);
        let result = cell.check(0);
        if knew {
            assert_eq!(result.unwrap_err().ready_at(), PAUSE);
        }
        deferrer.join().unwrap();
        refunder.join().unwrap();
        assert_eq!(cell.deferred_until(), PAUSE);
        assert!(cell.check(PAUSE - 1).is_err());
        assert!(cell.reserve(PAUSE - 1).ready_at() >= PAUSE);
    });
}

/// A short pause, within the tolerance of a burst of 3, for the ordering model.
const SHORT_PAUSE: u64 = T / 2;

/// A check planned before a pause must not be admitted *after* a check that saw the pause:
/// its effect must fit some sequential order of "check at 0", "pause until P", "check at P"
/// (P = `SHORT_PAUSE`).
///
/// Burst 3, `T = 100`, `P = 50`: in the order (0, pause, P) both are admitted and the cell
/// ends at `TAT = 2T`; in the order (pause, P, 0) the check at 0 is denied and `TAT = P + T`.
/// Admitting the check at 0 on top of the one at P (a stale pause read on a retry) would
/// leave `TAT = P + 2T`, which no sequential order explains.
#[test]
fn no_admission_before_a_pause_after_one_that_saw_it() {
    builder(None).check(|| {
        let cell = Arc::new(Gcra::new(quota(3)));
        let c = cell.clone();
        let early = thread::spawn(move || c.check(0));
        cell.defer_until(SHORT_PAUSE);
        cell.check(SHORT_PAUSE)
            .expect("the check at the pause always conforms");
        let early = early.join().unwrap();
        let expected = if early.is_ok() {
            2 * T
        } else {
            SHORT_PAUSE + T
        };
        assert_eq!(
            cell.reset_after(0),
            expected,
            "a check at 0 was admitted after a check that saw the pause ({early:?})"
        );
    });
}

/// The same for reservations: a reservation ordered after one that saw the pause is never
/// ready before the pause.
#[test]
fn no_reservation_before_a_pause_after_one_that_saw_it() {
    builder(None).check(|| {
        let cell = Arc::new(Gcra::new(quota(3)));
        let c = cell.clone();
        let early = thread::spawn(move || c.reserve(0));
        cell.defer_until(PAUSE);
        let late = cell.reserve(PAUSE);
        assert_eq!(late.ready_at(), PAUSE);
        let early = early.join().unwrap();
        if early.ready_at() < PAUSE {
            // Then it must have been ordered first, and its slot was repaid by PAUSE.
            assert_eq!(early.ready_at(), 0);
            assert_eq!(cell.reset_after(0), PAUSE + T);
        } else {
            // Ordered after the pause: planned on top of the late one, at the pause.
            assert_eq!(early.ready_at(), PAUSE);
            assert_eq!(cell.reset_after(0), PAUSE + 2 * T);
        }
    });
}
