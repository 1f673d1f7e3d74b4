//! The HTTP/1.1 server on loopback: routing, control endpoints, CORS and the connection loop.
//!
//! Each accepted connection is served by hyper on its own task. A request whose route says
//! "reset" makes the connection task drop the socket before any response byte is written, so
//! the client sees a connection error.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::clock::{floor_secs, http_date, DateClock};
use crate::config::{ConfigError, MockConfig, Route};
use crate::faults::FaultAction;
use crate::headers::{rate_limit_headers, retry_after, retry_after_secs, EXPOSED};
use crate::policy::{Limiter, Snapshot, Verdict};
use crate::static_files;
use crate::stats::{Counts, Stats, DEFAULT_ROUTE_KEY};

/// Largest request body read (control bodies included).
const MAX_BODY: usize = 1 << 20;

/// Starts mock servers. See [`MockServer::start`].
#[derive(Debug)]
pub struct MockServer;

/// Where and how to listen; not part of the replaceable [`MockConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// Port on 127.0.0.1; `None` (or 0) picks a free one.
    pub port: Option<u16>,
    /// Directory served under `/static/`; `None` answers 404 there.
    pub static_dir: Option<PathBuf>,
    /// Wall-clock time the `Date` clock starts from (default: the system clock at start).
    /// Fixing it makes `Date`, epoch resets and HTTP-date `Retry-After` exact in tests.
    pub start_time: Option<SystemTime>,
}

impl ServerOptions {
    /// Any free port, no static files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Listens on this port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Serves this directory under `/static/`.
    pub fn static_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_dir = Some(dir.into());
        self
    }

    /// Starts the `Date` clock at this wall-clock time instead of the system clock.
    pub fn start_time(mut self, time: SystemTime) -> Self {
        self.start_time = Some(time);
        self
    }
}

/// Why a server could not start.
#[derive(Debug)]
pub enum MockError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// Binding the listener failed.
    Io(io::Error),
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MockError::Config(e) => write!(f, "{e}"),
            MockError::Io(e) => write!(f, "cannot listen: {e}"),
        }
    }
}

impl std::error::Error for MockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MockError::Config(e) => Some(e),
            MockError::Io(e) => Some(e),
        }
    }
}

impl From<ConfigError> for MockError {
    fn from(e: ConfigError) -> Self {
        MockError::Config(e)
    }
}

impl From<io::Error> for MockError {
    fn from(e: io::Error) -> Self {
        MockError::Io(e)
    }
}

/// A running server. Dropping it (or [`MockHandle::shutdown`]) stops the listener and closes
/// every connection.
#[derive(Debug)]
pub struct MockHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts a server on 127.0.0.1 with a free port, on the current tokio runtime.
    pub async fn start(config: MockConfig) -> Result<MockHandle, MockError> {
        Self::start_with(config, ServerOptions::default()).await
    }

    /// Starts a server with explicit listening options, on the current tokio runtime.
    pub async fn start_with(
        config: MockConfig,
        options: ServerOptions,
    ) -> Result<MockHandle, MockError> {
        config.validate()?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, options.port.unwrap_or(0))).await?;
        let addr = listener.local_addr()?;
        let clock = DateClock::start(options.start_time);
        let shared = Arc::new(Shared {
            clock,
            static_dir: options.static_dir,
            active: Mutex::new(Arc::new(Active::new(config, Instant::now()))),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(MockHandle {
            addr,
            shared,
            task: Some(task),
        })
    }
}

impl MockHandle {
    /// The bound address (127.0.0.1 and the port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` on this server (`path` should start with `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Current counts.
    pub fn stats(&self) -> Stats {
        self.shared.stats(Instant::now())
    }

    /// The configuration in force.
    pub fn config(&self) -> MockConfig {
        self.shared.active().config.clone()
    }

    /// Replaces the whole configuration and resets counts, limiter state and the epoch.
    pub fn set_config(&self, config: MockConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.shared.replace(config);
        Ok(())
    }

    /// Clears counts and limiter state and restarts the epoch (outage windows, stats times).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops the server and waits until its tasks are gone.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// State shared by every connection of one server.
#[derive(Debug)]
struct Shared {
    clock: DateClock,
    static_dir: Option<PathBuf>,
    active: Mutex<Arc<Active>>,
}

/// One configuration with its limiter state and counts, from one epoch on.
#[derive(Debug)]
struct Active {
    config: MockConfig,
    epoch: Instant,
    routes: BTreeMap<String, RouteSlot>,
    default: RouteSlot,
}

/// A route and its lock: admission is decided and recorded under `inner`.
#[derive(Debug)]
struct RouteSlot {
    route: Route,
    inner: Mutex<RouteInner>,
}

#[derive(Debug)]
struct RouteInner {
    limiter: Limiter,
    counts: Counts,
}

/// What one API request gets.
enum Outcome {
    Admitted {
        n: u64,
        snapshot: Snapshot,
    },
    Rejected {
        wait_ns: u64,
        snapshot: Snapshot,
    },
    Outage {
        retry_after_secs: u64,
        snapshot: Snapshot,
    },
    Fail {
        status: u16,
        retry_after_secs: Option<u64>,
        snapshot: Snapshot,
    },
    Reset,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl RouteSlot {
    fn new(route: Route) -> Self {
        RouteSlot {
            inner: Mutex::new(RouteInner {
                limiter: Limiter::new(&route.policy),
                counts: Counts::default(),
            }),
            route,
        }
    }

    fn decide(&self, since_epoch: Duration) -> Outcome {
        let now = nanos(since_epoch);
        let mut inner = lock(&self.inner);
        inner.counts.requests += 1;
        let index = inner.counts.requests;
        match self.route.faults.decide(index, since_epoch) {
            FaultAction::Outage {
                retry_after_secs,
                until,
            } => {
                inner.counts.rejected += 1;
                let snapshot = inner.limiter.snapshot(now).exhausted_for(nanos(until));
                Outcome::Outage {
                    retry_after_secs,
                    snapshot,
                }
            }
            FaultAction::Reset => {
                inner.counts.faulted += 1;
                inner.counts.resets += 1;
                Outcome::Reset
            }
            FaultAction::Fail {
                status,
                retry_after_secs,
            } => {
                inner.counts.faulted += 1;
                Outcome::Fail {
                    status,
                    retry_after_secs,
                    snapshot: inner.limiter.snapshot(now),
                }
            }
            FaultAction::Pass => match inner.limiter.check(now) {
                Verdict::Admitted => {
                    inner.counts.record_admitted(now as f64 / 1e6);
                    Outcome::Admitted {
                        n: inner.counts.admitted,
                        snapshot: inner.limiter.snapshot(now),
                    }
                }
                Verdict::Rejected { wait_ns } => {
                    inner.counts.rejected += 1;
                    Outcome::Rejected {
                        wait_ns,
                        snapshot: inner.limiter.snapshot(now),
                    }
                }
            },
        }
    }
}

impl Active {
    fn new(config: MockConfig, epoch: Instant) -> Self {
        let routes = config
            .routes
            .iter()
            .map(|(prefix, route)| (prefix.clone(), RouteSlot::new(route.clone())))
            .collect();
        let default = RouteSlot::new(config.default_route.clone());
        Active {
            config,
            epoch,
            routes,
            default,
        }
    }

    fn slot(&self, path: &str) -> &RouteSlot {
        self.config
            .route_for(path)
            .and_then(|prefix| self.routes.get(prefix))
            .unwrap_or(&self.default)
    }

    fn stats(&self, now: Instant) -> Stats {
        let mut stats = Stats {
            elapsed_ms: nanos(now.saturating_duration_since(self.epoch)) as f64 / 1e6,
            ..Stats::default()
        };
        let all = self
            .routes
            .iter()
            .map(|(k, s)| (k.as_str(), s))
            .chain(std::iter::once((DEFAULT_ROUTE_KEY, &self.default)));
        for (key, slot) in all {
            let counts = lock(&slot.inner).counts.clone();
            stats.total.absorb(&counts);
            stats.routes.insert(key.to_owned(), counts);
        }
        stats
    }
}

impl Shared {
    fn active(&self) -> Arc<Active> {
        Arc::clone(&lock(&self.active))
    }

    fn replace(&self, config: MockConfig) {
        *lock(&self.active) = Arc::new(Active::new(config, Instant::now()));
    }

    fn reset(&self) {
        let config = self.active().config.clone();
        self.replace(config);
    }

    fn stats(&self, now: Instant) -> Stats {
        self.active().stats(now)
    }

    fn wall_ns(&self, now: Instant, active: &Active) -> u64 {
        self.clock.wall_ns(now, active.config.date_skew_ms)
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owning the connection tasks here means aborting this task aborts them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                // Out of descriptors or similar: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(Notify::new());
    let service = {
        let reset = Arc::clone(&reset);
        service_fn(move |req| {
            let shared = Arc::clone(&shared);
            let reset = Arc::clone(&reset);
            async move { Ok::<_, Infallible>(handle(req, shared, reset).await) }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        // Dropping the connection drops the socket: no response is written.
        _ = reset.notified() => {}
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    reset: Arc<Notify>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if method == Method::OPTIONS && req.headers().contains_key("access-control-request-method") {
        let allow_headers = req
            .headers()
            .get("access-control-request-headers")
            .cloned()
            .unwrap_or(HeaderValue::from_static("*"));
        let active = shared.active();
        let wall = shared.wall_ns(Instant::now(), &active);
        let mut resp = reply(204, "", Bytes::new(), wall);
        let h = resp.headers_mut();
        h.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
        );
        h.insert("access-control-allow-headers", allow_headers);
        h.insert("access-control-max-age", HeaderValue::from_static("600"));
        return resp;
    }
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string());
    if path.starts_with("/__") {
        return control(&method, &path, body, &shared);
    }
    if let Some(rel) = path.strip_prefix("/static") {
        if rel.is_empty() || rel.starts_with('/') {
            let file = static_files::serve(shared.static_dir.as_deref(), rel).await;
            let active = shared.active();
            let wall = shared.wall_ns(Instant::now(), &active);
            return reply(file.status, file.content_type, file.body, wall);
        }
    }
    api(&path, &shared, &reset).await
}

async fn api(path: &str, shared: &Shared, reset: &Notify) -> Response<Full<Bytes>> {
    let active = shared.active();
    let slot = active.slot(path);
    let route = &slot.route;
    if route.faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(route.faults.delay_ms)).await;
    }
    let now = Instant::now();
    let outcome = slot.decide(now.saturating_duration_since(active.epoch));
    let wall = shared.wall_ns(now, &active);
    let (status, body, snapshot, retry) = match outcome {
        Outcome::Reset => {
            reset.notify_one();
            return std::future::pending().await;
        }
        Outcome::Admitted { n, snapshot } => (200, json!({ "path": path, "n": n }), snapshot, None),
        Outcome::Rejected { wait_ns, snapshot } => (
            429,
            json!({ "error": "rate limited", "path": path, "wait_ms": wait_ns as f64 / 1e6 }),
            snapshot,
            retry_after(route.retry_after, wait_ns, wall),
        ),
        Outcome::Outage {
            retry_after_secs: secs,
            snapshot,
        } => (
            429,
            json!({ "error": "outage", "path": path }),
            snapshot,
            retry_after_secs(route.retry_after, secs, wall),
        ),
        Outcome::Fail {
            status,
            retry_after_secs: secs,
            snapshot,
        } => (
            status,
            json!({ "error": "injected fault", "path": path, "status": status }),
            snapshot,
            secs.and_then(|s| retry_after_secs(route.retry_after, s, wall)),
        ),
    };
    let mut resp = json_reply(status, &body, wall);
    let headers = resp.headers_mut();
    for (name, value) in rate_limit_headers(route.headers, &snapshot, wall) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    if let Some(v) = retry.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert("retry-after", v);
    }
    resp
}

fn control(
    method: &Method,
    path: &str,
    body: Result<Bytes, String>,
    shared: &Shared,
) -> Response<Full<Bytes>> {
    let now = Instant::now();
    let read_only = *method == Method::GET || *method == Method::HEAD;
    let (status, value) = match path {
        "/__stats" if read_only => to_json(&shared.stats(now)),
        "/__config" if read_only => to_json(&shared.active().config),
        "/__reset" if *method == Method::POST => {
            shared.reset();
            (200, json!({ "ok": true }))
        }
        "/__config" if *method == Method::POST => {
            let parsed = body
                .map_err(|e| format!("cannot read body: {e}"))
                .and_then(|b| {
                    let text =
                        std::str::from_utf8(&b).map_err(|e| format!("body is not UTF-8: {e}"))?;
                    MockConfig::from_json(text).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(config) => {
                    shared.replace(config);
                    (200, json!({ "ok": true }))
                }
                Err(e) => (400, json!({ "error": e })),
            }
        }
        "/__stats" | "/__reset" | "/__config" => (405, json!({ "error": "method not allowed" })),
        _ => (404, json!({ "error": "unknown control endpoint" })),
    };
    let active = shared.active();
    json_reply(status, &value, shared.wall_ns(Instant::now(), &active))
}

fn to_json<T: serde::Serialize>(value: &T) -> (u16, serde_json::Value) {
    match serde_json::to_value(value) {
        Ok(v) => (200, v),
        Err(e) => (500, json!({ "error": e.to_string() })),
    }
}

fn json_reply(status: u16, value: &serde_json::Value, wall_ns: u64) -> Response<Full<Bytes>> {
    let mut text = value.to_string();
    text.push('\n');
    reply(status, "application/json", Bytes::from(text), wall_ns)
}

/// A response with the headers every answer carries: `Date`, CORS and `Cache-Control`.
fn reply(
    status: u16,
    content_type: &'static str,
    body: Bytes,
    wall_ns: u64,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    if let Ok(date) = HeaderValue::from_str(&http_date(floor_secs(wall_ns))) {
        h.insert("date", date);
    }
    if !content_type.is_empty() {
        h.insert("content-type", HeaderValue::from_static(content_type));
    }
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(EXPOSED),
    );
    resp
}
