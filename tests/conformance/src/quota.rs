//! Runner for `data/quota.json`: quota strings, valid ones with their parts and invalid ones
//! with the kind of error.

use headway_core::{Quota, QuotaError};
use serde::Deserialize;

use crate::Report;

#[derive(Deserialize)]
struct File {
    valid: Vec<Valid>,
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
struct Valid {
    input: String,
    limit: u32,
    period_ns: u64,
    burst: u32,
    emission_interval_ns: u64,
    tolerance_ns: u64,
}

#[derive(Deserialize)]
struct Invalid {
    input: String,
    error: String,
}

/// The data files' name for each kind of error.
fn kind(e: QuotaError) -> &'static str {
    match e {
        QuotaError::ZeroLimit => "zero_limit",
        QuotaError::ZeroPeriod => "zero_period",
        QuotaError::ZeroBurst => "zero_burst",
        QuotaError::Overflow => "overflow",
        QuotaError::Syntax => "syntax",
    }
}

pub(crate) fn run(json: &str, report: &mut Report) {
    let Some(file) = report.read::<File>(json) else {
        return;
    };
    for case in &file.valid {
        let why = match case.input.parse::<Quota>() {
            Err(e) => Some(format!("rejected: {}", kind(e))),
            Ok(q) => {
                let got = (
                    q.limit(),
                    q.period_ns(),
                    q.burst(),
                    q.emission_interval_ns(),
                    q.tolerance_ns(),
                );
                let want = (
                    case.limit,
                    case.period_ns,
                    case.burst,
                    case.emission_interval_ns,
                    case.tolerance_ns,
                );
                (got != want).then(|| format!("expected {want:?}, got {got:?}"))
            }
        };
        report.record(&format!("valid {:?}", case.input), why);
    }
    for case in &file.invalid {
        let why = match case.input.parse::<Quota>() {
            Ok(q) => Some(format!("accepted as {q:?}")),
            Err(e) if kind(e) == case.error => None,
            Err(e) => Some(format!("expected {}, got {}", case.error, kind(e))),
        };
        report.record(&format!("invalid {:?}", case.input), why);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::testing::assert_passes;

    const JSON: &str = include_str!("../data/quota.json");

    #[test]
    fn embedded_suite_passes() {
        assert_passes("quota", JSON, &["valid", "invalid"]);
    }

    /// Every expectation in the file is really checked: breaking any one fails its case.
    #[test]
    fn every_expectation_is_checked() {
        let file: Value = serde_json::from_str(JSON).unwrap();
        for list in ["valid", "invalid"] {
            for i in 0..file[list].as_array().unwrap().len() {
                let fields: &[&str] = if list == "valid" {
                    &[
                        "limit",
                        "period_ns",
                        "burst",
                        "emission_interval_ns",
                        "tolerance_ns",
                    ]
                } else {
                    &["error"]
                };
                for field in fields {
                    let mut mutated = file.clone();
                    let slot = &mut mutated[list][i][*field];
                    *slot = match slot {
                        Value::Number(n) => json!(n.as_u64().unwrap() ^ 1),
                        Value::String(s) if s == "syntax" => json!("overflow"),
                        _ => json!("syntax"),
                    };
                    let report = crate::run_suite("quota", &mutated.to_string());
                    assert_eq!(report.failures.len(), 1, "{list} {i} {field}");
                }
            }
        }
    }
}
