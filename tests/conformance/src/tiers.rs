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
    let Some(file) = report.read::<File>(json) else {
        return;
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
    use crate::gcra::break_each_expectation;
    use crate::testing::assert_passes;

    const JSON: &str = include_str!("../data/tiers.json");

    #[test]
    fn embedded_suite_passes() {
        assert_passes("tiers", JSON, &["cases"]);
    }

    /// Every expectation in the file is really checked: breaking any one fails its case.
    #[test]
    fn every_expectation_is_checked() {
        let broken_ops = break_each_expectation("tiers", JSON);
        assert!(broken_ops > 80, "only {broken_ops} expectations");
    }
}
