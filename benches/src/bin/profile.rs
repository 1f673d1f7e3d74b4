//! A minimal driver for instruction-level profiling (for example under
//! `valgrind --tool=callgrind`): runs one benchmark case in a plain loop, with no criterion
//! machinery around it.
//!
//! ```text
//! profile <governor|headway> <allowed|denied> [CHECKS]
//! ```

use std::hint::black_box;
use std::process::ExitCode;

use headway_benches::{
    governor_exhausted, governor_unlimited, headway_exhausted, headway_unlimited, MonotonicClock,
};

/// Checks run when no count is given.
const DEFAULT_CHECKS: u64 = 1_000_000;

/// Parses the case, runs it and prints how many checks were admitted.
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let checks = match args.get(2).map(|n| n.parse::<u64>()) {
        None => DEFAULT_CHECKS,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("CHECKS: {e}");
            return ExitCode::from(2);
        }
    };
    let clock = MonotonicClock::new();
    let admitted = match (
        args.first().map(String::as_str),
        args.get(1).map(String::as_str),
    ) {
        (Some("governor"), Some("allowed")) => {
            let limiter = governor_unlimited();
            (0..checks)
                .filter(|_| black_box(limiter.check()).is_ok())
                .count()
        }
        (Some("governor"), Some("denied")) => {
            let limiter = governor_exhausted();
            (0..checks)
                .filter(|_| black_box(limiter.check()).is_ok())
                .count()
        }
        (Some("headway"), Some("allowed")) => {
            let cell = headway_unlimited();
            (0..checks)
                .filter(|_| black_box(cell.check(clock.now())).is_ok())
                .count()
        }
        (Some("headway"), Some("denied")) => {
            let cell = headway_exhausted(&clock);
            (0..checks)
                .filter(|_| black_box(cell.check(clock.now())).is_ok())
                .count()
        }
        _ => {
            eprintln!("usage: profile <governor|headway> <allowed|denied> [CHECKS]");
            return ExitCode::from(2);
        }
    };
    println!("{admitted} of {checks} checks admitted");
    ExitCode::SUCCESS
}
