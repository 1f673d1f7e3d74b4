//! The tokio adapter against the rate-limited mock API on loopback.
//!
//! Every test runs on tokio's paused clock (`start_paused = true`), and the mock server runs in
//! the same runtime and reads the same clock, so times are exact virtual times. The reqwest
//! client keeps no idle-pool timer: while a request is on the loopback wire, the only timers
//! are the test's, the limiter's and the server's, so the paused clock never jumps in the
//! middle of a request.

use std::future::Future;
use std::time::{Duration, UNIX_EPOCH};

use futures_util::{FutureExt, StreamExt};
use headway_mock::{
    Faults, HeaderStyle, MockConfig, MockHandle, MockServer, RetryAfterStyle, Route, ServerOptions,
};
use headway_tokio::{
    BatchOptions, Client, ClientBuilder, ClientError, Outcome, Quota, QuotaSource, Timer,
    TokioRuntime,
};
use tokio::time::Instant;

/// A reqwest client without an idle-pool timer (see the module docs).
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .expect("reqwest client")
}

/// A client on tokio's own timer, which follows the paused test clock.
fn builder() -> ClientBuilder {
    Client::builder().reqwest_client(http()).timer(Timer::Tokio)
}

async fn serve(route: Route) -> MockHandle {
    MockServer::start(MockConfig::new().route("/", route))
        .await
        .expect("mock server")
}

fn requests(client: &Client, server: &MockHandle, n: usize) -> Vec<reqwest::Request> {
    (0..n)
        .map(|i| {
            client
                .reqwest()
                .get(server.url_for(&format!("/items/{i}")))
                .build()
                .expect("request")
        })
        .collect()
}

/// Sends `n` requests to `server` (see [`requests`]), `concurrency` at a time, and collects
/// their outcomes in request order.
fn send_all(
    client: &Client,
    server: &MockHandle,
    n: usize,
    concurrency: usize,
) -> impl Future<Output = Vec<Outcome>> + Send + 'static {
    client
        .execute_all(requests(client, server, n), BatchOptions::new(concurrency))
        .collect()
}

/// Checks that outcome `i` answers request `i`, and returns its status.
fn status_of(i: usize, outcome: &Outcome) -> Option<u16> {
    let sent = outcome.as_ref().ok()?;
    assert_eq!(
        sent.response.url().path(),
        format!("/items/{i}"),
        "outcome {i} is out of order"
    );
    Some(sent.response.status().as_u16())
}

/// Whether every outcome answers its own request (see [`status_of`]) with a 200.
fn all_200(outs: &[Outcome]) -> bool {
    outs.iter()
        .enumerate()
        .all(|(i, o)| status_of(i, o) == Some(200))
}

fn strict_100_per_second() -> Route {
    Route::gcra(100, Duration::from_secs(1), 1)
}

#[tokio::test(start_paused = true)]
async fn a_quota_equal_to_the_servers_limit_earns_no_429() {
    let server = serve(strict_100_per_second()).await;
    // On virtual time arrivals carry no jitter: no margin, so the schedule is exact.
    let client = builder()
        .quota("100/s")
        .concurrency(10)
        .margin(None)
        .build()
        .unwrap();
    let start = Instant::now();
    let outs = send_all(&client, &server, 500, 10).await;
    let elapsed = start.elapsed();
    assert_eq!(outs.len(), 500);
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(status_of(i, o), Some(200));
        assert_eq!(o.as_ref().unwrap().attempts, 1);
    }
    let stats = server.stats();
    assert_eq!(stats.total.rejected, 0, "{stats:?}");
    assert_eq!(stats.total.admitted, 500);
    // 500 requests 10 ms apart: the last at 4.99 s. No faster, and hardly slower.
    assert_eq!(stats.total.first_admitted_ms, Some(0.0));
    assert_eq!(stats.total.last_admitted_ms, Some(4990.0));
    assert!(
        elapsed >= Duration::from_millis(4990) && elapsed <= Duration::from_millis(5010),
        "{elapsed:?}"
    );
    assert_eq!(client.stats().rate_limited, 0);
}

#[tokio::test(start_paused = true)]
async fn the_middleware_path_earns_no_429_either() {
    let server = serve(strict_100_per_second()).await;
    let headway = builder()
        .quota("100/s")
        .concurrency(10)
        .margin(None)
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(http())
        .with(headway_tokio::HeadwayMiddleware::new(&headway))
        .build();
    let start = Instant::now();
    let statuses: Vec<u16> = futures_util::stream::iter(0..500)
        .map(|i| {
            let client = client.clone();
            let url = server.url_for(&format!("/items/{i}"));
            async move { client.get(url).send().await.unwrap().status().as_u16() }
        })
        .buffered(10)
        .collect()
        .await;
    let elapsed = start.elapsed();
    assert!(statuses.iter().all(|&s| s == 200));
    let stats = server.stats();
    assert_eq!((stats.total.admitted, stats.total.rejected), (500, 0));
    assert!(
        elapsed >= Duration::from_millis(4990) && elapsed <= Duration::from_millis(5010),
        "{elapsed:?}"
    );
    // The middleware shares the client's state.
    assert_eq!(headway.stats().sent, 500);
}

#[tokio::test(start_paused = true)]
async fn without_a_quota_the_client_oversends_by_design() {
    // The control for the test above: with no quota and no headers, concurrency alone
    // overruns a strict server, so the zero-429 result is the quota's doing.
    let server = serve(strict_100_per_second()).await;
    let client = builder().concurrency(10).retries(0).build().unwrap();
    let outs = send_all(&client, &server, 50, 10).await;
    assert_eq!(outs.len(), 50);
    assert!(server.stats().total.rejected > 0);
}

/// Runs `n` requests with no quota configured, and returns (429s before `first_window`
/// elapsed, 429s in all, the client).
async fn learn_run(server: &MockHandle, n: usize, first_window: Duration) -> (u64, u64, Client) {
    let client = builder().concurrency(10).build().unwrap();
    let start = Instant::now();
    let batch = tokio::spawn(send_all(&client, server, n, 10));
    tokio::time::sleep_until(start + first_window - Duration::from_millis(1)).await;
    let early = server.stats().total.rejected;
    let outs = batch.await.unwrap();
    assert_eq!(outs.len(), n);
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(status_of(i, o), Some(200), "{o:?}");
    }
    (early, server.stats().total.rejected, client)
}

#[tokio::test(start_paused = true)]
async fn ietf_08_headers_teach_the_quota_and_429s_stop_after_the_first_window() {
    let server =
        serve(Route::gcra(100, Duration::from_secs(1), 10).headers(HeaderStyle::Ietf08)).await;
    let (early, total, client) = learn_run(&server, 300, Duration::from_secs(1)).await;
    assert_eq!(early, total, "429s after the first window");
    assert!(total <= 10, "{total} 429s");
    let stats = client.stats();
    let (_, key) = stats
        .keys
        .iter()
        .find(|(k, _)| *k == server.url())
        .expect("the server's origin is a key");
    assert_eq!(key.source, QuotaSource::Learned);
    // The server's RateLimit item showed its burst of 10 (r=9 after the first request): the
    // key uses 9 of it, keeping one in hand for the jitter between send and arrival.
    let learned = Quota::per_second(100).unwrap().with_burst(9).unwrap();
    assert_eq!(key.quotas[0], learned);
}

#[tokio::test(start_paused = true)]
async fn x_ratelimit_epoch_headers_on_a_fixed_window_stop_429s_after_the_first_window() {
    let server = serve(
        Route::fixed_window(20, Duration::from_secs(1)).headers(HeaderStyle::XRatelimitEpoch),
    )
    .await;
    let (early, total, _) = learn_run(&server, 100, Duration::from_secs(1)).await;
    assert_eq!(early, total, "429s after the first window");
    assert!(total <= 10, "{total} 429s");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_on_one_origin_pauses_all_of_its_queue_and_no_other_origin() {
    // A answers after 100 ms; requests decided in its first 150 ms get 429, Retry-After 2.
    let a = serve(Route::unlimited().faults(
        Faults::new().delay(Duration::from_millis(100)).outage(
            Duration::ZERO,
            Duration::from_millis(150),
            2,
        ),
    ))
    .await;
    let b = serve(Route::unlimited()).await;
    let client = builder()
        .per_key_concurrency(1)
        .pause_jitter(Duration::ZERO)
        .build()
        .unwrap();
    let start = Instant::now();
    // Four requests to A: one in flight, three queued behind the per-origin cap.
    let to_a = tokio::spawn(send_all(&client, &a, 4, 4));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(client.stats().queued, 3);
    // B is not held up by A's queue, nor by A's pause once it comes.
    let outs = send_all(&client, &b, 5, 5).await;
    assert!(all_200(&outs));
    assert_eq!(start.elapsed(), Duration::from_millis(10));
    tokio::time::sleep_until(start + Duration::from_millis(500)).await;
    let paused = client.stats().max_pause();
    assert_eq!(
        paused,
        Duration::from_millis(1600),
        "A paused until 100 ms + 2 s"
    );
    let b_late = send_all(&client, &b, 3, 3).await;
    assert!(b_late.iter().all(|o| o.is_ok()));
    assert_eq!(start.elapsed(), Duration::from_millis(500));
    // Until the pause ends, nothing more reaches A.
    tokio::time::sleep_until(start + Duration::from_millis(2099)).await;
    assert_eq!(a.stats().total.requests, 1);
    let outs = to_a.await.unwrap();
    assert!(all_200(&outs));
    let stats = a.stats();
    assert_eq!((stats.total.admitted, stats.total.rejected), (4, 1));
    // Sent at 2.1 s, decided after the 100 ms delay.
    assert_eq!(stats.total.first_admitted_ms, Some(2200.0));
    assert_eq!(b.stats().total.requests, 8);
}

/// Runs 30 requests against a 5-per-second fixed window whose `Date` clock is `skew_ms` off
/// the local clock, and returns the virtual time taken.
async fn skewed_run(skew_ms: i64) -> Duration {
    let route = Route::fixed_window(5, Duration::from_secs(1))
        .headers(HeaderStyle::XRatelimitEpoch)
        .retry_after(RetryAfterStyle::HttpDate);
    let server = MockServer::start_with(
        MockConfig::new().route("/", route).date_skew_ms(skew_ms),
        ServerOptions::new().start_time(UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
    )
    .await
    .unwrap();
    let client = builder()
        .concurrency(5)
        .pause_jitter(Duration::ZERO)
        .max_wait(Duration::from_secs(120))
        .build()
        .unwrap();
    let start = Instant::now();
    let outs = tokio::time::timeout(Duration::from_secs(60), send_all(&client, &server, 30, 5))
        .await
        .unwrap_or_else(|_| panic!("skew {skew_ms} ms: stuck for a minute"));
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(status_of(i, o), Some(200), "skew {skew_ms} ms: {o:?}");
    }
    assert!(
        server.stats().total.rejected <= 5,
        "skew {skew_ms}: {:?}",
        server.stats()
    );
    start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn an_epoch_reset_from_a_server_an_hour_off_neither_stalls_nor_storms() {
    // The local wall clock is the system's; the server's Date is fixed and then an hour
    // ahead or behind. Epoch resets are read against the server's Date, so all three runs
    // take the same time, a few seconds for 30 requests at 5 per second.
    let base = skewed_run(0).await;
    let ahead = skewed_run(3_600_000).await;
    let behind = skewed_run(-3_600_000).await;
    for (name, took) in [("base", base), ("ahead", ahead), ("behind", behind)] {
        assert!(
            took >= Duration::from_secs(5) && took <= Duration::from_secs(20),
            "{name}: {took:?}"
        );
    }
    let spread = ahead.max(behind).max(base) - ahead.min(behind).min(base);
    assert!(
        spread <= Duration::from_secs(1),
        "{base:?} {ahead:?} {behind:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_absurd_retry_after_is_a_typed_error_not_a_hang() {
    let server = serve(Route::unlimited().faults(Faults::new().outage(
        Duration::ZERO,
        Duration::from_secs(3600),
        99_999_999_999,
    )))
    .await;
    let client = builder().max_wait(Duration::from_secs(60)).build().unwrap();
    let start = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(10), client.get(server.url_for("/x")))
        .await
        .expect("hung on Retry-After: 99999999999");
    let failure = out.unwrap_err();
    assert!(
        matches!(failure.error, ClientError::WaitTooLong { wait, server: true } if wait > Duration::from_secs(60)),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.attempts, 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
    // The origin stays paused: the next call fails at once without a request.
    let failure = client.get(server.url_for("/y")).await.unwrap_err();
    assert!(matches!(failure.error, ClientError::WaitTooLong { .. }));
    assert_eq!(failure.attempts, 0);
    assert_eq!(server.stats().total.requests, 1);
}

#[tokio::test(start_paused = true)]
async fn a_thousand_cancelled_waiters_release_their_places() {
    // 1,000 turns at 1/s: max_wait (counted from queueing) must reach past the last one.
    let limiter = headway_tokio::Limiter::<&str>::builder(TokioRuntime::with_timer(Timer::Tokio))
        .quota(Quota::per_second(1).unwrap())
        .max_wait(Duration::from_secs(2_000))
        .build()
        .unwrap();
    let start = Instant::now();
    drop(limiter.acquire(&"k").await.unwrap());
    // 1,000 tasks queue up, then are aborted.
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let l = limiter.clone();
            tokio::spawn(async move { drop(l.acquire(&"k").await) })
        })
        .collect();
    while limiter.snapshot(&"k").queued < 1000 {
        tokio::task::yield_now().await;
    }
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        assert!(t.await.unwrap_err().is_cancelled());
    }
    assert_eq!(limiter.snapshot(&"k").queued, 0);
    // 1,000 more give up through a timeout shorter than their wait.
    let timeouts =
        (0..1000).map(|_| tokio::time::timeout(Duration::from_millis(100), limiter.acquire(&"k")));
    let results = futures_util::future::join_all(timeouts).await;
    assert!(results.iter().all(Result::is_err));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    // And 1,000 polled once and dropped.
    for _ in 0..1000 {
        assert!(limiter.acquire(&"k").now_or_never().is_none());
    }
    assert_eq!(limiter.snapshot(&"k").queued, 0);
    // The next acquire gets the slot at 1 s, as if none of them had existed.
    drop(limiter.acquire(&"k").await.unwrap());
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t = Instant::now();
    drop(limiter.acquire(&"k").await.unwrap());
    assert_eq!(t.elapsed(), Duration::ZERO);
}

fn flaky() -> Route {
    // Every 7th connection is dropped without an answer; 3 of every 13 requests get 502.
    Route::unlimited().faults(Faults::new().reset_every(7).fail_every(10, 3, 502))
}

/// The path outcome `i` answers: the response's, or the failed request's for a transport
/// error.
fn path_of(outcome: &Outcome) -> Option<String> {
    match outcome {
        Ok(sent) => Some(sent.response.url().path().to_string()),
        Err(f) => match &f.error {
            ClientError::Transport(e) => e.url().map(|u| u.path().to_string()),
            _ => None,
        },
    }
}

#[tokio::test(start_paused = true)]
async fn resets_and_5xx_bursts_still_give_one_ordered_result_per_request() {
    let server = serve(flaky()).await;
    let client = builder()
        .concurrency(8)
        .breaker(None)
        .retries(10)
        .build()
        .unwrap();
    let outs = send_all(&client, &server, 200, 8).await;
    assert_eq!(outs.len(), 200);
    let mut ok = 0;
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(
            path_of(o).as_deref(),
            Some(format!("/items/{i}").as_str()),
            "outcome {i} is out of order: {o:?}"
        );
        match o {
            Ok(sent) => {
                assert_eq!(sent.response.status(), 200);
                ok += 1;
            }
            // A request whose every attempt met a fault: possible, but it must have used
            // all its retries.
            Err(f) => assert_eq!(f.attempts, 11, "{f:?}"),
        }
    }
    let stats = server.stats();
    assert_eq!(stats.total.admitted, ok);
    assert!(ok >= 195, "only {ok} of 200 got through");
    assert!(stats.total.resets > 0 && stats.total.faulted > stats.total.resets);
}

#[tokio::test(start_paused = true)]
async fn without_retries_each_fault_is_its_own_result() {
    let server = serve(flaky()).await;
    let client = builder().concurrency(8).retries(0).build().unwrap();
    let outs = send_all(&client, &server, 200, 8).await;
    assert_eq!(outs.len(), 200);
    let (mut ok, mut bad_gateway, mut errors, mut open) = (0, 0, 0, 0);
    for (i, o) in outs.iter().enumerate() {
        if !matches!(o, Err(f) if matches!(f.error, ClientError::CircuitOpen { .. })) {
            assert_eq!(path_of(o), Some(format!("/items/{i}")), "{o:?}");
        }
        match (status_of(i, o), o) {
            (Some(200), _) => ok += 1,
            (Some(502), _) => bad_gateway += 1,
            (None, Err(f)) if matches!(f.error, ClientError::Transport(_)) => errors += 1,
            (None, Err(f)) if matches!(f.error, ClientError::CircuitOpen { .. }) => open += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let stats = server.stats();
    assert_eq!(ok, stats.total.admitted);
    assert_eq!(errors, stats.total.resets);
    assert_eq!(bad_gateway, stats.total.faulted - stats.total.resets);
    assert_eq!(ok + bad_gateway + errors + open, 200);
    assert_eq!(stats.total.requests, 200 - open);
}

/// A server that advertises its state in whole-second headers (`RateLimit: "default";r=0;t=1`
/// after every admission at 100/s with burst 1, the `t` being 10 ms rounded up) must not make
/// a client with a known quota pause a second after each response: the quota spaces requests,
/// and only a 429 pauses the key.
#[tokio::test(start_paused = true)]
async fn coarse_reset_headers_do_not_slow_a_configured_quota() {
    let server = serve(strict_100_per_second().headers(HeaderStyle::Ietf08)).await;
    let client = builder().quota("100/s").concurrency(10).build().unwrap();
    let start = Instant::now();
    let outs = send_all(&client, &server, 50, 10).await;
    assert!(all_200(&outs));
    assert_eq!(server.stats().total.rejected, 0);
    assert!(
        start.elapsed() <= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

/// A request that can never be sent (a scheme reqwest does not speak) fails after one
/// attempt: sending again cannot fix it, so it is not retried as if transient.
#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_not_retried() {
    let client = headway_tokio::Client::builder()
        .quota("10/s")
        .build()
        .unwrap();
    let request = client
        .reqwest()
        .get("ftp://127.0.0.1:1/never")
        .build()
        .unwrap();
    let failure = client.execute(request).await.unwrap_err();
    assert_eq!(failure.attempts, 1, "{failure}");
    assert_eq!(client.stats().retries, 0);
}
