//! Loom models of the multi-tier limiter: concurrent checks never over-admit any tier, every
//! admitted request is charged in every tier, denials change nothing, reservations released
//! concurrently conform to every tier, and refunds and pauses race safely.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p headway-core --release --test loom_tiers`
//! (`LOOM_MAX_PREEMPTIONS=4` deepens the bounded models: about two minutes in all).
//!
//! After a model's threads are joined, each tier's `TAT` is read back through the public API
//! (see [`tats`]), so the assertions speak about every tier separately.
#![cfg(loom)]

mod common;

use common::{builder, on_threads, quota};
use headway_core::{Quota, Refusal, Tiers};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

/// Each tier's `TAT` as seen at `at`, read through the public API (any pause must be over by
/// `at`).
///
/// For tier `i`, every other tier is given a quota so wide that it never binds (`T = 1 ns`
/// and a burst of `u32::MAX`), states kept. Then `peek_n(burst_i, at)` is refused until
/// exactly `TAT_i + (burst_i - 1) * T_i - tau_i = TAT_i` (0 when `TAT_i` is not after `at`).
/// The quotas are restored after.
fn tats(tiers: &mut Tiers, quotas: &[Quota], at: u64) -> Vec<u64> {
    let wide = quota(1, u32::MAX);
    let out = (0..quotas.len())
        .map(|i| {
            let probe: Vec<Quota> = (0..quotas.len())
                .map(|j| if j == i { quotas[i] } else { wide })
                .collect();
            tiers.set_quotas(&probe).unwrap();
            match tiers.peek_n(quotas[i].burst(), at) {
                Ok(()) => 0,
                Err(Refusal::Later(d)) => d.ready_at(),
                Err(never) => panic!("tier {i}: {never:?}"),
            }
        })
        .collect();
    tiers.set_quotas(quotas).unwrap();
    out
}

/// The limiter, once every thread sharing it has been joined.
fn owned(tiers: &mut Arc<Tiers>) -> &mut Tiers {
    Arc::get_mut(tiers).expect("every thread was joined")
}

/// A plain sequential GCRA: the `TAT` after admitting single requests at `times` (sorted),
/// or the first time that does not conform.
fn reference(times: &[u64], q: Quota) -> Result<u64, u64> {
    let (t, tau) = (q.emission_interval_ns(), q.tolerance_ns());
    let mut tat = 0u64;
    for &at in times {
        if at + tau < tat {
            return Err(at);
        }
        tat = tat.max(at) + t;
    }
    Ok(tat)
}

/// Requests released at `sent` (sorted), fed to an independent GCRA per tier, all conform,
/// and every tier's `TAT` (`tats`) charges at least what they imply.
fn assert_sent_conform_and_are_charged(sent: &[u64], quotas: &[Quota], tats: &[u64]) {
    for (i, q) in quotas.iter().enumerate() {
        let implied = reference(sent, *q)
            .unwrap_or_else(|at| panic!("tier {i}: release at {at} breaks {sent:?}"));
        assert!(
            tats[i] >= implied,
            "tier {i} undercharged: {tats:?} {sent:?}"
        );
    }
}

/// Three threads check at 0. Per tier `i` with interval `T_i` and burst `b_i`, the tier ends
/// holding `s_i = TAT_i / T_i` whole slots, and:
/// - no tier admits more than its burst: `admitted <= min b_i` and `s_i <= b_i`;
/// - every admitted request is charged in every tier: `s_i >= admitted`;
/// - the last tier is never rolled back, so it holds exactly the admitted requests; earlier
///   tiers may hold forfeited slots (a rollback that found another request planned on top);
/// - nobody is denied while every tier still has room: a denial means some tier is full.
fn concurrent_checks(quotas: [Quota; 2]) {
    builder(Some(3)).check(move || {
        let mut tiers = Arc::new(Tiers::new(&quotas).unwrap());
        let shared = tiers.clone();
        let results = on_threads(2, move |_| shared.check(0));
        let admitted = results.iter().filter(|r| r.is_ok()).count() as u64;
        let tats = tats(owned(&mut tiers), &quotas, 0);
        let min_burst = quotas.iter().map(|q| u64::from(q.burst())).min().unwrap();
        assert!((1..=min_burst).contains(&admitted), "{results:?}");
        let mut full = false;
        for (i, (tat, q)) in tats.iter().zip(&quotas).enumerate() {
            let t = q.emission_interval_ns();
            assert_eq!(tat % t, 0, "tier {i}: {tats:?}");
            let slots = tat / t;
            assert!(
                slots >= admitted,
                "tier {i} not charged: {tats:?} {results:?}"
            );
            assert!(
                slots <= u64::from(q.burst()),
                "tier {i} over-admitted: {tats:?}"
            );
            full |= slots == u64::from(q.burst());
        }
        let last = quotas.len() - 1;
        assert_eq!(
            tats[last],
            admitted * quotas[last].emission_interval_ns(),
            "{results:?}"
        );
        if admitted < 3 {
            assert!(full, "denied with room in every tier: {tats:?} {results:?}");
        }
    });
}

/// The binding tier (burst 2) first, a looser one (burst 3) last.
#[test]
fn concurrent_checks_binding_tier_first() {
    concurrent_checks([quota(100, 2), quota(150, 3)]);
}

/// A looser tier first, the binding tier last.
#[test]
fn concurrent_checks_binding_tier_last() {
    concurrent_checks([quota(150, 3), quota(100, 2)]);
}

/// Requests denied by a full tier change nothing in any tier, even while racing: the first
/// tier still has room and is not charged.
#[test]
fn denied_requests_change_nothing() {
    let quotas = [quota(100, 3), quota(1000, 1)];
    builder(None).check(move || {
        let mut tiers = Arc::new(Tiers::new(&quotas).unwrap());
        assert!(tiers.check(0).is_ok());
        let shared = tiers.clone();
        let results = on_threads(2, move |_| shared.check(0));
        for r in &results {
            assert_eq!(r.unwrap_err().wait_ns(), 1000);
        }
        assert_eq!(tats(owned(&mut tiers), &quotas, 0), [100, 1000]);
    });
}

/// Three concurrent reservations at 0: the ready times, fed to an independent GCRA per tier,
/// all conform (a request released at `t` conforms to every tier at `t`), and every tier is
/// charged at least what they imply (exactly, for the last tier).
#[test]
fn concurrent_reservations_conform_to_every_tier() {
    let quotas = [quota(100, 2), quota(150, 1)];
    builder(Some(3)).check(move || {
        let mut tiers = Arc::new(Tiers::new(&quotas).unwrap());
        let shared = tiers.clone();
        let mut ready: Vec<u64> = on_threads(2, move |_| shared.reserve_n(1, 0).unwrap())
            .iter()
            .map(|r| r.ready_at())
            .collect();
        ready.sort_unstable();
        let tats = tats(owned(&mut tiers), &quotas, 0);
        assert_sent_conform_and_are_charged(&ready, &quotas, &tats);
        assert_eq!(tats[1], reference(&ready, quotas[1]).unwrap());
    });
}

/// A reservation made beforehand is refunded while another thread reserves. A refund that
/// said `true` gave the slot back in every tier (the tiers hold exactly the other
/// reservation); the other reservation conforms to every tier on its own and together with
/// the refunded one's slot when that was not given back in full.
///
/// A `false` refund may have given the slot back in some tiers (refunds go tier by tier), so
/// a reservation handed to `refund` is never sent, whatever the answer.
#[test]
fn refund_races_a_reservation() {
    let quotas = [quota(100, 1), quota(150, 1)];
    builder(None).check(move || {
        let mut tiers = Arc::new(Tiers::new(&quotas).unwrap());
        let mut first = tiers.reserve_n(1, 0).unwrap();
        let shared = tiers.clone();
        let refunder = thread::spawn(move || shared.refund(&mut first));
        let other = tiers.reserve_n(1, 0).unwrap();
        let refunded = refunder.join().unwrap();
        let tats = tats(owned(&mut tiers), &quotas, 0);
        for (i, q) in quotas.iter().enumerate() {
            let alone = reference(&[other.ready_at()], *q).unwrap();
            if refunded {
                assert_eq!(tats[i], alone, "tier {i}: slot not freed");
            } else {
                assert!(tats[i] >= alone, "tier {i} undercharged: {tats:?}");
            }
        }
        if refunded {
            assert_eq!(other.ready_at(), 0);
        }
    });
}

/// Two reservations race a refund of a third made beforehand: the two that are sent conform to
/// every tier, and every tier is charged at least for them.
#[test]
fn refund_races_two_reservations() {
    let quotas = [quota(100, 1), quota(150, 1)];
    builder(Some(3)).check(move || {
        let mut tiers = Arc::new(Tiers::new(&quotas).unwrap());
        let mut first = tiers.reserve_n(1, 0).unwrap();
        let shared = tiers.clone();
        let refunder = thread::spawn(move || shared.refund(&mut first));
        let shared = tiers.clone();
        let other = thread::spawn(move || shared.reserve_n(1, 0).unwrap());
        let mine = tiers.reserve_n(1, 0).unwrap();
        let other = other.join().unwrap();
        refunder.join().unwrap();
        let mut sent = [mine.ready_at(), other.ready_at()];
        sent.sort_unstable();
        let tats = tats(owned(&mut tiers), &quotas, 0);
        assert_sent_conform_and_are_charged(&sent, &quotas, &tats);
    });
}

/// Reserve, refund, reserve again and refund the first reservation once more, on two threads
/// at once: every tier's `TAT` values recur, yet no tier gives one reservation's slot back
/// twice, so the two reservations kept (and sent) conform to every tier together and every
/// tier is charged for both. A reservation handed to `refund` is never sent, whatever the
/// answer (refunds go tier by tier).
#[test]
fn a_refunded_reservation_never_refunds_again() {
    let quotas = [quota(100, 1), quota(150, 1)];
    builder(Some(3)).check(move || {
        let mut tiers = Arc::new(Tiers::new(&quotas).unwrap());
        let shared = tiers.clone();
        let other = thread::spawn(move || {
            let mut r = shared.reserve_n(1, 0).unwrap();
            let _ = shared.refund(&mut r);
            let kept = shared.reserve_n(1, 0).unwrap();
            let again = shared.refund(&mut r);
            (kept.ready_at(), again)
        });
        let mut first = tiers.reserve_n(1, 0).unwrap();
        let first_refunded = tiers.refund(&mut first);
        let second = tiers.reserve_n(1, 0).unwrap();
        let again = tiers.refund(&mut first);
        assert!(!(first_refunded && again), "one reservation refunded twice");
        let (other_at, _) = other.join().unwrap();
        let mut sent = vec![second.ready_at(), other_at];
        sent.sort_unstable();
        let tats = tats(owned(&mut tiers), &quotas, 0);
        assert_sent_conform_and_are_charged(&sent, &quotas, &tats);
    });
}

/// The pause used by the defer models: inside the tolerance of a burst of 3 at `T = 100`.
const PAUSE: u64 = 50;

/// A pause racing a check: once `defer_until(PAUSE)` returned, checks before `PAUSE` by the
/// same thread or by one that learnt of the pause are denied until exactly `PAUSE`.
#[test]
fn defer_until_races_check() {
    let quotas = [quota(100, 3), quota(150, 3)];
    builder(None).check(move || {
        let tiers = Arc::new(Tiers::new(&quotas).unwrap());
        let published = Arc::new(AtomicBool::new(false));
        let (shared, p) = (tiers.clone(), published.clone());
        let deferrer = thread::spawn(move || {
            shared.defer_until(PAUSE);
            // Release: whoever reads `true` also sees the pause.
            p.store(true, Ordering::Release);
            assert_eq!(shared.check(PAUSE - 1).unwrap_err().ready_at(), PAUSE);
        });
        // Acquire: pairs with the Release store after the pause.
        let knew = published.load(Ordering::Acquire);
        let result = tiers.check(0);
        if knew {
            assert_eq!(result.unwrap_err().ready_at(), PAUSE);
        }
        deferrer.join().unwrap();
        assert!(tiers.check(PAUSE - 1).is_err());
        assert!(tiers.reserve_n(1, 0).unwrap().ready_at() >= PAUSE);
    });
}

/// A check planned before a pause is never admitted after a check that saw the pause. In the
/// order (0, pause, PAUSE) both are admitted; in (pause, PAUSE, 0) the check at 0 is denied.
/// Either way the last tier ends as a sequential run leaves it (earlier tiers may also hold a
/// forfeited slot); admitting the check at 0 on top of the one at PAUSE would charge one more
/// interval in every tier.
#[test]
fn no_admission_before_a_pause_after_one_that_saw_it() {
    let quotas = [quota(100, 3), quota(150, 3)];
    builder(None).check(move || {
        let mut tiers = Arc::new(Tiers::new(&quotas).unwrap());
        let shared = tiers.clone();
        let early = thread::spawn(move || shared.check(0));
        tiers.defer_until(PAUSE);
        tiers
            .check(PAUSE)
            .expect("the check at the pause always conforms");
        let early = early.join().unwrap();
        // Sequential runs: admitted at 0 then at PAUSE, or only at PAUSE.
        let expected: Vec<u64> = quotas
            .iter()
            .map(|q| {
                let times: &[u64] = if early.is_ok() { &[0, PAUSE] } else { &[PAUSE] };
                reference(times, *q).unwrap()
            })
            .collect();
        // The pause is part of the state `tats` cannot see through at 0: read at the pause's
        // end, where the refusal names the tier's own earliest time.
        let tats = tats(owned(&mut tiers), &quotas, PAUSE);
        // The last tier is never rolled back, so it matches exactly; earlier tiers may also
        // hold a slot forfeited by a rollback that raced.
        let last = quotas.len() - 1;
        assert_eq!(
            tats[last], expected[last],
            "a check at 0 was admitted after a check that saw the pause ({early:?})"
        );
        for i in 0..last {
            assert!(tats[i] >= expected[i], "tier {i}: {tats:?} {expected:?}");
        }
    });
}
