//! Restarts and outages of the real mock API, ridden out by the tokio client.
//!
//! The mock server runs in the test's runtime on tokio's paused clock, and the test kills it
//! and starts it again on the same port mid-run: requests in flight lose their connections,
//! new ones are refused, then the new server resets every connection, then answers a bare
//! 503 to everything, then comes back. Waiters hold through all of it (the breaker's pause
//! and probes, backoff, the retry budget's pace) and every item completes once the server
//! is back; only an outage longer than `max_wait` becomes errors, one per item.
//!
//! As in `mock_api.rs`, the reqwest client keeps no idle-pool timer, so the paused clock
//! only jumps to the test's, the limiter's and the server's timers.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use headway_mock::{Faults, MockConfig, MockHandle, MockServer, Route, ServerOptions};
use headway_tokio::{BatchOptions, BreakerPolicy, Client, ClientError, Outcome, Timer};

const CONCURRENCY: usize = 200;

/// Every request is held 200 ms by the server, so that a couple of hundred are in flight
/// when it goes away; `faults` come on top.
fn config(faults: Faults) -> MockConfig {
    MockConfig::new().route(
        "/",
        Route::unlimited().faults(faults.delay(Duration::from_millis(200))),
    )
}

async fn start(port: u16, faults: Faults) -> MockHandle {
    MockServer::start_with(config(faults), ServerOptions::new().port(port))
        .await
        .expect("the mock starts on its port")
}

/// A client that probes a failing server twice a second, so that its probes meet each phase
/// of the outage (the default breaker waits 10 s, longer than the whole outage here).
fn client(max_wait: Duration) -> Client {
    let http = reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .expect("reqwest client");
    Client::builder()
        .reqwest_client(http)
        .timer(Timer::Tokio)
        .concurrency(CONCURRENCY)
        .max_wait(max_wait)
        .breaker(Some(BreakerPolicy::new(5, Duration::from_millis(500))))
        .build()
        .expect("client")
}

fn run(client: &Client, addr: SocketAddr, n: usize) -> tokio::task::JoinHandle<Vec<Outcome>> {
    let requests: Vec<reqwest::Request> = (0..n)
        .map(|i| {
            let url = format!("http://{addr}/items/{i}");
            client.reqwest().get(url).build().expect("request")
        })
        .collect();
    let results = client.execute_all(requests, BatchOptions::new(CONCURRENCY));
    tokio::spawn(results.collect())
}

/// Request `i`'s status, checking that outcome `i` answers it.
fn status(i: usize, outcome: &Outcome) -> Option<u16> {
    let sent = outcome.as_ref().ok()?;
    assert_eq!(sent.response.url().path(), format!("/items/{i}"));
    Some(sent.response.status().as_u16())
}

#[tokio::test(start_paused = true)]
async fn a_restart_through_refused_reset_and_503_phases_costs_no_item() {
    const N: usize = 1_000;
    let first = start(0, Faults::new()).await;
    let addr = first.addr();
    let client = client(Duration::from_secs(600));
    let results = run(&client, addr, N);

    // 300 ms in, the server dies with its 200 requests in flight (their connections close
    // unanswered), and for a second nothing listens (connections refused).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut admitted = first.stats().total.admitted;
    first.shutdown().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Back on the same port, but resetting every connection for a second,
    let second = start(addr.port(), Faults::new().reset_every(1)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let resets = second.stats().total.resets;
    admitted += second.stats().total.admitted;
    // then answering a bare 503 (no Retry-After) to all but the first request for a second,
    let down = Faults::new().fail_every(1, u64::MAX / 2, 503);
    second.set_config(config(down)).expect("config");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let faulted = second.stats().total.faulted;
    admitted += second.stats().total.admitted;
    // and then it is back for good.
    second.set_config(config(Faults::new())).expect("config");

    let outcomes = results.await.expect("the batch task");
    assert_eq!(outcomes.len(), N);
    let failed: Vec<String> = outcomes
        .iter()
        .enumerate()
        .filter(|(i, o)| status(*i, o) != Some(200))
        .map(|(i, o)| format!("{i}: {:?}", o.as_ref().map(|s| s.response.status())))
        .collect();
    assert!(
        failed.is_empty(),
        "{} items failed: {failed:?}",
        failed.len()
    );
    // Each phase was met (the probes went during it), and the server admitted each item
    // exactly once over both lives.
    assert!(resets > 0 && faulted > 0, "resets {resets}, 503s {faulted}");
    admitted += second.stats().total.admitted;
    assert_eq!(admitted, N as u64);
    let stats = client.stats();
    assert_eq!(
        (stats.succeeded, stats.failed, stats.queued),
        (N as u64, 0, 0)
    );
    assert!(stats.retries >= CONCURRENCY as u64, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn an_outage_longer_than_max_wait_fails_each_item_once_with_a_typed_error() {
    const N: usize = 300;
    let server = start(0, Faults::new()).await;
    let addr = server.addr();
    let max_wait = Duration::from_secs(5);
    let client = client(max_wait);
    let results = run(&client, addr, N);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admitted = server.stats().total.admitted;
    // Gone for good.
    server.shutdown().await;
    let outcomes = tokio::time::timeout(Duration::from_secs(3_600), results)
        .await
        .expect("every item ends within the hour")
        .expect("the batch task");
    assert_eq!(outcomes.len(), N);
    let mut ok = 0;
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Ok(_) => {
                assert_eq!(status(i, outcome), Some(200));
                ok += 1;
            }
            Err(f) => assert!(
                matches!(
                    f.error,
                    ClientError::Transport(_)
                        | ClientError::CircuitOpen { .. }
                        | ClientError::WaitTooLong { .. }
                ),
                "item {i}: {}",
                f.error
            ),
        }
    }
    // What was answered before the server died came back; nothing after it.
    assert_eq!(ok, admitted);
    let stats = client.stats();
    assert_eq!(stats.failed, N as u64 - ok);
    assert_eq!(stats.queued, 0);
}
