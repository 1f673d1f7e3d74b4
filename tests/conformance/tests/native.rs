//! Runs every conformance suite natively against `headway-core`.

#[test]
fn every_suite_passes() {
    let reports = headway_conformance::run_all();
    assert!(!reports.is_empty(), "no suites");
    for r in &reports {
        println!(
            "{}: {} cases, {} failed",
            r.suite,
            r.cases,
            r.failures.len()
        );
        for (case, why) in &r.failures {
            println!("  FAIL {case}: {why}");
        }
    }
    for r in &reports {
        assert!(r.cases > 0, "suite {} ran no case", r.suite);
        assert!(
            r.failures.is_empty(),
            "suite {} failed {} case(s)",
            r.suite,
            r.failures.len()
        );
    }
}
