//! A chaos soak, short variant: requests over many keys against the real mock API with
//! faults mixed in (5xx bursts, some with `Retry-After`, connection resets, slow answers,
//! a `Date` an hour off, six header dialects and three `Retry-After` styles in turn), and one caller in ten cancelling at a random moment. It checks
//! that every item yields exactly one result (its task ends once, with no panic), that no
//! key's server ever answered 429 for its quota (the client never sent more than the quota
//! allowed), and that nothing is left behind: no waiter queued, no request in flight on any
//! key, no global slot taken. It prints the counts and the peak RSS.
//!
//! The default is 3,000 requests over 100 keys. `SOAK_REQUESTS` and `SOAK_KEYS` set a longer
//! run by hand, e.g. `SOAK_REQUESTS=100000 SOAK_KEYS=10000 cargo test --release -p
//! headway-tokio --test soak -- --nocapture`.
//!
//! Each key is a host name of its own (`k17.test`), resolved to the mock on loopback, and
//! the client keys by host; the mock gives each key a route (`/k17/`) with its own GCRA of
//! 5/s and its own faults. On tokio's paused clock: the server's delays, the limiter's
//! waits and the backoff are virtual time.

use std::time::Duration;

use headway_mock::{Faults, HeaderStyle, MockConfig, MockServer, RetryAfterStyle, Route};
use headway_tokio::{Client, ClientError, KeyBy, Timer};

/// Requests and keys, from the environment or the short default.
fn size() -> (usize, usize) {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(default)
    };
    (var("SOAK_REQUESTS", 3_000), var("SOAK_KEYS", 100))
}

/// The faults of key `k`: a mix that differs from key to key.
fn faults(k: usize) -> Faults {
    match k % 5 {
        0 => Faults::new().fail_every(7, 2, 503),
        1 => Faults::new().reset_every(11),
        2 => Faults::new().delay(Duration::from_millis(300)),
        3 => Faults::new().fail_every_with_retry_after(9, 1, 503, 1),
        _ => Faults::new().fail_every(13, 3, 500),
    }
}

/// The header dialects the keys' servers speak, in turn.
const HEADERS: [HeaderStyle; 6] = [
    HeaderStyle::None,
    HeaderStyle::XRatelimitEpoch,
    HeaderStyle::XRatelimitDelta,
    HeaderStyle::Ietf06,
    HeaderStyle::Ietf07,
    HeaderStyle::Ietf08,
];

/// How their 429s say when to come back, in turn (an HTTP-date is read against the `Date`
/// an hour off).
const RETRY_AFTER: [RetryAfterStyle; 3] = [
    RetryAfterStyle::Seconds,
    RetryAfterStyle::HttpDate,
    RetryAfterStyle::None,
];

/// SplitMix64, for a reproducible mix of keys and cancellations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What one item came to.
#[derive(Debug)]
enum Ended {
    Answered(u16),
    Failed(String),
    Cancelled,
}

/// Peak resident set size, bytes (0 where /proc is not there).
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(start_paused = true)]
async fn a_chaos_soak_gives_one_result_per_item_and_never_exceeds_a_quota() {
    let (requests, keys) = size();
    let mut config = MockConfig::new().date_skew_ms(3_600_000);
    for k in 0..keys {
        config = config.route(
            format!("/k{k}/"),
            Route::gcra(5, Duration::from_secs(1), 1)
                .faults(faults(k))
                .headers(HEADERS[k % HEADERS.len()])
                .retry_after(RETRY_AFTER[k % RETRY_AFTER.len()]),
        );
    }
    let server = MockServer::start(config).await.expect("the mock starts");
    let addr = server.addr();
    // No idle connection is kept: one per key, and two file descriptors each (the client's
    // and the server's), would pass the open-file limit long before 10,000 keys.
    let mut http = reqwest::Client::builder()
        .pool_idle_timeout(None)
        .pool_max_idle_per_host(0);
    for k in 0..keys {
        http = http.resolve(&format!("k{k}.test"), addr);
    }
    let client = Client::builder()
        .reqwest_client(http.build().expect("reqwest client"))
        .timer(Timer::Tokio)
        .key_by(KeyBy::Host)
        .quota("5/s")
        .concurrency(500)
        .timeout(Some(Duration::from_secs(2)))
        .build()
        .expect("client");

    let mut rng = Rng(14);
    let mut tasks = Vec::with_capacity(requests);
    for i in 0..requests {
        let k = rng.next() as usize % keys;
        let url = format!("http://k{k}.test:{}/k{k}/items/{i}", addr.port());
        // One caller in ten gives up at a random moment within its first 20 s.
        let cancel_after =
            (rng.next() % 10 == 0).then(|| Duration::from_millis(rng.next() % 20_000));
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let call = client.get(url);
            let outcome = match cancel_after {
                Some(after) => match tokio::time::timeout(after, call).await {
                    Ok(outcome) => outcome,
                    Err(_) => return Ended::Cancelled,
                },
                None => call.await,
            };
            match outcome {
                Ok(sent) => Ended::Answered(sent.response.status().as_u16()),
                Err(failure) => Ended::Failed(match failure.error {
                    ClientError::Transport(e) => format!("transport: {e:?}"),
                    other => other.to_string(),
                }),
            }
        }));
    }
    let (mut answered, mut ok, mut failed, mut cancelled) = (0, 0, 0, 0);
    for task in tasks {
        // A panicked task is a JoinError here: the soak fails on it.
        match task.await.expect("no task panics") {
            Ended::Answered(status) => {
                answered += 1;
                ok += usize::from(status == 200);
            }
            Ended::Failed(why) => {
                failed += 1;
                if failed <= 5 {
                    println!("failed: {why}");
                }
            }
            Ended::Cancelled => cancelled += 1,
        }
    }
    assert_eq!(
        answered + failed + cancelled,
        requests,
        "one result per item"
    );

    let stats = server.stats();
    let mut over_quota = 0;
    for k in 0..keys {
        over_quota += stats.route(&format!("/k{k}/")).rejected;
    }
    // Nothing left behind: no slot, no waiter, nothing in flight on any key.
    assert_eq!(client.limiter().in_flight(), Some(0));
    let snapshots = client.limiter().snapshots();
    let queued: usize = snapshots.iter().map(|(_, s)| s.queued).sum();
    let in_flight: u32 = snapshots.iter().map(|(_, s)| s.in_flight).sum();
    println!(
        "soak: {requests} items over {keys} keys: {answered} answered ({ok} with 200), \
         {failed} failed, {cancelled} cancelled; server: {} requests, {} admitted, {} faulted \
         ({} resets), {over_quota} answered 429 for a quota; left behind: {queued} queued, \
         {in_flight} in flight; peak RSS {:.1} MB",
        stats.total.requests,
        stats.total.admitted,
        stats.total.faulted,
        stats.total.resets,
        peak_rss() as f64 / 1e6
    );
    assert_eq!((queued, in_flight), (0, 0));
    assert_eq!(over_quota, 0, "the client never exceeds a key's quota");
    assert!(cancelled > 0 && answered > requests / 2);
}
