//! # headway-benches
//!
//! Shared set-up for the `core` benchmark, the `ratios` report and the `profile` driver:
//! the limiters under test (Headway's [`Gcra`] and governor's direct limiter, built the same
//! way for both), the monotonic clock a Headway adapter would read, the two-thread runner and
//! the reader of criterion's estimates.
//!
//! Every limiter is built here so the benchmark and the profiling driver measure exactly the
//! same thing.
#![deny(missing_docs)]

use std::fs;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, RateLimiter};
use headway_core::{Gcra, Quota};

/// The benchmark groups, in the order they are run and reported.
pub const GROUPS: [&str; 4] = ["allowed", "denied", "contended", "clock"];

/// The implementations in every group: the baseline first, then Headway on its tokio
/// adapter's clock, then Headway on the same timestamp-counter clock governor uses.
pub const FUNCTIONS: [&str; 3] = ["governor", "headway", "headway-tsc"];

/// The monotonic timeline of Headway's tokio adapter ([`headway_tokio::TokioRuntime`]), read
/// as the adapter reads it on every admission.
///
/// So the benchmark pays for a clock read on the Headway side just as governor pays for its
/// own clock inside `check()`.
#[derive(Debug, Clone)]
pub struct MonotonicClock {
    runtime: headway_tokio::TokioRuntime,
}

impl MonotonicClock {
    /// A timeline starting now.
    pub fn new() -> MonotonicClock {
        MonotonicClock {
            runtime: headway_tokio::TokioRuntime::new(),
        }
    }

    /// Nanoseconds since the timeline started.
    #[inline]
    pub fn now(&self) -> u64 {
        use headway_engine::Runtime;
        self.runtime.now_ns()
    }
}

impl Default for MonotonicClock {
    fn default() -> MonotonicClock {
        MonotonicClock::new()
    }
}

/// The monotonic timeline read from governor's own default clock (a timestamp-counter clock),
/// so Headway's check can be compared with governor's on an equal clock: what remains is the
/// limiter itself.
#[derive(Debug, Clone)]
pub struct TscClock {
    clock: governor::clock::DefaultClock,
    start: governor::clock::QuantaInstant,
}

impl TscClock {
    /// A timeline starting now.
    pub fn new() -> TscClock {
        use governor::clock::Clock;
        let clock = governor::clock::DefaultClock::default();
        let start = clock.now();
        TscClock { clock, start }
    }

    /// Nanoseconds since the timeline started.
    #[inline]
    pub fn now(&self) -> u64 {
        use governor::clock::{Clock, Reference};
        self.clock.now().duration_since(self.start).as_u64()
    }
}

impl Default for TscClock {
    fn default() -> TscClock {
        TscClock::new()
    }
}

/// A Headway cell that admits every check: `u32::MAX` per second with a burst of `u32::MAX`,
/// the same quota governor's `Quota::per_second(NonZeroU32::MAX)` describes.
pub fn headway_unlimited() -> Gcra {
    let quota = Quota::per_second(u32::MAX)
        .and_then(|q| q.with_burst(u32::MAX))
        .expect("u32::MAX per second with a burst of u32::MAX is a valid quota");
    Gcra::new(quota)
}

/// A governor limiter that admits every check: `Quota::per_second(NonZeroU32::MAX)`.
pub fn governor_unlimited() -> DefaultDirectRateLimiter {
    RateLimiter::direct(governor::Quota::per_second(NonZeroU32::MAX))
}

/// A Headway cell of 1 per hour whose one admission is already taken: every later check in
/// the hour is denied.
pub fn headway_exhausted(clock: &MonotonicClock) -> Gcra {
    let cell = Gcra::new(Quota::per_hour(1).expect("1 per hour is a valid quota"));
    assert!(
        cell.check(clock.now()).is_ok(),
        "the first check is admitted"
    );
    assert!(
        cell.check(clock.now()).is_err(),
        "the second check is denied"
    );
    cell
}

/// A governor limiter of 1 per hour whose one admission is already taken.
pub fn governor_exhausted() -> DefaultDirectRateLimiter {
    let limiter = RateLimiter::direct(governor::Quota::per_hour(NonZeroU32::MIN));
    assert!(limiter.check().is_ok(), "the first check is admitted");
    assert!(limiter.check().is_err(), "the second check is denied");
    limiter
}

/// Runs `op` `iters` times in total, split over two threads started together, and returns
/// the wall time from the first thread's start to the last thread's end.
///
/// Thread creation is outside the measured span: both threads wait on a barrier, then each
/// reads its own start and end times around its share of the loop.
pub fn on_two_threads<F: Fn() + Sync>(iters: u64, op: F) -> Duration {
    let barrier = Barrier::new(2);
    let shares = [iters / 2, iters - iters / 2];
    let spans = thread::scope(|scope| {
        let workers = shares.map(|share| {
            let (barrier, op) = (&barrier, &op);
            scope.spawn(move || {
                barrier.wait();
                let begin = Instant::now();
                for _ in 0..share {
                    op();
                }
                (begin, Instant::now())
            })
        });
        workers.map(|w| w.join().expect("a benchmark thread panicked"))
    });
    let begin = spans.iter().map(|s| s.0).min().expect("two spans");
    let end = spans.iter().map(|s| s.1).max().expect("two spans");
    end - begin
}

/// Which of criterion's estimates to read from `estimates.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// The mean time per iteration.
    Mean,
    /// The median time per iteration: the least disturbed by other work on the machine.
    Median,
    /// The slope of the linear fit of time against iterations (criterion's headline figure
    /// when it samples linearly).
    Slope,
}

impl Statistic {
    /// Parses `mean`, `median` or `slope`.
    pub fn parse(name: &str) -> Option<Statistic> {
        match name {
            "mean" => Some(Statistic::Mean),
            "median" => Some(Statistic::Median),
            "slope" => Some(Statistic::Slope),
            _ => None,
        }
    }

    /// The key of this estimate in criterion's `estimates.json`.
    pub fn key(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::Median => "median",
            Statistic::Slope => "slope",
        }
    }
}

/// Where criterion writes its results: `$CARGO_TARGET_DIR/criterion`, or the workspace's
/// `target/criterion`.
pub fn default_criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// The point estimate, in nanoseconds per iteration, of `statistic` for `group/function` in
/// the latest criterion run (`<dir>/<group>/<function>/new/estimates.json`).
pub fn read_estimate(
    dir: &Path,
    group: &str,
    function: &str,
    statistic: Statistic,
) -> Result<f64, String> {
    let path = dir.join(group).join(function).join("new/estimates.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    json.get(statistic.key())
        .and_then(|estimate| estimate.get("point_estimate"))
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| {
            format!(
                "{}: no {}.point_estimate (slope exists only for linear sampling)",
                path.display(),
                statistic.key()
            )
        })
}
