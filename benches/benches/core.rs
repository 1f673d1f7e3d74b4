//! Headway's GCRA cell against governor's direct rate limiter, side by side in one run.
//!
//! Four groups, each with a `governor` and a `headway` function:
//!
//! - `allowed`: one check on a quota large enough that every check is admitted;
//! - `denied`: one check on a quota of 1 per hour whose admission is already taken;
//! - `contended`: two threads hammering `check` on one shared limiter (allowed path); the
//!   time reported is wall time per check over both threads;
//! - `clock`: the clock read alone, governor's default clock against the tokio adapter's,
//!   to tell how much of each check above is the clock rather than the limiter.
//!
//! Each group also has `headway-tsc`: Headway's check fed from governor's own clock, so the
//! two limiters are compared on an equal clock.
//!
//! Governor reads its default clock inside `check()`; Headway is given the tokio adapter's
//! `TokioRuntime::now_ns()`, as the adapter does on every admission, so both sides pay for a
//! clock read on every check. After the run,
//! `cargo run --release -p headway-benches --bin ratios` prints the ratios.

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use governor::clock::{Clock, DefaultClock};
use headway_benches::{
    governor_exhausted, governor_unlimited, headway_exhausted, headway_unlimited, on_two_threads,
    MonotonicClock, TscClock,
};

/// How many checks the sanity pass makes before measuring.
const SANITY_CHECKS: u32 = 100_000;

/// One check on a limiter that admits everything.
fn allowed(c: &mut Criterion) {
    let governor = governor_unlimited();
    let clock = MonotonicClock::new();
    let headway = headway_unlimited();
    for _ in 0..SANITY_CHECKS {
        assert!(
            governor.check().is_ok(),
            "governor denied on the allowed path"
        );
        assert!(
            headway.check(clock.now()).is_ok(),
            "headway denied on the allowed path"
        );
    }

    // A cell of its own: the TSC timeline starts later than `clock`'s.
    let (tsc, headway_tsc) = (TscClock::new(), headway_unlimited());
    let mut group = c.benchmark_group("allowed");
    group.bench_function("governor", |b| b.iter(|| black_box(governor.check())));
    group.bench_function("headway", |b| {
        b.iter(|| black_box(headway.check(clock.now())))
    });
    group.bench_function("headway-tsc", |b| {
        b.iter(|| black_box(headway_tsc.check(tsc.now())))
    });
    group.finish();
}

/// One check on a limiter whose quota is used up for the next hour.
fn denied(c: &mut Criterion) {
    let governor = governor_exhausted();
    let clock = MonotonicClock::new();
    let headway = headway_exhausted(&clock);
    for _ in 0..SANITY_CHECKS {
        assert!(
            governor.check().is_err(),
            "governor admitted on the denied path"
        );
        assert!(
            headway.check(clock.now()).is_err(),
            "headway admitted on the denied path"
        );
    }

    let tsc = TscClock::new();
    // Both timelines start within the same second, so the cell exhausted for an hour on
    // `clock`'s timeline is exhausted on this one too.
    assert!(
        headway.check(tsc.now()).is_err(),
        "headway admitted on the denied path"
    );
    let mut group = c.benchmark_group("denied");
    group.bench_function("governor", |b| b.iter(|| black_box(governor.check())));
    group.bench_function("headway", |b| {
        b.iter(|| black_box(headway.check(clock.now())))
    });
    group.bench_function("headway-tsc", |b| {
        b.iter(|| black_box(headway.check(tsc.now())))
    });
    group.finish();
}

/// Two threads checking one shared limiter that admits everything: per-check wall time.
fn contended(c: &mut Criterion) {
    let governor = governor_unlimited();
    let clock = MonotonicClock::new();
    let headway = headway_unlimited();

    let mut group = c.benchmark_group("contended");
    group.bench_function("governor", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, || {
                black_box(governor.check()).expect("governor denied on the allowed path");
            })
        })
    });
    group.bench_function("headway", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, || {
                black_box(headway.check(clock.now())).expect("headway denied on the allowed path");
            })
        })
    });
    let (tsc, headway_tsc) = (TscClock::new(), headway_unlimited());
    group.bench_function("headway-tsc", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, || {
                black_box(headway_tsc.check(tsc.now()))
                    .expect("headway denied on the allowed path");
            })
        })
    });
    group.finish();
}

/// The clock read each side pays for on every check, on its own.
fn clock(c: &mut Criterion) {
    let governor = DefaultClock::default();
    let headway = MonotonicClock::new();

    let mut group = c.benchmark_group("clock");
    group.bench_function("governor", |b| b.iter(|| black_box(governor.now())));
    group.bench_function("headway", |b| b.iter(|| black_box(headway.now())));
    let tsc = TscClock::new();
    group.bench_function("headway-tsc", |b| b.iter(|| black_box(tsc.now())));
    group.finish();
}

/// Runs the groups with short windows, then criterion's summary.
fn main() {
    // Short windows keep the whole run well under two minutes on two cores; command-line
    // options (`--measurement-time`, `--warm-up-time`, a filter) still override them.
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    allowed(&mut c);
    denied(&mut c);
    contended(&mut c);
    clock(&mut c);
    c.final_summary();
}
