//! Property tests of the GCRA cell and the multi-tier limiter against a plain sequential
//! reference model, and of the sliding-window bound
//! `admitted in any window of length w <= floor(w / T) + burst`.
#![cfg(not(loom))]

use headway_core::{Gcra, Impossible, Quota, Refusal, Tiers};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// The reference: the textbook GCRA, one request at a time, in u128 so nothing can overflow.
// ---------------------------------------------------------------------------------------------

/// A quota as plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    limit: u32,
    period_ns: u64,
    burst: u32,
}

impl Spec {
    fn quota(self) -> Quota {
        Quota::from_nanos(self.limit, self.period_ns)
            .unwrap()
            .with_burst(self.burst)
            .unwrap()
    }

    /// The emission interval, rounded up so the client is never faster than allowed.
    fn t(self) -> u128 {
        let (period, limit) = (u128::from(self.period_ns), u128::from(self.limit));
        period.div_ceil(limit)
    }

    fn tau(self) -> u128 {
        self.t() * u128::from(self.burst - 1)
    }
}

/// What one operation returned, in a form both the reference and the real cell produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Allow,
    Deny { ready_at: u64, wait: u64 },
    Impossible { n: u32, burst: u32 },
    Ready(u64),
    Refunded(bool),
    Count(u32),
    Nanos(u64),
    Done,
}

/// The sequential model of one cell.
///
/// Admissions and reservations push onto a stack of commits; a refund succeeds only when its
/// reservation is on top (nothing was committed since), and then restores the `TAT` it found.
#[derive(Debug, Clone)]
struct Model {
    spec: Spec,
    tat: u128,
    not_before: u128,
    /// `(reservation id, TAT before it)` per commit; `None` for plain admissions.
    stack: Vec<(Option<usize>, u128)>,
}

impl Model {
    fn new(spec: Spec) -> Model {
        Model {
            spec,
            tat: 0,
            not_before: 0,
            stack: Vec::new(),
        }
    }

    /// `n` cells at `at`: never possible, or the earliest time they conform.
    fn earliest(&self, n: u32, at: u128) -> Result<u128, Out> {
        let (t, tau) = (self.spec.t(), self.spec.tau());
        if n == 0 || u128::from(n - 1) * t > tau {
            return Err(Out::Impossible {
                n,
                burst: self.spec.burst,
            });
        }
        // Conforms at x iff x >= TAT + (n-1)T - tau, and x >= the pause.
        let own = (self.tat + u128::from(n - 1) * t).saturating_sub(tau);
        Ok(at.max(self.not_before).max(own))
    }

    fn commit(&mut self, n: u32, at: u128, id: Option<usize>) {
        self.stack.push((id, self.tat));
        self.tat = self.tat.max(at) + u128::from(n) * self.spec.t();
    }

    fn check(&mut self, n: u32, at: u64, consume: bool) -> Out {
        let at = u128::from(at);
        match self.earliest(n, at) {
            Err(out) => out,
            Ok(ready) if ready > at => Out::Deny {
                ready_at: ready as u64,
                wait: (ready - at) as u64,
            },
            Ok(_) => {
                if consume {
                    self.commit(n, at, None);
                }
                Out::Allow
            }
        }
    }

    fn reserve(&mut self, n: u32, at: u64, id: usize) -> Out {
        match self.earliest(n, u128::from(at)) {
            Err(out) => out,
            Ok(ready) => {
                self.commit(n, ready, Some(id));
                Out::Ready(ready as u64)
            }
        }
    }

    fn refund(&mut self, id: usize) -> bool {
        match self.stack.last() {
            Some(&(Some(top), prev)) if top == id => {
                self.stack.pop();
                self.tat = prev;
                true
            }
            _ => false,
        }
    }

    /// Single requests that conform back to back at `at`, counted by admitting them one by
    /// one on a copy.
    fn remaining(&self, at: u64) -> u32 {
        let mut copy = self.clone();
        let mut k = 0;
        while copy.check(1, at, true) == Out::Allow {
            k += 1;
        }
        k
    }

    fn reset_after(&self, at: u64) -> u64 {
        self.tat.max(self.not_before).saturating_sub(u128::from(at)) as u64
    }
}

/// The real cell's answers in the same form.
fn refusal(r: Result<(), Refusal>) -> Out {
    match r {
        Ok(()) => Out::Allow,
        Err(Refusal::Later(d)) => Out::Deny {
            ready_at: d.ready_at(),
            wait: d.wait_ns(),
        },
        Err(Refusal::Never(Impossible { n, burst })) => Out::Impossible { n, burst },
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------------

/// Quotas with emission intervals from 1 ns to about 2 ms and bursts up to 8: tiny intervals
/// (where time steps often land exactly on slot boundaries) as often as large ones.
fn spec() -> impl Strategy<Value = Spec> {
    let tiny = (1u32..=8, 1u64..=64, 1u32..=8).prop_map(|(limit, period_ns, burst)| Spec {
        limit,
        period_ns,
        burst,
    });
    let large = (1u32..=20, 1u64..=1_000_000, 1u32..=8).prop_map(|(limit, period, burst)| Spec {
        limit,
        period_ns: period * u64::from(limit) / 3 + 1,
        burst,
    });
    prop_oneof![tiny, large]
}

/// Time steps: often none, often small, sometimes several intervals.
fn dt() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0u64..16,
        0u64..1_000,
        0u64..400_000,
        0u64..3_000_000
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Check { n: u32, dt: u64 },
    Peek { n: u32, dt: u64 },
    Reserve { n: u32, dt: u64 },
    Refund { pick: usize },
    Defer { dt: u64, ahead: i64 },
    SetQuota(Spec),
    Remaining { dt: u64 },
    ResetAfter { dt: u64 },
}

fn cells() -> impl Strategy<Value = u32> {
    prop_oneof![4 => Just(1u32), 2 => 0u32..=9]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (cells(), dt()).prop_map(|(n, dt)| Op::Check { n, dt }),
        2 => (cells(), dt()).prop_map(|(n, dt)| Op::Peek { n, dt }),
        5 => (cells(), dt()).prop_map(|(n, dt)| Op::Reserve { n, dt }),
        4 => any::<usize>().prop_map(|pick| Op::Refund { pick }),
        1 => (dt(), prop_oneof![-2i64..4, -1_000_000i64..4_000_000])
            .prop_map(|(dt, ahead)| Op::Defer { dt, ahead }),
        1 => spec().prop_map(Op::SetQuota),
        2 => dt().prop_map(|dt| Op::Remaining { dt }),
        1 => dt().prop_map(|dt| Op::ResetAfter { dt }),
    ]
}

// ---------------------------------------------------------------------------------------------
// The window bound.
// ---------------------------------------------------------------------------------------------

/// Every window `[a, a + w)` starting at an admitted time holds at most `floor(w / T) + burst`
/// admissions. For a start `a_i` (times sorted), the count only grows at later admitted times
/// `a_j`, so the tightest windows are `w = a_j - a_i + 1`.
fn assert_window_bound(times: &mut [u64], t: u64, burst: u32) -> Result<(), TestCaseError> {
    times.sort_unstable();
    for i in 0..times.len() {
        for j in i..times.len() {
            let w = times[j] - times[i] + 1;
            let count = (j - i + 1) as u64;
            prop_assert!(
                count <= w / t + u64::from(burst),
                "{count} admitted in [{}, {}] (T = {t}, burst {burst})",
                times[i],
                times[j]
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Multi-tier helpers.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum TierOp {
    Reserve {
        n: u32,
        dt: u64,
    },
    Check {
        n: u32,
        dt: u64,
    },
    /// Refund the latest reservation (if any, and not yet refunded).
    RefundLatest,
    Defer {
        ahead: u64,
    },
    Remaining {
        dt: u64,
    },
    ResetAfter {
        dt: u64,
    },
}

fn tier_op() -> impl Strategy<Value = TierOp> {
    prop_oneof![
        8 => (1u32..=3, dt()).prop_map(|(n, dt)| TierOp::Reserve { n, dt }),
        4 => (1u32..=3, dt()).prop_map(|(n, dt)| TierOp::Check { n, dt }),
        1 => Just(TierOp::RefundLatest),
        1 => prop_oneof![0u64..4, 0u64..3_000_000].prop_map(|ahead| TierOp::Defer { ahead }),
        2 => dt().prop_map(|dt| TierOp::Remaining { dt }),
        2 => dt().prop_map(|dt| TierOp::ResetAfter { dt }),
    ]
}

/// Replays `(time, cells)` emissions, sorted by time, through a fresh reference per tier:
/// every one must conform at its time. Returns the first that does not.
fn replay(emitted: &[(u64, u32)], spec: Spec) -> Result<(), (u64, u32, Out)> {
    let mut sorted = emitted.to_vec();
    sorted.sort_unstable();
    let mut model = Model::new(spec);
    for &(at, n) in &sorted {
        let out = model.check(n, at, true);
        if out != Out::Allow {
            return Err((at, n, out));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// The cell and the reference give identical answers to every operation, at
    /// non-decreasing times, whatever the mix (including quota changes and pauses).
    #[test]
    fn gcra_matches_the_reference(first in spec(), ops in prop::collection::vec(op(), 1..80)) {
        let cell = Gcra::new(first.quota());
        let mut model = Model::new(first);
        let mut reservations = Vec::new();
        let mut refunded = Vec::new();
        let mut now = 0u64;
        for (step, op) in ops.iter().enumerate() {
            let (real, expected) = match *op {
                Op::Check { n, dt } => {
                    now += dt;
                    (refusal(cell.check_n(n, now)), model.check(n, now, true))
                }
                Op::Peek { n, dt } => {
                    now += dt;
                    (refusal(cell.peek_n(n, now)), model.check(n, now, false))
                }
                Op::Reserve { n, dt } => {
                    now += dt;
                    let id = reservations.len();
                    let real = match cell.reserve_n(n, now) {
                        Ok(r) => {
                            let at = r.ready_at();
                            reservations.push(r);
                            refunded.push(false);
                            Out::Ready(at)
                        }
                        Err(Impossible { n, burst }) => Out::Impossible { n, burst },
                    };
                    (real, model.reserve(n, now, id))
                }
                Op::Refund { pick } => {
                    if reservations.is_empty() {
                        continue;
                    }
                    let id = pick % reservations.len();
                    // Any reservation, any number of times: a refused refund may succeed
                    // later (the reservation may be the latest again), and one that
                    // succeeded must never succeed again, however `TAT` recurs.
                    let real = cell.refund(&mut reservations[id]);
                    let expected = model.refund(id);
                    if refunded[id] {
                        prop_assert!(!real, "reservation {} refunded twice", id);
                    }
                    refunded[id] |= real;
                    (Out::Refunded(real), Out::Refunded(expected))
                }
                Op::Defer { dt, ahead } => {
                    now += dt;
                    let until = now.saturating_add_signed(ahead);
                    cell.defer_until(until);
                    model.not_before = model.not_before.max(u128::from(until));
                    prop_assert_eq!(u128::from(cell.deferred_until()), model.not_before);
                    (Out::Done, Out::Done)
                }
                Op::SetQuota(spec) => {
                    cell.set_quota(spec.quota());
                    model.spec = spec;
                    prop_assert_eq!(cell.quota(), spec.quota());
                    (Out::Done, Out::Done)
                }
                Op::Remaining { dt } => {
                    now += dt;
                    (Out::Count(cell.remaining(now)), Out::Count(model.remaining(now)))
                }
                Op::ResetAfter { dt } => {
                    now += dt;
                    (Out::Nanos(cell.reset_after(now)), Out::Nanos(model.reset_after(now)))
                }
            };
            prop_assert_eq!(real, expected, "step {}: {:?} at {}", step, op, now);
            prop_assert_eq!(cell.is_idle(now), model.reset_after(now) == 0);
        }
    }

    /// Whatever arrives when, the admitted times (checks at their `now`, reservations at their
    /// ready time, `n` cells counting `n` times) satisfy the window bound. Greedy requests
    /// retry at exactly the time they were told, packing admissions as tightly as allowed.
    #[test]
    fn window_bound(
        spec in spec(),
        ops in prop::collection::vec((0u32..4, 1u32..=4, dt()), 1..150),
        pause in prop::option::of((0usize..150, 0u64..3_000_000)),
    ) {
        let cell = Gcra::new(spec.quota());
        let mut admitted = Vec::new();
        let mut now = 0u64;
        for (i, &(kind, n, dt)) in ops.iter().enumerate() {
            now += dt;
            if let Some((at, ahead)) = pause {
                if at == i {
                    cell.defer_until(now + ahead);
                }
            }
            let n = n.min(spec.burst);
            match kind {
                0 => {
                    if cell.check(now).is_ok() {
                        admitted.push(now);
                    }
                }
                1 => {
                    if cell.check_n(n, now).is_ok() {
                        admitted.extend(std::iter::repeat(now).take(n as usize));
                    }
                }
                2 => {
                    if let Err(denied) = cell.check_n(n, now) {
                        let Refusal::Later(denied) = denied else {
                            panic!("{n} cells fit a burst of {}", spec.burst)
                        };
                        now = denied.ready_at();
                        prop_assert!(cell.check_n(n, now).is_ok(), "told {} but refused", now);
                    }
                    admitted.extend(std::iter::repeat(now).take(n as usize));
                }
                _ => {
                    let r = cell.reserve_n(n, now).unwrap();
                    prop_assert!(r.ready_at() >= now);
                    admitted.extend(std::iter::repeat(r.ready_at()).take(n as usize));
                }
            }
        }
        assert_window_bound(&mut admitted, spec.t() as u64, spec.burst)?;
    }

    /// Planning a queue ahead on a [`Schedule`] gives exactly the turns that reserving the
    /// same requests one by one gives, and changes nothing until they are reserved.
    #[test]
    fn planning_ahead_matches_reserving(
        specs in prop::collection::vec(spec(), 1..=4),
        queue in prop::collection::vec((1u32..=3, 0u64..2_000_000), 1..40),
        pause in 0u64..5_000_000,
    ) {
        let quotas: Vec<Quota> = specs.iter().map(|s| s.quota()).collect();
        let tiers = Tiers::new(&quotas).unwrap();
        tiers.defer_until(pause);
        let mut ahead = tiers.schedule();
        let mut now = 0u64;
        let mut planned = Vec::new();
        for &(n, dt) in &queue {
            now += dt;
            planned.push(tiers.plan_on(&mut ahead, n, now).map_err(|i| i.n));
        }
        prop_assert_eq!(tiers.schedule(), Tiers::new(&quotas).map(|t| { t.defer_until(pause); t.schedule() }).unwrap());
        let mut now = 0u64;
        for (&(n, dt), plan) in queue.iter().zip(&planned) {
            now += dt;
            let real = tiers.reserve_n(n, now).map(|r| r.ready_at()).map_err(|i| i.n);
            prop_assert_eq!(real, *plan);
        }
        prop_assert_eq!(tiers.schedule(), ahead);
    }

    /// Multi-tier: every released request conforms to an independent reference GCRA per tier
    /// at its release time, reservations are released at the earliest such time, checks agree
    /// with the references, and each tier satisfies the window bound.
    #[test]
    fn tiers_conform_to_every_tier(
        specs in prop::collection::vec(spec(), 1..=4),
        ops in prop::collection::vec(tier_op(), 1..100),
    ) {
        let quotas: Vec<Quota> = specs.iter().map(|s| s.quota()).collect();
        let tiers = Tiers::new(&quotas).unwrap();
        // Step-by-step references, one per tier, sharing the pause.
        let mut models: Vec<Model> = specs.iter().map(|&s| Model::new(s)).collect();
        let mut emitted: Vec<(u64, u32)> = Vec::new();
        // The latest reservation, if it may still be refunded: (reservation, index in emitted).
        let mut latest = None;
        let mut now = 0u64;
        let min_burst = specs.iter().map(|s| s.burst).min().unwrap();
        for op in &ops {
            match *op {
                TierOp::Reserve { n, dt } => {
                    now += dt;
                    match tiers.reserve_n(n, now) {
                        Err(Impossible { n: got, .. }) => {
                            prop_assert_eq!(got, n);
                            prop_assert!(n > min_burst, "{} cells fit every tier", n);
                        }
                        Ok(r) => {
                            let at = r.ready_at();
                            prop_assert!(at >= now);
                            // Conforms in every tier at `at`...
                            for (i, m) in models.iter().enumerate() {
                                prop_assert_eq!(m.clone().check(n, at, false), Out::Allow,
                                    "tier {} refuses {} cells at {}", i, n, at);
                            }
                            // ... and not one nanosecond earlier, unless that is before `now`.
                            if at > now {
                                prop_assert!(models.iter().any(|m| m.clone().check(n, at - 1, false) != Out::Allow),
                                    "{} cells could have gone at {}", n, at - 1);
                            }
                            for m in models.iter_mut() {
                                m.check(n, at, true);
                            }
                            latest = Some((r, emitted.len()));
                            emitted.push((at, n));
                        }
                    }
                }
                TierOp::Check { n, dt } => {
                    now += dt;
                    let expected: Vec<Out> = models.iter().map(|m| m.clone().check(n, now, false)).collect();
                    let real = tiers.check_n(n, now);
                    match real {
                        Ok(()) => {
                            prop_assert!(expected.iter().all(|o| *o == Out::Allow), "{:?}", expected);
                            for m in models.iter_mut() {
                                m.check(n, now, true);
                            }
                            latest = None;
                            emitted.push((now, n));
                        }
                        Err(Refusal::Later(d)) => {
                            // The earliest time every tier conforms.
                            let ready = expected.iter().map(|o| match o {
                                Out::Allow => now,
                                Out::Deny { ready_at, .. } => *ready_at,
                                other => panic!("{other:?}"),
                            }).max().unwrap();
                            prop_assert!(ready > now);
                            prop_assert_eq!(d.ready_at(), ready);
                        }
                        Err(Refusal::Never(_)) => {
                            prop_assert!(n > min_burst);
                        }
                    }
                }
                TierOp::RefundLatest => {
                    if let Some((mut r, index)) = latest.take() {
                        prop_assert!(tiers.refund(&mut r), "the latest reservation must refund");
                        prop_assert!(!tiers.refund(&mut r), "a reservation refunded twice");
                        for m in models.iter_mut() {
                            let (_, prev) = m.stack.pop().unwrap();
                            m.tat = prev;
                        }
                        emitted.remove(index);
                    }
                }
                TierOp::Defer { ahead } => {
                    tiers.defer_until(now + ahead);
                    for m in models.iter_mut() {
                        m.not_before = m.not_before.max(u128::from(now + ahead));
                    }
                }
                TierOp::Remaining { dt } => {
                    now += dt;
                    let expected = models.iter().map(|m| m.remaining(now)).min().unwrap();
                    prop_assert_eq!(tiers.remaining(now), expected, "remaining at {}", now);
                }
                TierOp::ResetAfter { dt } => {
                    now += dt;
                    let expected = models.iter().map(|m| m.reset_after(now)).max().unwrap();
                    prop_assert_eq!(tiers.reset_after(now), expected, "reset_after at {}", now);
                    prop_assert_eq!(tiers.is_idle(now), expected == 0);
                }
            }
        }
        // The oracle: a fresh reference per tier accepts every emitted release.
        for (i, spec) in specs.iter().enumerate() {
            if let Err((at, n, out)) = replay(&emitted, *spec) {
                prop_assert!(false, "tier {} ({:?}) refuses {} cells at {}: {:?}", i, spec, n, at, out);
            }
            let mut times: Vec<u64> = emitted
                .iter()
                .flat_map(|&(at, n)| std::iter::repeat(at).take(n as usize))
                .collect();
            assert_window_bound(&mut times, spec.t() as u64, spec.burst)?;
        }
    }
}
