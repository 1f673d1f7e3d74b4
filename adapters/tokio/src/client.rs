//! [`Client`]: a `reqwest::Client` that goes exactly as fast as each server allows.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use headway_core::backoff::Backoff;
use headway_core::{Quota, QuotaError};
use headway_engine::{
    BatchOptions, BreakerPolicy, BudgetPolicy, ClientConfig, ConfigError, Failure, Limiter,
    MarginPolicy, Sent, SharedRate, Stats,
};
use reqwest::{IntoUrl, Method, Request, Response};

use crate::runtime::{Timer, TokioRuntime};
use crate::transport::{unwrapped, KeyBy, ReqwestRequest, ReqwestTransport};

/// What a call returns: the final response with attempts and time waited, or a failure.
pub type Outcome = Result<Sent<Response>, Failure<reqwest::Error>>;

/// A configuration rejected by [`ClientBuilder::build`].
#[derive(Debug)]
pub enum BuildError {
    /// A quota string did not parse or a quota was invalid.
    Quota(String, QuotaError),
    /// The engine rejected the configuration.
    Config(ConfigError),
    /// The reqwest client could not be built (its TLS backend failed to start, say).
    Reqwest(reqwest::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Quota(s, e) => write!(f, "invalid quota {s:?}: {e}"),
            BuildError::Config(e) => e.fmt(f),
            BuildError::Reqwest(e) => write!(f, "HTTP client: {e}"),
        }
    }
}

/// Each variant's message already holds its inner error's, so the chain goes on below it:
/// a reqwest error's own cause. Headway's configuration errors have none.
impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Reqwest(e) => e.source(),
            BuildError::Quota(..) | BuildError::Config(_) => None,
        }
    }
}

/// Builds a [`Client`] (or, with [`ClientBuilder::build_middleware`], a
/// [`HeadwayMiddleware`](crate::HeadwayMiddleware)). Every setting has a default; see
/// [`ClientConfig`].
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// let client = headway_tokio::Client::builder()
///     .quota("100/min")          // or none: learn it from the server's headers
///     .concurrency(10)
///     .max_wait(Duration::from_secs(600))
///     .build()?;
/// let sent = client.get("https://api.example.com/items/1").await?;
/// println!("{} after {} attempts", sent.response.status(), sent.attempts);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct ClientBuilder {
    config: ClientConfig,
    key_by: KeyBy,
    timer: Timer,
    reqwest: Option<reqwest::Client>,
    shared: Option<Arc<dyn SharedRate>>,
    error: Option<BuildError>,
}

impl ClientBuilder {
    /// Adds a quota per key, parsed from a string like `"100/min"` or `"10/s burst 5"`.
    /// Several calls make tiers, all enforced at once.
    pub fn quota(mut self, quota: &str) -> Self {
        match quota.parse::<Quota>() {
            Ok(q) => self.config.quotas.push(q),
            Err(e) => self.error = Some(BuildError::Quota(quota.to_string(), e)),
        }
        self
    }

    /// Adds a quota per key.
    pub fn quota_value(mut self, quota: Quota) -> Self {
        self.config.quotas.push(quota);
        self
    }

    /// Sets the quotas of one key (an origin like `https://api.example.com`).
    pub fn key_quotas(mut self, key: &str, quotas: Vec<Quota>) -> Self {
        self.config.key_quotas.push((key.to_string(), quotas));
        self
    }

    /// How requests are grouped into keys (default: per origin).
    pub fn key_by(mut self, key_by: KeyBy) -> Self {
        self.key_by = key_by;
        self
    }

    /// Caps requests in flight across all keys.
    pub fn concurrency(mut self, cap: usize) -> Self {
        self.config.concurrency = Some(cap);
        self
    }

    /// Caps requests in flight per key.
    pub fn per_key_concurrency(mut self, cap: u32) -> Self {
        self.config.per_key_concurrency = Some(cap);
        self
    }

    /// The most retries per call (default 5).
    pub fn retries(mut self, retries: u32) -> Self {
        self.config.backoff = self.config.backoff.with_max_attempts(retries);
        self
    }

    /// The backoff used when the server gives no wait.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// The longest any wait may be; a server asking for more fails the call with
    /// `ClientError::WaitTooLong` (default 10 minutes).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = max_wait;
        self
    }

    /// Per-attempt timeout (default 30 s; `None` for none).
    ///
    /// It covers one attempt from the moment it is handed to reqwest (after its turn came:
    /// waits for rate, pauses and backoff are not counted) until the response headers have
    /// arrived: connecting, the TLS handshake, writing the request, and the server's time
    /// to answer. A server that accepts a connection and never answers fails the attempt
    /// with `ClientError::Timeout`, and the attempt is retried like a failed send. The
    /// response **body is not covered**: it is read by the caller after the call returned
    /// (`response.bytes()`, `.text()`, `.chunk()`), so a server that sends its headers and
    /// then trickles or stalls its body is bounded only by the reqwest client's own
    /// timeouts: [`reqwest::ClientBuilder::timeout`] (the whole exchange, body included) or
    /// [`reqwest::ClientBuilder::read_timeout`] (each read), set on the client passed to
    /// [`ClientBuilder::reqwest_client`]. `tests/stalled.rs` shows both.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The retry budget shared by every call, or `None` for none.
    /// Default: [`BudgetPolicy::default`].
    pub fn retry_budget(mut self, budget: Option<BudgetPolicy>) -> Self {
        self.config.budget = budget;
        self
    }

    /// The circuit breaker of each key, or `None` for none.
    /// Default: [`BreakerPolicy::default`].
    pub fn breaker(mut self, breaker: Option<BreakerPolicy>) -> Self {
        self.config.breaker = breaker;
        self
    }

    /// Also retry 5xx and connection errors for non-idempotent methods.
    pub fn retry_non_idempotent(mut self, yes: bool) -> Self {
        self.config.retry_non_idempotent = yes;
        self
    }

    /// Learn quotas and pacing from response headers (default on).
    pub fn learn(mut self, yes: bool) -> Self {
        self.config.learn = yes;
        self
    }

    /// The most jitter added to a server-requested pause (default 25 ms; 0 for none).
    pub fn pause_jitter(mut self, max: Duration) -> Self {
        self.config.pause_jitter_max = max;
        self
    }

    /// The adaptive safety margin added to each key's spacing for the jitter between send
    /// and arrival, or `None` to admit exactly on the quotas (default
    /// [`MarginPolicy::default`]: 150 us to begin with, doubled by an on-schedule 429).
    pub fn margin(mut self, margin: Option<MarginPolicy>) -> Self {
        self.config.margin = margin;
        self
    }

    /// Which timer wakes waiters (default [`Timer::Precise`]; see [`Timer`]).
    pub fn timer(mut self, timer: Timer) -> Self {
        self.timer = timer;
        self
    }

    /// Sends through this `reqwest::Client` instead of a default one.
    pub fn reqwest_client(mut self, client: reqwest::Client) -> Self {
        self.reqwest = Some(client);
        self
    }

    /// Keeps the configured quotas in `store`, shared with every process that uses the same
    /// store (for example `headway-redis`): each attempt reserves its turn there, and a
    /// pause a server asks for applies to every process on the key. See
    /// [`headway_engine::Client::with_shared`].
    pub fn shared(mut self, store: Arc<dyn SharedRate>) -> Self {
        self.shared = Some(store);
        self
    }

    /// Checks everything and builds the client. Call inside a tokio runtime.
    pub fn build(self) -> Result<Client, BuildError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let reqwest = match self.reqwest {
            Some(c) => c,
            None => reqwest::Client::builder()
                .build()
                .map_err(BuildError::Reqwest)?,
        };
        let runtime = TokioRuntime::with_timer(self.timer);
        let engine = match self.shared {
            Some(store) => headway_engine::Client::with_shared(runtime, self.config, store),
            None => headway_engine::Client::new(runtime, self.config),
        }
        .map_err(BuildError::Config)?;
        Ok(Client {
            engine,
            transport: ReqwestTransport::new(reqwest.clone(), self.key_by),
            reqwest,
        })
    }

    /// Checks everything and builds a `reqwest-middleware` layer with these settings, for a
    /// middleware stack of your own (no [`Client`] needed; [`ClientBuilder::reqwest_client`]
    /// is not used: the stack's own client sends). Call inside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(headway_tokio::HeadwayMiddleware::builder().quota("10/s").build_middleware().unwrap())
    ///     .build();
    /// # let _ = client;
    /// # }
    /// ```
    pub fn build_middleware(self) -> Result<crate::HeadwayMiddleware, BuildError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let engine = headway_engine::Client::new(TokioRuntime::with_timer(self.timer), self.config)
            .map_err(BuildError::Config)?;
        Ok(crate::HeadwayMiddleware::from_engine(engine, self.key_by))
    }
}

/// A throttled HTTP client: per-key quotas (configured or learned), FIFO waiting, retries
/// with backoff inside a retry budget, `Retry-After` applied to the whole key, a circuit
/// breaker per key. Cloning is cheap and shares all state.
#[derive(Debug, Clone)]
pub struct Client {
    engine: headway_engine::Client<TokioRuntime>,
    transport: ReqwestTransport,
    reqwest: reqwest::Client,
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Sends `request` under the limits, retrying as configured.
    pub async fn execute(&self, request: Request) -> Outcome {
        self.engine
            .execute(&self.transport, ReqwestRequest(request))
            .await
            .map(unwrapped)
    }

    /// A throttled `GET`. An invalid URL is a builder error from reqwest, returned as a
    /// transport failure with zero attempts.
    pub async fn get<U: IntoUrl>(&self, url: U) -> Outcome {
        match self.reqwest.request(Method::GET, url).build() {
            Ok(request) => self.execute(request).await,
            Err(e) => Err(Failure {
                error: headway_engine::ClientError::Transport(e),
                attempts: 0,
                waited: Duration::ZERO,
            }),
        }
    }

    /// Runs every request with at most `options.concurrency` in flight, one outcome per
    /// request, in `options.order` (input order by default). Requests are pulled lazily from
    /// the iterator.
    ///
    /// ```no_run
    /// # async fn run(client: headway_tokio::Client, requests: Vec<reqwest::Request>) {
    /// use futures_util::StreamExt;
    /// use headway_tokio::{BatchOptions, Order};
    /// let options = BatchOptions::new(10).order(Order::Completion);
    /// let mut outcomes = client.execute_all(requests, options);
    /// while let Some(outcome) = outcomes.next().await { let _ = outcome; }
    /// # }
    /// ```
    ///
    /// Each call runs as its own tokio task, on the runtime's workers beside the connections
    /// it sends on, whichever task polls the stream (with `#[tokio::main]`, the main thread
    /// is not a worker, and every send from it would wait for a worker to wake: a delay that
    /// varies, and that a strict server sees as requests arriving early). Dropping the
    /// stream aborts the calls still running.
    pub fn execute_all<I>(
        &self,
        requests: I,
        options: BatchOptions,
    ) -> impl Stream<Item = Outcome> + Send + 'static
    where
        I: IntoIterator<Item = Request> + 'static,
        I::IntoIter: Send + 'static,
    {
        let client = self.clone();
        headway_engine::run_all(requests, options, move |request| {
            let client = client.clone();
            let task = AbortOnDrop(tokio::spawn(async move { client.execute(request).await }));
            async move {
                let mut task = task;
                match (&mut task.0).await {
                    Ok(outcome) => outcome,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => unreachable!("a call's task is aborted only with its stream: {e}"),
                }
            }
        })
    }

    /// The reqwest client underneath, to build requests with.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.reqwest
    }

    /// The keyed limiter underneath (per-key quotas at runtime, direct acquisition).
    pub fn limiter(&self) -> &Limiter<String, TokioRuntime> {
        self.engine.limiter()
    }

    /// What the client has done so far, and the state of every key.
    pub fn stats(&self) -> Stats {
        self.engine.stats()
    }

    /// How requests are grouped into keys.
    pub fn key_by(&self) -> KeyBy {
        self.transport.key_by()
    }

    /// The shared engine client, to build a middleware from.
    pub fn engine(&self) -> &headway_engine::Client<TokioRuntime> {
        &self.engine
    }
}

/// A spawned call, aborted when its handle is dropped (with the stream that awaits it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
