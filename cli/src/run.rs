//! Fetching many URLs through one [`Client`]: one [`Record`] per URL, in input order when
//! asked, with bounded memory.
//!
//! Built on [`headway_engine::run_stream`], the function behind
//! [`Client::execute_all`](headway_tokio::Client::execute_all), rather than on `execute_all`
//! itself, for three reasons: a line that is not a URL must still yield its own record in its
//! place; each response body is read inside its own task as soon as its headers arrive (so the
//! connection goes back to the pool at once instead of waiting for its turn in the output
//! order); and each URL runs as a tokio task, so both cores work and a waiter's timer is never
//! held up by another URL's body.

use std::error::Error;
use std::time::Duration;

use futures_util::Stream;
use headway_tokio::{BatchOptions, Client, ClientError};
use serde::{Deserialize, Serialize};

/// What happened to one URL: the line `headway fetch` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The URL as read (trimmed).
    pub url: String,
    /// The final status, or `None` when no response came back.
    pub status: Option<u16>,
    /// Attempts put on the wire.
    pub attempts: u32,
    /// Milliseconds spent waiting for the rate, server pauses and backoff.
    pub waited_ms: u64,
    /// Why there is no (complete) response, if so.
    pub error: Option<String>,
}

impl Record {
    /// A record with no response: `error` says why.
    pub fn failed(url: String, attempts: u32, waited: Duration, error: String) -> Record {
        Record {
            url,
            status: None,
            attempts,
            waited_ms: millis(waited),
            error: Some(error),
        }
    }

    /// True when the server really answered: a complete response whose status is not a
    /// 429 or a 5xx (those only say that retries ran out). `--resume` skips these URLs.
    pub fn is_answer(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| s != 429 && s < 500)
    }

    /// True for a complete response with a 2xx status.
    pub fn is_success(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// `d` in milliseconds, to the nearest.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().saturating_add(500_000) / 1_000_000).unwrap_or(u64::MAX)
}

/// An error with its chain of causes, `outer: inner: innermost`.
fn describe(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Reads and discards a body chunk by chunk, so that memory stays small whatever its size and
/// the connection can be reused. `Ok(bytes read)`.
async fn drain(mut response: reqwest::Response) -> Result<u64, reqwest::Error> {
    let mut total = 0u64;
    while let Some(chunk) = response.chunk().await? {
        total = total.saturating_add(chunk.len() as u64);
    }
    Ok(total)
}

/// Fetches one URL under the client's limits and reads its body, within `body_timeout` if any.
pub async fn fetch_one(client: &Client, url: String, body_timeout: Option<Duration>) -> Record {
    let parsed = match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        Ok(u) => {
            let scheme = u.scheme().to_string();
            return Record::failed(
                url,
                0,
                Duration::ZERO,
                format!("invalid URL: scheme {scheme:?} is not http or https"),
            );
        }
        Err(e) => return Record::failed(url, 0, Duration::ZERO, format!("invalid URL: {e}")),
    };
    let request = match client.reqwest().get(parsed).build() {
        Ok(r) => r,
        Err(e) => {
            return Record::failed(
                url,
                0,
                Duration::ZERO,
                format!("invalid URL: {}", describe(&e)),
            )
        }
    };
    match client.execute(request).await {
        Ok(sent) => {
            let status = sent.response.status().as_u16();
            let reading = drain(sent.response);
            let read = match body_timeout {
                Some(limit) => match tokio::time::timeout(limit, reading).await {
                    Ok(r) => r.map_err(|e| describe(&e)),
                    Err(_) => Err(format!("no complete body within {} ms", limit.as_millis())),
                },
                None => reading.await.map_err(|e| describe(&e)),
            };
            Record {
                url,
                status: Some(status),
                attempts: sent.attempts,
                waited_ms: millis(sent.waited),
                error: read.err().map(|e| format!("reading body: {e}")),
            }
        }
        Err(failure) => {
            let error = match &failure.error {
                ClientError::Transport(e) => format!("transport error: {}", describe(e)),
                other => other.to_string(),
            };
            Record::failed(url, failure.attempts, failure.waited, error)
        }
    }
}

/// Fetches every URL of `urls` with at most `window` in progress, one [`Record`] each, in
/// input order when `ordered`. An `Err(record)` item (a line already known to be unusable) is
/// passed through in its place. URLs are pulled lazily, so memory is bounded by `window`.
/// (A client with no quota sends its first request to a host alone and learns the quota from
/// the answer before the others go: the engine does that, per host.)
pub fn fetch_all<S>(
    client: &Client,
    urls: S,
    options: BatchOptions,
    body_timeout: Option<Duration>,
) -> impl Stream<Item = Record>
where
    S: Stream<Item = Result<String, Record>>,
{
    let client = client.clone();
    headway_engine::run_stream(urls, options, move |item: Result<String, Record>| {
        let client = client.clone();
        async move {
            let url = match item {
                Ok(url) => url,
                Err(record) => return record,
            };
            let url_copy = url.clone();
            let task = tokio::spawn(async move { fetch_one(&client, url, body_timeout).await });
            match task.await {
                Ok(record) => record,
                Err(e) => {
                    Record::failed(url_copy, 0, Duration::ZERO, format!("internal error: {e}"))
                }
            }
        }
    })
}
