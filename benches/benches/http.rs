//! Pacing real HTTP requests against a strict server: Headway's client against governor's
//! `until_ready()` in front of reqwest, with the same quota and the same concurrency.
//!
//! The server is the mock API on loopback with a GCRA of `rate`/s and burst 1: every request
//! must arrive at least `1/rate` after the previous admitted one, or it is answered 429 with
//! `Retry-After`. The server runs on its own runtime thread, as a real server would run in
//! its own process. For each rate both clients fetch the same number of items with 10
//! requests in flight at most, and the table reports:
//!
//! - elapsed / ideal, where ideal = requests / rate (the time the server needs to admit them
//!   all back to back at its rate, counting one interval for the last response);
//! - server span / ideal span: the time from the first to the last admission on the server,
//!   against `(requests - 1) / rate`. This leaves out the first connection and the last
//!   response, so it shows the pacing itself;
//! - the 429s the server sent. Headway retries them (as its users get it); the governor loop
//!   sends each request once, as written in its documentation, so its 429s are lost items.
//!
//! Run: `cargo bench -p headway-benches --bench http`. `HTTP_BENCH_ROUNDS=n` repeats every
//! measurement `n` times (default 1).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use governor::{Quota as GovernorQuota, RateLimiter};
use headway_mock::{Counts, MockConfig, MockHandle, MockServer, Route};

/// Requests in flight at most, for both clients.
const CONCURRENCY: usize = 10;

/// The scenarios: (requests per second, requests).
const SCENARIOS: [(u32, u64); 2] = [(100, 500), (1_000, 2_000)];

/// What one client did in one scenario.
struct Measured {
    client: &'static str,
    rate: u32,
    requests: u64,
    elapsed: Duration,
    ok: u64,
    server: Counts,
}

impl Measured {
    fn ideal(&self) -> f64 {
        self.requests as f64 / f64::from(self.rate)
    }

    fn ideal_span_ms(&self) -> f64 {
        (self.requests - 1) as f64 * 1_000.0 / f64::from(self.rate)
    }

    fn span_ms(&self) -> f64 {
        match (self.server.first_admitted_ms, self.server.last_admitted_ms) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        }
    }
}

/// A server runtime on its own thread, with a fresh mock API per measurement.
struct Server {
    runtime: tokio::runtime::Runtime,
}

impl Server {
    fn new() -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mock-api")
            .enable_all()
            .build()
            .expect("server runtime");
        Server { runtime }
    }

    fn start(&self, rate: u32) -> MockHandle {
        let route = Route::gcra(u64::from(rate), Duration::from_secs(1), 1);
        self.runtime
            .block_on(MockServer::start(MockConfig::new().route("/", route)))
            .expect("mock API starts")
    }
}

fn url(base: &str, i: u64) -> String {
    format!("{base}/items/{i}")
}

/// Headway: the quota set equal to the server's, `CONCURRENCY` in flight.
async fn headway(base: String, rate: u32, requests: u64) -> (Duration, u64) {
    let client = headway_tokio::Client::builder()
        .quota(&format!("{rate}/s"))
        .concurrency(CONCURRENCY)
        .build()
        .expect("headway client");
    let started = Instant::now();
    let ok = stream::iter(0..requests)
        .map(|i| {
            let client = client.clone();
            let url = url(&base, i);
            async move {
                match client.get(url).await {
                    Ok(sent) => {
                        let status = sent.response.status().as_u16();
                        sent.response.bytes().await.is_ok() && status == 200
                    }
                    Err(_) => false,
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    (started.elapsed(), ok as u64)
}

/// governor 0.10: `until_ready().await` then `send().await`, the same quota (burst 1).
async fn governor(base: String, rate: u32, requests: u64) -> (Duration, u64) {
    let per_second = NonZeroU32::new(rate).expect("rate > 0");
    let quota = GovernorQuota::per_second(per_second).allow_burst(NonZeroU32::MIN);
    let limiter = Arc::new(RateLimiter::direct(quota));
    let client = reqwest::Client::new();
    let started = Instant::now();
    let ok = stream::iter(0..requests)
        .map(|i| {
            let limiter = Arc::clone(&limiter);
            let client = client.clone();
            let url = url(&base, i);
            async move {
                limiter.until_ready().await;
                match client.get(url).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        response.bytes().await.is_ok() && status == 200
                    }
                    Err(_) => false,
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    (started.elapsed(), ok as u64)
}

/// The clients compared.
#[derive(Clone, Copy)]
enum Which {
    Headway,
    Governor,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Headway => "headway",
            Which::Governor => "governor + reqwest",
        }
    }
}

fn measure(server: &Server, which: Which, rate: u32, requests: u64) -> Measured {
    let api = server.start(rate);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    // Restart the server's epoch so that its times count from the client's start.
    api.reset();
    let (elapsed, ok) = runtime.block_on(async {
        match which {
            Which::Headway => headway(api.url(), rate, requests).await,
            Which::Governor => governor(api.url(), rate, requests).await,
        }
    });
    let counts = api.stats().total;
    drop(api);
    Measured {
        client: which.name(),
        rate,
        requests,
        elapsed,
        ok,
        server: counts,
    }
}

/// Gaps between consecutive releases of a limiter alone (no HTTP), in nanoseconds.
fn gaps(times: &[Instant]) -> Vec<u64> {
    times
        .windows(2)
        .map(|w| u64::try_from((w[1] - w[0]).as_nanos()).unwrap_or(u64::MAX))
        .collect()
}

/// One limiter alone: `requests` acquisitions in a row from one task, each released at once.
async fn limiter_alone(which: &str, rate: u32, requests: u64) -> Vec<Instant> {
    let mut times = Vec::with_capacity(requests as usize);
    if which == "headway" {
        let limiter: headway_tokio::Limiter<&str> = headway_tokio::limiter()
            .quota(headway_tokio::Quota::per_second(rate).expect("rate > 0"))
            .build()
            .expect("limiter");
        for _ in 0..requests {
            let permit = limiter.acquire(&"key").await.expect("permit");
            times.push(Instant::now());
            drop(permit);
        }
    } else {
        let per_second = NonZeroU32::new(rate).expect("rate > 0");
        let quota = GovernorQuota::per_second(per_second).allow_burst(NonZeroU32::MIN);
        let limiter = RateLimiter::direct(quota);
        for _ in 0..requests {
            limiter.until_ready().await;
            times.push(Instant::now());
        }
    }
    times
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

/// The pacing of each limiter alone, without HTTP: how much later than `1/rate` each release
/// comes after the previous one.
fn pacing_table() {
    println!("\nLimiters alone (no HTTP): gap between consecutive releases minus 1/rate\n");
    println!("| rate | client | mean gap / (1/rate) | lateness p50 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (rate, requests) in SCENARIOS {
        let interval = 1_000_000_000 / u64::from(rate);
        for which in ["headway", "governor"] {
            let times = runtime.block_on(limiter_alone(which, rate, requests.min(1_000)));
            let mut late: Vec<u64> = gaps(&times)
                .iter()
                .map(|g| g.saturating_sub(interval))
                .collect();
            let total = (times[times.len() - 1] - times[0]).as_nanos() as f64;
            let mean = total / (times.len() - 1) as f64 / interval as f64;
            late.sort_unstable();
            println!(
                "| {rate}/s | {which} | {mean:.4} | {:.1} µs | {:.1} µs | {:.1} µs |",
                percentile(&late, 0.5) as f64 / 1e3,
                percentile(&late, 0.99) as f64 / 1e3,
                late.last().copied().unwrap_or(0) as f64 / 1e3,
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a plain main has no options of its own to read.
    let rounds: usize = std::env::var("HTTP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let server = Server::new();
    let mut rows = Vec::new();
    for (rate, requests) in SCENARIOS {
        for _ in 0..rounds {
            rows.push(measure(&server, Which::Headway, rate, requests));
            rows.push(measure(&server, Which::Governor, rate, requests));
        }
    }
    println!(
        "\nStrict server (GCRA, burst 1) on loopback, quota = server's, {CONCURRENCY} in flight\n"
    );
    println!(
        "| rate | requests | client | elapsed | ideal | elapsed/ideal | server span/ideal span \
         | first admission | 429s (server) | ok |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for m in &rows {
        println!(
            "| {}/s | {} | {} | {:.3} s | {:.3} s | {:.4} | {:.4} | {:.2} ms | {} | {} |",
            m.rate,
            m.requests,
            m.client,
            m.elapsed.as_secs_f64(),
            m.ideal(),
            m.elapsed.as_secs_f64() / m.ideal(),
            m.span_ms() / m.ideal_span_ms(),
            m.server.first_admitted_ms.unwrap_or(f64::NAN),
            m.server.rejected,
            m.ok,
        );
    }
    pacing_table();
}
