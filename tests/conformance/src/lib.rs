//! The one conformance suite every Headway target runs.
//!
//! The cases live in `data/*.json` as plain JSON with exact expected values, independent of
//! Rust types, so the wasm runners and the npm package's JavaScript tests read the very same
//! files. This crate embeds them and runs them against `headway-core`; a runner on any target
//! (native, wasm in Node, wasm in a browser) calls [`run_all`] and asserts no failures.
//!
//! Times in the GCRA, tier and trace files are integer nanoseconds below 2^53, so JavaScript
//! numbers hold them exactly; header files use milliseconds. The trace file replays whole
//! event sequences (acquisitions, responses, failures, cancellations) through the core's
//! per-key and per-call state machines with a small FIFO driver, so every target checks the
//! same decisions, in the same order, at the same times.

mod backoff;
mod breaker;
mod gcra;
mod headers;
mod quota;
mod report;
#[cfg(test)]
mod testing;
mod tiers;
mod traces;

pub use report::{Report, Suite};

/// Every suite's JSON, by name, embedded at build time.
pub const SUITES: &[(&str, &str)] = &[
    ("headers", include_str!("../data/headers.json")),
    ("backoff", include_str!("../data/backoff.json")),
    ("breaker", include_str!("../data/breaker.json")),
    ("gcra", include_str!("../data/gcra.json")),
    ("tiers", include_str!("../data/tiers.json")),
    ("quota", include_str!("../data/quota.json")),
    ("traces", include_str!("../data/traces.json")),
];

/// Runs every suite against `headway-core` and returns one report per suite.
pub fn run_all() -> Vec<Report> {
    SUITES
        .iter()
        .map(|(name, json)| run_suite(name, json))
        .collect()
}

/// Runs one named suite's JSON text.
pub fn run_suite(name: &str, json: &str) -> Report {
    let mut report = Report::new(name);
    match name {
        "backoff" => backoff::run(json, &mut report),
        "breaker" => breaker::run(json, &mut report),
        "headers" => headers::run(json, &mut report),
        "gcra" => gcra::run(json, &mut report),
        "tiers" => tiers::run(json, &mut report),
        "quota" => quota::run(json, &mut report),
        "traces" => traces::run(json, &mut report),
        other => report.fail(other, "no runner for this suite"),
    }
    let _ = json;
    report
}
