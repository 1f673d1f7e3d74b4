//! The `headers` suite: `data/headers.json` against `headway_core::feedback::interpret`.
//!
//! Each case gives a status, header pairs, the local wall clock (`wall_ms`) and `max_wait_ms`;
//! the expectation is the verdict and the key feedback with every time in whole milliseconds
//! (nanoseconds rounded down).

use headway_core::feedback::{interpret, Interpretation, Options, Verdict};
use headway_core::NANOS_PER_MILLI;
use serde::Deserialize;

/// The file: either `{"cases": [...]}` (with free-form description fields) or a bare array.
#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    Object { cases: Vec<Case> },
    Array(Vec<Case>),
}

#[derive(Deserialize)]
struct Case {
    name: String,
    status: u16,
    headers: Vec<(String, String)>,
    wall_ms: u64,
    #[serde(default)]
    max_wait_ms: Option<u64>,
    expect: Outcome,
}

/// The expected (or observed) outcome, as the JSON spells it.
#[derive(Debug, Deserialize, PartialEq, Eq)]
struct Outcome {
    verdict: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    after_ms: Option<u64>,
    #[serde(default)]
    wait_ms: Option<u64>,
    pause_ms: Option<u64>,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset_ms: Option<u64>,
    policies: Vec<Policy>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
struct Policy {
    limit: u64,
    period_ms: u64,
}

fn ms(ns: u64) -> u64 {
    ns / NANOS_PER_MILLI
}

fn observe(i: &Interpretation) -> Outcome {
    let (verdict, reason, after_ms, wait_ms) = match i.verdict {
        Verdict::Done => ("done", None, None, None),
        Verdict::Retry { after_ns, reason } => (
            "retry",
            Some(reason.as_str().to_string()),
            after_ns.map(ms),
            None,
        ),
        Verdict::TooLong { wait_ns } => ("too_long", None, None, Some(ms(wait_ns))),
    };
    let f = &i.feedback;
    Outcome {
        verdict: verdict.to_string(),
        reason,
        after_ms,
        wait_ms,
        pause_ms: f.pause_ns.map(ms),
        limit: f.limit,
        remaining: f.remaining,
        reset_ms: f.reset_ns.map(ms),
        policies: f
            .policies
            .iter()
            .map(|q| Policy {
                limit: u64::from(q.limit()),
                period_ms: ms(q.period_ns()),
            })
            .collect(),
    }
}

fn check(case: &Case) -> Option<String> {
    let opts = Options {
        max_wait_ns: case
            .max_wait_ms
            .map_or(Options::default().max_wait_ns, |m| {
                m.saturating_mul(NANOS_PER_MILLI)
            }),
    };
    let got = observe(&interpret(
        case.status,
        &case.headers[..],
        case.wall_ms,
        &opts,
    ));
    (got != case.expect).then(|| format!("expected {:?}, got {:?}", case.expect, got))
}

pub(crate) fn run(json: &str, report: &mut crate::Report) {
    let Some(File::Object { cases } | File::Array(cases)) = report.read(json) else {
        return;
    };
    for case in &cases {
        report.record(&case.name, check(case));
    }
}

#[cfg(test)]
mod tests {
    const JSON: &str = include_str!("../data/headers.json");

    fn run(json: &str) -> crate::Report {
        let mut report = crate::Report::new("headers");
        super::run(json, &mut report);
        report
    }

    #[test]
    fn every_case_passes() {
        let report = run(JSON);
        assert_eq!(report.cases, crate::testing::count_cases(JSON, &["cases"]));
        assert_eq!(report.failures, Vec::<(String, String)>::new());
    }

    #[test]
    fn a_wrong_expectation_is_caught() {
        let broken = JSON.replacen("\"after_ms\": 5000", "\"after_ms\": 5001", 1);
        assert_ne!(broken, JSON);
        let report = run(&broken);
        assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
        let broken = JSON.replacen(
            "\"policies\": [{\"limit\": 100",
            "\"policies\": [{\"limit\": 101",
            1,
        );
        assert_ne!(broken, JSON);
        assert_eq!(run(&broken).failures.len(), 1);
    }

    #[test]
    fn unreadable_json_is_a_failure() {
        let report = run("{\"cases\": [");
        assert_eq!((report.cases, report.failures.len()), (1, 1));
    }
}
