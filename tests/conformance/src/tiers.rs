//! Runner for `data/tiers.json`: operation sequences on a multi-tier limiter, with the same
//! operation vocabulary as `data/gcra.json`.

use headway_core::Tiers;
use serde::Deserialize;

use crate::gcra::{run_ops, Op, QuotaSpec};
use crate::Report;

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    quotas: Vec<QuotaSpec>,
    ops: Vec<Op>,
}

pub(crate) fn run(json: &str, report: &mut Report) {
    let file: File = match serde_json::from_str(json) {
        Ok(file) => file,
        Err(e) => return report.fail("tiers.json", format!("unreadable: {e}")),
    };
    for case in &file.cases {
        let outcome = case
            .quotas
            .iter()
            .map(|q| q.quota())
            .collect::<Result<Vec<_>, _>>()
            .and_then(|quotas| Tiers::new(&quotas).map_err(|e| e.to_string()))
            .and_then(|mut tiers| run_ops(&mut tiers, &case.ops));
        report.record(&case.name, outcome.err());
    }
}

#[cfg(test)]
mod tests {
    use crate::gcra::break_expectation;

    const JSON: &str = include_str!("../data/tiers.json");

    #[test]
    fn embedded_suite_passes() {
        let report = crate::run_suite("tiers", JSON);
        assert!(report.cases >= 10, "only {} cases", report.cases);
        assert_eq!(report.failures, Vec::<(String, String)>::new());
    }

    /// Every expectation in the file is really checked: breaking any one fails its case.
    #[test]
    fn every_expectation_is_checked() {
        let file: serde_json::Value = serde_json::from_str(JSON).unwrap();
        let cases = file["cases"].as_array().unwrap();
        let mut broken_ops = 0;
        for (c, case) in cases.iter().enumerate() {
            for o in 0..case["ops"].as_array().unwrap().len() {
                let mut mutated = file.clone();
                if !break_expectation(&mut mutated["cases"][c]["ops"][o]) {
                    continue;
                }
                broken_ops += 1;
                let report = crate::run_suite("tiers", &mutated.to_string());
                assert_eq!(
                    report.failures.len(),
                    1,
                    "case {} op {o} broken but {:?}",
                    case["name"],
                    report.failures
                );
            }
        }
        assert!(broken_ops > 80, "only {broken_ops} expectations");
    }
}
