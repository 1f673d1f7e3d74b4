//! Strict GCRA against requests sent at a fixed pace, on tokio's paused clock.
//!
//! The server runs in the test's runtime, so its decisions see the same virtual time as the
//! client's `sleep_until`. The client keeps no idle-pool timer, so while a request is in flight
//! there is no timer for the paused clock to jump to: every request arrives exactly on schedule.

mod common;

use std::time::Duration;

use common::serve;
use headway_mock::{MockConfig, Route};
use tokio::time::Instant;

/// Independent reference: strict GCRA with emission interval `t_ms`, fed arrival times in ms.
fn reference(arrivals: &[u64], t_ms: u64) -> Vec<bool> {
    let mut next_ok = 0;
    arrivals
        .iter()
        .map(|&at| {
            let ok = at >= next_ok;
            if ok {
                next_ok = at + t_ms;
            }
            ok
        })
        .collect()
}

async fn run_paced(pace_ms: u64) -> (Vec<bool>, headway_mock::Stats) {
    let server =
        serve(MockConfig::new().route("/", Route::gcra(100, Duration::from_secs(1), 1))).await;
    let client = common::client();
    let url = server.url_for("/paced");
    let start = Instant::now();
    let mut got = Vec::new();
    for i in 0..100 {
        tokio::time::sleep_until(start + Duration::from_millis(i * pace_ms)).await;
        let resp = client.get(&url).send().await.expect("send");
        assert_eq!(Instant::now(), start + Duration::from_millis(i * pace_ms));
        match resp.status().as_u16() {
            200 => got.push(true),
            429 => got.push(false),
            other => panic!("unexpected status {other}"),
        }
    }
    let stats = server.stats();
    server.shutdown().await;
    (got, stats)
}

#[tokio::test(start_paused = true)]
async fn strict_gcra_admits_every_request_at_exactly_its_rate() {
    let (got, stats) = run_paced(10).await;
    assert!(got.iter().all(|&ok| ok), "{got:?}");
    assert_eq!(stats.total.admitted, 100);
    assert_eq!(stats.total.rejected, 0);
    assert_eq!(stats.total.first_admitted_ms, Some(0.0));
    assert_eq!(stats.total.last_admitted_ms, Some(990.0));
}

#[tokio::test(start_paused = true)]
async fn strict_gcra_matches_the_reference_at_a_faster_pace() {
    for pace in [3, 7, 9] {
        let (got, stats) = run_paced(pace).await;
        let arrivals: Vec<u64> = (0..100).map(|i| i * pace).collect();
        let want = reference(&arrivals, 10);
        assert_eq!(got, want, "pace {pace} ms");
        let admitted = want.iter().filter(|&&ok| ok).count() as u64;
        assert_eq!(stats.total.admitted, admitted);
        assert_eq!(stats.total.rejected, 100 - admitted);
        assert_eq!(stats.routes["/"].admitted, admitted);
        let last = arrivals[want.iter().rposition(|&ok| ok).unwrap()];
        assert_eq!(stats.total.last_admitted_ms, Some(last as f64));
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_burst_is_counted_exactly() {
    // 50 requests at the same instant against 100/s with burst 10: exactly 10 get through.
    let server =
        serve(MockConfig::new().route("/", Route::gcra(100, Duration::from_secs(1), 10))).await;
    let client = common::client();
    let url = server.url_for("/burst");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            client.get(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        if t.await.expect("join").expect("send") == 200 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);
    let stats = server.stats();
    assert_eq!((stats.total.admitted, stats.total.rejected), (10, 40));
}
