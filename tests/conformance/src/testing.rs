//! Assertions the suites' own tests share.

/// Runs `suite` on `json` and asserts that it has at least `min_cases` cases and that every
/// one of them passes.
pub(crate) fn assert_passes(suite: &str, json: &str, min_cases: usize) {
    let report = crate::run_suite(suite, json);
    assert!(report.cases >= min_cases, "only {} cases", report.cases);
    assert_eq!(report.failures, Vec::<(String, String)>::new());
}

/// Replaces the first `expected` in `json` with `wrong` and asserts that `suite` then fails
/// exactly one case.
pub(crate) fn assert_one_failure_with(suite: &str, json: &str, expected: &str, wrong: &str) {
    assert!(
        json.contains(expected),
        "{expected} not in the {suite} suite"
    );
    let broken = json.replacen(expected, wrong, 1);
    let report = crate::run_suite(suite, &broken);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
}
