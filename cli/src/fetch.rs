//! `headway fetch`: URLs in, one JSON line per URL out, in input order.
//!
//! Lines are read on their own thread into a small bounded channel, so neither a slow
//! standard input nor a huge file ever blocks the requests in progress or fills memory: at
//! most the channel plus the window of URLs in progress are held at once.
//!
//! Every record is written whole and flushed before the next, so the output file holds only
//! complete lines whenever the run stops: at the end, on a write error, or on SIGINT, which
//! drops the URLs in progress, prints the summary and exits 130. `--resume` reads such a file
//! back: the URLs answered there are skipped, the rest are fetched and appended.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use headway_tokio::{BatchOptions, BreakerPolicy, BudgetPolicy, Client, QuotaSource};
use tokio::sync::mpsc;

use crate::args::{quota_string, FetchArgs};
use crate::run::{fetch_all, Record};
use crate::{progress, CliError};

/// The longest line read as a URL; longer lines are reported as errors and skipped.
const MAX_LINE: usize = 64 * 1024;

/// URLs read ahead of the requests in progress.
const READ_AHEAD: usize = 256;

/// One input line worth a record.
enum Line {
    /// A URL to fetch (it may still turn out to be invalid).
    Url(String),
    /// A line longer than [`MAX_LINE`], with its first characters.
    TooLong(String),
}

/// Runs `headway fetch`.
pub fn main(args: FetchArgs) -> Result<(), CliError> {
    let quota = args
        .rate
        .as_deref()
        .map(|rate| quota_string(rate, args.burst))
        .transpose()
        .map_err(CliError::usage)?;
    let input: Box<dyn BufRead + Send> = match &args.input {
        Some(path) => Box::new(BufReader::new(open_input(path)?)),
        None => Box::new(BufReader::new(io::stdin())),
    };
    let mut answered = Answered::default();
    let output: Box<dyn Write + Send> = match &args.output {
        Some(path) if args.resume => {
            answered = resume(path)?;
            Box::new(open_output(path, true)?)
        }
        Some(path) => Box::new(open_output(path, false)?),
        None => Box::new(io::stdout()),
    };
    // The total is known only for a file, and only worth a second pass for the progress bar.
    let total = match &args.input {
        Some(path) if io::stderr().is_terminal() => {
            count_urls(path).map(|n| n.saturating_sub(answered.kept))
        }
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run(args, quota, input, output, answered, total))
}

/// Opens the output file: truncated, or for appending (after [`resume`] rewrote it). A file
/// that cannot be opened is an output error, exit code 1.
fn open_output(path: &Path, append: bool) -> Result<File, CliError> {
    let mut options = OpenOptions::new();
    if append {
        options.append(true).create(true);
    } else {
        options.write(true).create(true).truncate(true);
    }
    options
        .open(path)
        .map_err(|e| CliError::runtime(format!("cannot write output {}: {e}", path.display())))
}

/// What `--resume` found in the output file.
#[derive(Default)]
struct Answered {
    /// How many answered records each URL has, to skip that many of its input lines.
    urls: HashMap<String, u64>,
    /// The records kept in the file.
    kept: u64,
}

impl Answered {
    /// True (and one fewer left) when `url` has an answered record still unclaimed.
    fn take(&mut self, url: &str) -> bool {
        match self.urls.get_mut(url) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

/// Reads the output file of an earlier run and rewrites it with only its answered records
/// (see [`Record::is_answer`]): error lines, final 429s and 5xx, and a torn last line are
/// dropped, as their URLs are fetched again. A missing file is an empty one. The file is
/// replaced whole (a temporary file beside it, renamed over it), so a failure here leaves it
/// as it was.
fn resume(path: &Path) -> Result<Answered, CliError> {
    let unusable = |e: &dyn std::fmt::Display| {
        CliError::runtime(format!("cannot resume from {}: {e}", path.display()))
    };
    let mut answered = Answered::default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(answered),
        Err(e) => return Err(unusable(&e)),
    };
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".resume-tmp");
    let tmp: PathBuf = path.with_file_name(name);
    let mut out = BufWriter::new(File::create(&tmp).map_err(|e| unusable(&e))?);
    let copy = || -> io::Result<()> {
        for line in BufReader::new(file).split(b'\n') {
            let line = line?;
            let Ok(record) = serde_json::from_slice::<Record>(&line) else {
                continue;
            };
            if record.is_answer() {
                *answered.urls.entry(record.url).or_default() += 1;
                answered.kept += 1;
                out.write_all(&line)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
        out.get_ref().sync_all()
    };
    let copied = copy().and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(unusable(&e));
    }
    Ok(answered)
}

fn open_input(path: &Path) -> Result<File, CliError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        CliError::usage(format!("cannot read input {}: {e}", path.display()))
    };
    let file = File::open(path).map_err(|e| unreadable(&e))?;
    match file.metadata() {
        Ok(m) if m.is_dir() => Err(unreadable(&"is a directory")),
        Ok(_) => Ok(file),
        Err(e) => Err(unreadable(&e)),
    }
}

/// Lines that are URLs (not blank, not comments) in the file, or `None` if it cannot be read.
fn count_urls(path: &Path) -> Option<u64> {
    let mut reader = BufReader::new(File::open(path).ok()?);
    let mut buf = Vec::new();
    let mut count = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).ok()? == 0 {
            return Some(count);
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim();
        if !line.is_empty() && !line.starts_with('#') {
            count += 1;
        }
    }
}

/// Reads `input` on the calling thread, sending every line worth a record into `tx` (except
/// the URLs already `answered`), until the input ends, a read fails, or the receiver is gone.
fn read_lines(
    mut input: Box<dyn BufRead + Send>,
    mut answered: Answered,
    tx: mpsc::Sender<Line>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let line = if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            // Skip the rest of the line without holding it.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let m = (&mut input)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut rest)?;
                if m == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&buf[..80]);
            Line::TooLong(format!("{}...", text.trim()))
        } else {
            let text = String::from_utf8_lossy(&buf);
            let line = text.trim();
            if line.is_empty() || line.starts_with('#') || answered.take(line) {
                continue;
            }
            Line::Url(line.to_string())
        };
        if tx.blocking_send(line).is_err() {
            return Ok(());
        }
    }
}

/// Tallies for the closing summary.
#[derive(Default)]
struct Tally {
    urls: u64,
    ok: u64,
    other_status: u64,
    errors: u64,
    /// Of `other_status`, the final 429s and 5xx: the server never really answered.
    gave_up: u64,
}

impl Tally {
    fn add(&mut self, record: &Record) {
        self.urls += 1;
        if record.is_success() {
            self.ok += 1;
        } else if let (Some(status), None) = (record.status, &record.error) {
            self.other_status += 1;
            if status == 429 || status >= 500 {
                self.gave_up += 1;
            }
        } else {
            self.errors += 1;
        }
    }
}

async fn run(
    args: FetchArgs,
    quota: Option<String>,
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
    answered: Answered,
    total: Option<u64>,
) -> Result<(), CliError> {
    let mut interrupt = std::pin::pin!(
        interrupt().map_err(|e| CliError::runtime(format!("cannot catch SIGINT: {e}")))?
    );
    let timeout = (!args.timeout.is_zero()).then_some(args.timeout);
    let budget = args.retry_budget.0.map(|percent| BudgetPolicy {
        ratio_permille: percent * 10,
        min_retries_per_sec: args.retry_floor,
        ..BudgetPolicy::default()
    });
    let breaker = (args.breaker > 0).then(|| BreakerPolicy::new(args.breaker, args.breaker_open));
    let mut builder = Client::builder()
        .concurrency(args.concurrency as usize)
        .retries(args.retries)
        .max_wait(args.max_wait)
        .timeout(timeout)
        .retry_budget(budget)
        .breaker(breaker);
    if let Some(q) = &quota {
        builder = builder.quota(q);
    }
    if let Some(url) = &args.redis {
        let store = headway_redis::RedisStore::builder(url)
            .namespace(&args.namespace)
            .on_outage(args.redis_fallback)
            .timeout(args.redis_timeout)
            .connect()
            .await
            .map_err(|e| CliError::runtime(format!("--redis {url}: {e}")))?;
        builder = builder.shared(std::sync::Arc::new(store));
    }
    let client = builder
        .build()
        .map_err(|e| CliError::usage(e.to_string()))?;
    let skipped = answered.kept;

    let (tx, mut rx) = mpsc::channel::<Line>(READ_AHEAD);
    let reader = std::thread::Builder::new()
        .name("headway-input".into())
        .spawn(move || read_lines(input, answered, tx))
        .map_err(|e| CliError::runtime(format!("cannot start the input reader: {e}")))?;
    let lines = stream::poll_fn(move |cx| rx.poll_recv(cx)).map(|line| match line {
        Line::Url(url) => Ok(url),
        Line::TooLong(prefix) => Err(Record::failed(
            prefix,
            0,
            Duration::ZERO,
            format!("line longer than {MAX_LINE} bytes"),
        )),
    });
    let records = fetch_all(
        &client,
        lines,
        BatchOptions::new(args.concurrency as usize),
        timeout,
    );
    let mut records = std::pin::pin!(records);

    let bar = progress::bar(total);
    let started = Instant::now();
    let mut out = BufWriter::new(output);
    let mut tally = Tally::default();
    loop {
        let record = tokio::select! {
            biased;
            () = &mut interrupt => {
                bar.finish_and_clear();
                summary(&client, &tally, skipped, started.elapsed());
                return Err(CliError::interrupted(tally.urls, args.output.is_some()));
            }
            record = records.next() => match record {
                Some(record) => record,
                None => break,
            },
        };
        tally.add(&record);
        let written = serde_json::to_writer(&mut out, &record)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(e) = written {
            bar.finish_and_clear();
            if e.kind() == io::ErrorKind::BrokenPipe {
                // The reader of our output is gone (`| head`): nothing left to do.
                return Ok(());
            }
            return Err(CliError::runtime(format!("cannot write output: {e}")));
        }
        bar.inc(1);
        if !bar.is_hidden() {
            bar.set_message(format!("429s: {}", client.stats().rate_limited));
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    summary(&client, &tally, skipped, elapsed);
    let failed = tally.errors + tally.gave_up;
    match reader.join() {
        Ok(Ok(())) if failed > 0 => Err(CliError::some_failed(failed, tally.urls)),
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CliError::usage(format!(
            "cannot read input (stopped after {} URLs): {e}",
            tally.urls
        ))),
        Err(_) => Err(CliError::runtime("the input reader failed")),
    }
}

/// Resolves at the first SIGINT (Ctrl-C). The handler is in place when this returns, not
/// only once the future is first polled, so a SIGINT from then on always ends with the
/// summary.
fn interrupt() -> io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        Ok(async move {
            sigint.recv().await;
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            // Without a handler Ctrl-C ends the process as it always would.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

fn summary(client: &Client, tally: &Tally, skipped: u64, elapsed: Duration) {
    let stats = client.stats();
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        tally.urls as f64 / secs
    } else {
        0.0
    };
    let mut line = format!(
        "headway: {} URLs in {:.2} s ({:.1}/s): {} 2xx, {} other status, {} errors; \
         {} requests sent, {} answered 429, {} retries",
        tally.urls,
        secs,
        rate,
        tally.ok,
        tally.other_status,
        tally.errors,
        stats.sent,
        stats.rate_limited,
        stats.retries,
    );
    if skipped > 0 {
        line.push_str(&format!(
            "; {skipped} URLs skipped, answered in the output already"
        ));
    }
    if let [(key, snapshot)] = stats.keys.as_slice() {
        if let Some(q) = snapshot.quotas.first() {
            let source = match snapshot.source {
                QuotaSource::Learned => "learned",
                QuotaSource::Configured => "configured",
                QuotaSource::None => "none",
            };
            line.push_str(&format!("; quota {q} ({source}) for {key}"));
        }
    }
    eprintln!("{line}");
}
