//! Runner for `data/backoff.json`: backoff sequences with exact expected delays.

use headway_core::backoff::{Backoff, Jitter};
use serde::Deserialize;

use crate::Report;

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    base_ns: u64,
    max_delay_ns: u64,
    max_attempts: u32,
    max_total_ns: u64,
    jitter: String,
    /// A decimal string: seeds may exceed 2^53.
    seed: String,
    #[serde(default)]
    server_waits_ns: Vec<Option<u64>>,
    expect_delays_ns: Vec<Option<u64>>,
    expect_attempts: u32,
    expect_elapsed_ns: u64,
}

pub(crate) fn run(json: &str, report: &mut Report) {
    let Some(file) = report.read::<File>(json) else {
        return;
    };
    for case in &file.cases {
        report.record(&case.name, check(case).err());
    }
}

fn check(case: &Case) -> Result<(), String> {
    let jitter: Jitter = case
        .jitter
        .parse()
        .map_err(|e| format!("jitter {:?}: {e}", case.jitter))?;
    let seed: u64 = case
        .seed
        .parse()
        .map_err(|e| format!("seed {:?}: {e}", case.seed))?;
    let policy = Backoff::new(case.base_ns, case.max_delay_ns)
        .map_err(|e| format!("policy rejected: {e}"))?
        .with_jitter(jitter)
        .with_max_attempts(case.max_attempts)
        .with_max_total_ns(case.max_total_ns);
    let mut retrying = policy.start(seed);
    let got: Vec<Option<u64>> = (0..case.expect_delays_ns.len())
        .map(|i| retrying.next_delay(case.server_waits_ns.get(i).copied().flatten()))
        .collect();
    if got != case.expect_delays_ns {
        return Err(format!(
            "delays: expected {:?}, got {got:?}",
            case.expect_delays_ns
        ));
    }
    if retrying.attempts() != case.expect_attempts {
        return Err(format!(
            "attempts: expected {}, got {}",
            case.expect_attempts,
            retrying.attempts()
        ));
    }
    if retrying.elapsed_ns() != case.expect_elapsed_ns {
        return Err(format!(
            "elapsed_ns: expected {}, got {}",
            case.expect_elapsed_ns,
            retrying.elapsed_ns()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::{assert_one_failure_with, assert_passes};

    const JSON: &str = include_str!("../data/backoff.json");

    #[test]
    fn embedded_suite_passes() {
        assert_passes("backoff", JSON, &["cases"]);
    }

    #[test]
    fn a_wrong_expectation_is_reported() {
        assert_one_failure_with(
            "backoff",
            JSON,
            r#""expect_attempts": 6"#,
            r#""expect_attempts": 7"#,
        );
    }
}
