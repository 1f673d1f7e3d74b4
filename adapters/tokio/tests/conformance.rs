//! The shared conformance suite, run from this adapter, and its `headers` cases replayed
//! through reqwest's header map and the adapter's header lookup: what the engine sees through
//! `ReqwestResponse` must mean exactly what the suite's header pairs mean.

use headway_core::feedback::{interpret, Headers, Interpretation, Options};
use headway_core::NANOS_PER_MILLI;
use headway_engine::Response;
use headway_tokio::ReqwestResponse;

#[test]
fn every_conformance_suite_passes() {
    let reports = headway_conformance::run_all();
    assert!(reports.len() >= 3, "{} suites", reports.len());
    for r in &reports {
        for (case, why) in &r.failures {
            eprintln!("{}: FAIL {case}: {why}", r.suite);
        }
        assert!(r.cases > 0, "suite {} ran no case", r.suite);
        assert!(
            r.failures.is_empty(),
            "suite {} failed {} of {} cases",
            r.suite,
            r.failures.len(),
            r.cases
        );
    }
}

/// The response's headers as the engine reads them: through the adapter's response view.
struct ThroughAdapter<'a>(&'a ReqwestResponse);

impl Headers for ThroughAdapter<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.header(name)
    }
}

fn response(status: u16, headers: &[(String, String)]) -> Option<reqwest::Response> {
    let mut b = http::Response::builder().status(status);
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = http::HeaderValue::from_bytes(value.as_bytes()).ok()?;
        b = b.header(name, value);
    }
    Some(reqwest::Response::from(b.body(String::new()).ok()?))
}

#[test]
fn header_cases_mean_the_same_through_reqwest() {
    let (_, json) = headway_conformance::SUITES
        .iter()
        .find(|(name, _)| *name == "headers")
        .expect("a headers suite");
    let file: serde_json::Value = serde_json::from_str(json).expect("headers.json");
    let cases = file["cases"].as_array().expect("cases");
    let (mut compared, mut differing) = (0, Vec::new());
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let status = case["status"].as_u64().expect("status") as u16;
        let wall_ms = case["wall_ms"].as_u64().expect("wall_ms");
        let opts = Options {
            max_wait_ns: case["max_wait_ms"]
                .as_u64()
                .map_or(Options::default().max_wait_ns, |m| {
                    m.saturating_mul(NANOS_PER_MILLI)
                }),
        };
        let pairs: Vec<(String, String)> = case["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        // Some cases carry bytes no HTTP header can hold; they cannot reach an adapter.
        let Some(resp) = response(status, &pairs).map(ReqwestResponse) else {
            continue;
        };
        let direct: Interpretation = interpret(status, &pairs[..], wall_ms, &opts);
        let via = interpret(status, &ThroughAdapter(&resp), wall_ms, &opts);
        compared += 1;
        if direct != via {
            differing.push(format!("{name}: direct {direct:?}, via reqwest {via:?}"));
        }
    }
    assert!(compared >= 100, "only {compared} cases compared");
    assert!(differing.is_empty(), "{}", differing.join("\n"));
}
