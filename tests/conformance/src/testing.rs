//! Assertions the suites' own tests share.

/// Runs `suite` on `json` and asserts that every case in the file ran, exactly once, and
/// passed. `arrays` names the file's top-level arrays whose entries are cases.
pub(crate) fn assert_passes(suite: &str, json: &str, arrays: &[&str]) {
    let report = crate::run_suite(suite, json);
    assert_eq!(report.cases, count_cases(json, arrays), "cases run");
    assert_eq!(report.failures, Vec::<(String, String)>::new());
}

/// How many entries the top-level `arrays` of `json` hold together.
pub(crate) fn count_cases(json: &str, arrays: &[&str]) -> usize {
    let file: serde_json::Value = serde_json::from_str(json).expect("suite JSON");
    arrays
        .iter()
        .map(|name| file[*name].as_array().map_or(0, Vec::len))
        .sum()
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
