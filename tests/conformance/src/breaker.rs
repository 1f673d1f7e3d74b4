//! Runner for `data/breaker.json`: circuit breaker operation sequences with fake time.

use std::collections::HashMap;

use headway_core::breaker::{BreakerState, CircuitBreaker, Permit};
use serde::Deserialize;

use crate::Report;

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    failure_threshold: u32,
    open_for_ns: u64,
    ops: Vec<Op>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Acquire {
        at: u64,
        permit: Option<String>,
        expect: AcquireResult,
    },
    Success {
        at: u64,
        permit: String,
        expect_changed: bool,
    },
    Failure {
        at: u64,
        permit: String,
        expect_changed: bool,
    },
    State {
        at: u64,
        expect: State,
    },
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(tag = "result", rename_all = "snake_case")]
enum AcquireResult {
    Permit,
    Probe,
    Open { retry_in_ns: u64 },
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
enum State {
    Closed { consecutive_failures: u32 },
    Open { retry_in_ns: u64 },
    HalfOpen { probe_in_flight: bool },
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
    let breaker = CircuitBreaker::new(case.failure_threshold, case.open_for_ns)
        .map_err(|e| format!("breaker rejected: {e}"))?;
    let mut permits: HashMap<&str, Permit> = HashMap::new();
    for (i, op) in case.ops.iter().enumerate() {
        match op {
            Op::Acquire { at, permit, expect } => {
                let got = match breaker.acquire(*at) {
                    Ok(p) => {
                        if let Some(name) = permit {
                            permits.insert(name, p);
                        }
                        if p.is_probe() {
                            AcquireResult::Probe
                        } else {
                            AcquireResult::Permit
                        }
                    }
                    Err(open) => AcquireResult::Open {
                        retry_in_ns: open.retry_in_ns,
                    },
                };
                if &got != expect {
                    return Err(format!(
                        "op {i} acquire at {at}: expected {expect:?}, got {got:?}"
                    ));
                }
            }
            Op::Success {
                at,
                permit,
                expect_changed,
            }
            | Op::Failure {
                at,
                permit,
                expect_changed,
            } => {
                let p = *permits
                    .get(permit.as_str())
                    .ok_or_else(|| format!("op {i}: no permit named {permit:?}"))?;
                let (what, changed) = match op {
                    Op::Success { .. } => ("success", breaker.on_success(p, *at)),
                    _ => ("failure", breaker.on_failure(p, *at)),
                };
                if changed != *expect_changed {
                    return Err(format!(
                        "op {i} {what} of {permit:?} at {at}: expected changed={expect_changed}, got {changed}"
                    ));
                }
            }
            Op::State { at, expect } => {
                let got = match breaker.state(*at) {
                    BreakerState::Closed {
                        consecutive_failures,
                    } => State::Closed {
                        consecutive_failures,
                    },
                    BreakerState::Open { retry_in_ns } => State::Open { retry_in_ns },
                    BreakerState::HalfOpen { probe_in_flight } => {
                        State::HalfOpen { probe_in_flight }
                    }
                };
                if &got != expect {
                    return Err(format!(
                        "op {i} state at {at}: expected {expect:?}, got {got:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::{assert_one_failure_with, assert_passes};

    const JSON: &str = include_str!("../data/breaker.json");

    #[test]
    fn embedded_suite_passes() {
        assert_passes("breaker", JSON, &["cases"]);
    }

    #[test]
    fn a_wrong_expectation_is_reported() {
        assert_one_failure_with(
            "breaker",
            JSON,
            r#""retry_in_ns": 10000000000}}"#,
            r#""retry_in_ns": 10000000001}}"#,
        );
    }
}
