//! The Rust clients of the side-by-side comparison, one per run:
//!
//! ```text
//! compare-rust SPEC.json
//! ```
//!
//! `SPEC.json` (written by `benches/compare/harness.py`) says which client to be and what to do:
//!
//! ```json
//! {"peer": "governor", "urls": "/path/urls.txt", "concurrency": 10, "retries": 5,
//!  "tiers": [{"limit": 100, "period_ms": 1000, "burst": 1}]}
//! ```
//!
//! `tiers` empty means the rate is not known to the client (the server publishes it only in
//! its headers). Peers:
//!
//! - `headway`: `headway_tokio::Client` with the tiers as quotas (none: learn from headers),
//!   `concurrency`, `retries`; requests go through `execute_all`.
//! - `governor`: one `RateLimiter::direct` per tier, awaited in order with `until_ready()`
//!   before every attempt; `concurrency` tasks via `buffer_unordered`.
//! - `leaky-bucket`: one `leaky_bucket::RateLimiter` per tier, `acquire_one()` in order.
//! - `plain`: no limiter at all (what a governor or leaky-bucket user has when no rate is known).
//!
//! Every peer but Headway retries a 429 after the `Retry-After` seconds it carries (1 s when
//! absent), up to `retries` times, each retry waiting for the limiter again: the per-request
//! retry loop their documentation leaves to the user. Bodies are always read to the end.
//!
//! Protocol with the harness: the client builds everything, prints `ready`, waits for one line
//! on standard input, runs, and prints one JSON line with its counts and the CPU time of the
//! run itself (user + system, from `getrusage`, excluding start-up).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

/// One quota tier as the harness describes it.
#[derive(Debug, Clone, Copy)]
struct Tier {
    limit: u32,
    period_ms: u64,
    burst: u32,
}

impl Tier {
    /// The emission interval: `period / limit`.
    fn interval(self) -> Duration {
        Duration::from_nanos(self.period_ms * 1_000_000 / u64::from(self.limit))
    }
}

/// What one run is asked to do.
struct Spec {
    peer: String,
    urls: Vec<String>,
    concurrency: usize,
    retries: u32,
    tiers: Vec<Tier>,
}

/// Counts shared by all tasks of a run.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    seen_429: AtomicU64,
    attempts: AtomicU64,
}

impl Tally {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The limiter a peer waits on before each attempt.
enum Gate {
    /// No limiter: only the number of tasks bounds the rate.
    Plain,
    /// governor: one direct (unkeyed) limiter per tier.
    Governor(Vec<governor::DefaultDirectRateLimiter>),
    /// leaky-bucket: one bucket per tier.
    Leaky(Vec<leaky_bucket::RateLimiter>),
}

impl Gate {
    fn new(peer: &str, tiers: &[Tier]) -> Result<Gate, String> {
        match peer {
            "plain" => Ok(Gate::Plain),
            // governor's documented way to a strict spacing is `allow_burst(1)`; a tier with a
            // burst keeps it. `with_period` takes the emission interval (period / limit).
            "governor" => tiers
                .iter()
                .map(|t| {
                    let quota = governor::Quota::with_period(t.interval())
                        .ok_or("zero period")?
                        .allow_burst(NonZeroU32::new(t.burst).ok_or("zero burst")?);
                    Ok(governor::RateLimiter::direct(quota))
                })
                .collect::<Result<_, &str>>()
                .map(Gate::Governor)
                .map_err(str::to_string),
            // leaky-bucket: `max` is the burst, it starts full (`initial` = `max`) and gets one
            // token back every emission interval.
            "leaky-bucket" => Ok(Gate::Leaky(
                tiers
                    .iter()
                    .map(|t| {
                        leaky_bucket::RateLimiter::builder()
                            .max(t.burst as usize)
                            .initial(t.burst as usize)
                            .refill(1)
                            .interval(t.interval())
                            .build()
                    })
                    .collect(),
            )),
            other => Err(format!("unknown peer {other:?}")),
        }
    }

    async fn wait(&self) {
        match self {
            Gate::Plain => {}
            Gate::Governor(limiters) => {
                for l in limiters {
                    l.until_ready().await;
                }
            }
            Gate::Leaky(buckets) => {
                for b in buckets {
                    b.acquire_one().await;
                }
            }
        }
    }
}

/// `Retry-After` as whole seconds, 1 when absent or not a number (the mock sends seconds).
fn retry_after(response: &reqwest::Response) -> Duration {
    let secs = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs)
}

/// One URL for a peer other than Headway: wait for the gate, send, retry a 429 after its
/// `Retry-After`, read the body.
async fn fetch_peer(client: &reqwest::Client, gate: &Gate, url: &str, retries: u32, tally: &Tally) {
    for attempt in 0..=retries {
        gate.wait().await;
        Tally::bump(&tally.attempts);
        let response = match client.get(url).send().await {
            Ok(r) => r,
            Err(_) => {
                Tally::bump(&tally.failed);
                return;
            }
        };
        let status = response.status().as_u16();
        if status == 429 {
            Tally::bump(&tally.seen_429);
            let wait = retry_after(&response);
            let _ = response.bytes().await;
            if attempt == retries {
                break;
            }
            tokio::time::sleep(wait).await;
            continue;
        }
        let body = response.bytes().await;
        if body.is_ok() && (200..300).contains(&status) {
            Tally::bump(&tally.ok);
        } else {
            Tally::bump(&tally.failed);
        }
        return;
    }
    Tally::bump(&tally.failed);
}

/// Reads the body of a Headway outcome and counts it as ok (2xx, complete body) or failed.
async fn count(outcome: headway_tokio::Outcome, ok: &AtomicU64, failed: &AtomicU64) {
    match outcome {
        Ok(sent) => {
            let status = sent.response.status().as_u16();
            let body = sent.response.bytes().await;
            if body.is_ok() && (200..300).contains(&status) {
                Tally::bump(ok);
            } else {
                Tally::bump(failed);
            }
        }
        Err(_) => Tally::bump(failed),
    }
}

/// The whole run with `headway_tokio::Client`.
async fn run_headway(spec: &Spec, tally: &Tally, go: impl std::future::Future<Output = ()>) {
    let mut builder = headway_tokio::Client::builder()
        .concurrency(spec.concurrency)
        .retries(spec.retries);
    for t in &spec.tiers {
        let quota = headway_tokio::Quota::from_nanos(t.limit, t.period_ms * 1_000_000)
            .and_then(|q| q.with_burst(t.burst))
            .expect("valid quota");
        builder = builder.quota_value(quota);
    }
    let client = builder.build().expect("client");
    let requests: Vec<reqwest::Request> = spec
        .urls
        .iter()
        .map(|u| client.reqwest().get(u).build().expect("valid URL"))
        .collect();
    go.await;
    if spec.peer == "headway-tasks" {
        // One tokio task per request, each awaiting `execute` and reading its body; the
        // client's concurrency cap bounds what is in flight.
        let tally_ok = Arc::new(AtomicU64::new(0));
        let tally_failed = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for request in requests {
            let (client, ok, failed) = (client.clone(), tally_ok.clone(), tally_failed.clone());
            tasks.spawn(async move { count(client.execute(request).await, &ok, &failed).await });
        }
        while tasks.join_next().await.is_some() {}
        tally
            .ok
            .store(tally_ok.load(Ordering::Relaxed), Ordering::Relaxed);
        tally
            .failed
            .store(tally_failed.load(Ordering::Relaxed), Ordering::Relaxed);
    } else {
        let mut outcomes = client.execute_all(
            requests,
            headway_tokio::BatchOptions::new(spec.concurrency)
                .order(headway_tokio::Order::Completion),
        );
        while let Some(outcome) = outcomes.next().await {
            count(outcome, &tally.ok, &tally.failed).await;
        }
    }
    let stats = client.stats();
    tally.seen_429.store(stats.rate_limited, Ordering::Relaxed);
    tally.attempts.store(stats.sent, Ordering::Relaxed);
}

/// The whole run for governor, leaky-bucket or plain: `concurrency` URLs in flight at once.
async fn run_peer(spec: &Spec, tally: &Tally, go: impl std::future::Future<Output = ()>) {
    let gate = Gate::new(&spec.peer, &spec.tiers).unwrap_or_else(|e| fail(&e));
    let client = reqwest::Client::builder().build().expect("reqwest client");
    go.await;
    stream::iter(spec.urls.iter())
        .map(|url| fetch_peer(&client, &gate, url, spec.retries, tally))
        .buffer_unordered(spec.concurrency)
        .collect::<Vec<()>>()
        .await;
}

/// User plus system CPU time of this process so far, in milliseconds.
fn cpu_ms() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Prints `ready`, then waits for the harness's go-ahead (one line on standard input).
async fn handshake() {
    println!("ready");
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await
    .expect("stdin reader");
}

fn fail(message: &str) -> ! {
    eprintln!("compare-rust: {message}");
    std::process::exit(2);
}

fn read_spec(path: &str) -> Spec {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let urls_path = v["urls"].as_str().unwrap_or_else(|| fail("spec: no urls"));
    let urls = std::fs::read_to_string(urls_path)
        .unwrap_or_else(|e| fail(&format!("{urls_path}: {e}")))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let tiers = v["tiers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| Tier {
                    limit: t["limit"].as_u64().unwrap_or(1) as u32,
                    period_ms: t["period_ms"].as_u64().unwrap_or(1000),
                    burst: t["burst"].as_u64().unwrap_or(1) as u32,
                })
                .collect()
        })
        .unwrap_or_default();
    Spec {
        peer: v["peer"].as_str().unwrap_or("plain").to_string(),
        urls,
        concurrency: v["concurrency"].as_u64().unwrap_or(10) as usize,
        retries: v["retries"].as_u64().unwrap_or(5) as u32,
        tiers,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| fail("usage: compare-rust SPEC.json"));
    let spec = read_spec(&path);
    let tally = Tally::default();
    let started = std::cell::Cell::new(None::<(Instant, f64)>);
    // Start the clocks only once the harness says go, after everything is built.
    let go = async {
        handshake().await;
        started.set(Some((Instant::now(), cpu_ms())));
    };
    if spec.peer.starts_with("headway") {
        run_headway(&spec, &tally, go).await;
    } else {
        run_peer(&spec, &tally, go).await;
    }
    let (t0, cpu0) = started.get().unwrap_or((Instant::now(), cpu_ms()));
    let report = json!({
        "ok": tally.ok.load(Ordering::Relaxed),
        "failed": tally.failed.load(Ordering::Relaxed),
        "seen_429": tally.seen_429.load(Ordering::Relaxed),
        "attempts": tally.attempts.load(Ordering::Relaxed),
        "wall_ms": t0.elapsed().as_secs_f64() * 1e3,
        "cpu_ms": cpu_ms() - cpu0,
    });
    println!("{report}");
}
