//! `headway demo`: the whole story in one command, against an embedded API on loopback.
//!
//! The API allows `--server-rate` requests per second under a GCRA with a burst of 10, as
//! most real APIs tolerate a little bunching (so loopback scheduling jitter on a busy machine
//! is not mistaken for a client going too fast; a client that sends faster than the rate is
//! still rejected within a tenth of a second), and says so in IETF `RateLimit-Policy` /
//! `RateLimit` headers. It also misbehaves the way real APIs do: a one-second outage in the middle of the
//! run answers every request with `429` and `Retry-After: 1`, and a `503` comes back every so
//! often. The client is given no quota (unless `--rate` says otherwise): it learns the rate
//! from the first response, paces every request to it, pauses all requests during the outage,
//! and retries what needs retrying.

use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use headway_mock::{Faults, HeaderStyle, MockConfig, MockHandle, MockServer, Route};
use headway_tokio::{BatchOptions, Client, Order, QuotaSource};
use tokio::sync::oneshot;

use crate::args::DemoArgs;
use crate::run::fetch_all;
use crate::{progress, CliError};

/// How long the injected outage lasts.
const OUTAGE: Duration = Duration::from_secs(1);

/// The `Retry-After` the API sends during the outage, in seconds.
const OUTAGE_RETRY_AFTER_SECS: u64 = 1;

/// Runs `headway demo`.
pub fn main(args: DemoArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run(args))
}

/// The API's burst: how many requests it accepts back to back.
const SERVER_BURST: u64 = 10;

/// The demo's API: GCRA at `rate`/s with burst [`SERVER_BURST`] and IETF -08 headers, an
/// outage of [`OUTAGE`] starting at `outage_at`, and a 503 after every `fail_every` requests.
fn api(rate: u32, outage_at: Duration, fail_every: u64) -> MockConfig {
    let route = Route::gcra(u64::from(rate), Duration::from_secs(1), SERVER_BURST)
        .headers(HeaderStyle::Ietf08)
        .faults(
            Faults::new()
                .outage(outage_at, OUTAGE, OUTAGE_RETRY_AFTER_SECS)
                .fail_every(fail_every, 1, 503),
        );
    MockConfig::new().route("/", route)
}

async fn run(args: DemoArgs) -> Result<(), CliError> {
    let items = u64::from(args.items);
    let rate = args.server_rate;
    let ideal_fetch = Duration::from_secs_f64(items as f64 / f64::from(rate));
    let outage_at = ideal_fetch / 2;
    let fail_every = (items / 4).max(10);
    let api = Api::start(api(rate, outage_at, fail_every))?;
    let server = &api.handle;

    let mut builder = Client::builder()
        .concurrency(args.concurrency as usize)
        .retries(5);
    if let Some(q) = &args.rate {
        builder = builder.quota(q);
    }
    let client = builder
        .build()
        .map_err(|e| CliError::usage(e.to_string()))?;

    println!(
        "Headway demo: {items} items from an API on {} that allows {rate}/s",
        server.url()
    );
    println!(
        "  API:    GCRA (burst {SERVER_BURST}), IETF RateLimit-Policy/RateLimit headers; \
         a {} s outage at {:.1} s (429, Retry-After: {OUTAGE_RETRY_AFTER_SECS}); \
         a 503 after every {fail_every} requests",
        OUTAGE.as_secs(),
        outage_at.as_secs_f64()
    );
    println!(
        "  client: {}, {} in flight at most\n",
        match &args.rate {
            Some(q) => format!("quota {q} configured"),
            None => "no quota configured (learned from the headers)".to_string(),
        },
        args.concurrency
    );

    let base = server.url();
    let urls = stream::iter((1..=items).map(move |i| Ok(format!("{base}/items/{i}"))));
    let bar = progress::bar(Some(items));
    let started = Instant::now();
    let mut records = std::pin::pin!(fetch_all(
        &client,
        urls,
        BatchOptions::new(args.concurrency as usize).order(Order::Completion),
        Some(Duration::from_secs(30)),
    ));
    let (mut ok, mut failed) = (0u64, 0u64);
    while let Some(record) = records.next().await {
        if record.is_success() {
            ok += 1;
        } else {
            failed += 1;
        }
        bar.inc(1);
        if !bar.is_hidden() {
            bar.set_message(format!("429s: {}", client.stats().rate_limited));
        }
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();

    let client_stats = client.stats();
    let server_stats = server.stats().total;
    let key = server.url();
    let quota = client_stats
        .keys
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, s)| {
            let source = match s.source {
                QuotaSource::Learned => "learned from the headers",
                QuotaSource::Configured => "configured",
                QuotaSource::None => return None,
            };
            Some(format!("{} ({source})", s.quotas.first()?))
        })
        .unwrap_or_else(|| "none".to_string());
    let ideal = ideal_fetch + OUTAGE;
    let secs = elapsed.as_secs_f64();
    let achieved = server_stats.admitted as f64 / secs;
    let outside = (secs - OUTAGE.as_secs_f64()).max(f64::EPSILON);
    println!("client quota      {quota}");
    println!("requests sent     {}", client_stats.sent);
    println!(
        "429s              {} seen by the client, {} rejected by the server",
        client_stats.rate_limited, server_stats.rejected
    );
    println!(
        "503s              {} injected by the server",
        server_stats.faulted
    );
    println!("retries           {}", client_stats.retries);
    println!("results           {ok} ok, {failed} failed");
    println!(
        "achieved rate     {achieved:.1}/s against {rate}/s allowed \
         ({:.1}/s outside the outage, {:.1}% of allowed)",
        server_stats.admitted as f64 / outside,
        100.0 * server_stats.admitted as f64 / outside / f64::from(rate)
    );
    println!(
        "elapsed           {secs:.2} s against {:.2} s ideal \
         ({items} / {rate}/s + {} s outage): {:.1}%",
        ideal.as_secs_f64(),
        OUTAGE.as_secs(),
        100.0 * secs / ideal.as_secs_f64()
    );
    api.stop();
    Ok(())
}

/// The demo API on its own thread and single-threaded runtime, as a remote server would run
/// on its own machine: its timing does not depend on how busy the client's runtime is.
struct Api {
    handle: MockHandle,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Api {
    fn start(config: MockConfig) -> Result<Api, CliError> {
        let failed = |e: &dyn std::fmt::Display| {
            CliError::runtime(format!("cannot start the demo API: {e}"))
        };
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("demo-api".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = started_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match MockServer::start(config).await {
                        Ok(handle) => {
                            let _ = started_tx.send(Ok(handle));
                            // Serve until told to stop (or until the sender is dropped).
                            let _ = stopped.await;
                        }
                        Err(e) => {
                            let _ = started_tx.send(Err(e.to_string()));
                        }
                    }
                });
            })
            .map_err(|e| failed(&e))?;
        match started_rx.recv() {
            Ok(Ok(handle)) => Ok(Api {
                handle,
                stop,
                thread,
            }),
            Ok(Err(e)) => Err(failed(&e)),
            Err(e) => Err(failed(&e)),
        }
    }

    fn stop(self) {
        drop(self.handle);
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}
