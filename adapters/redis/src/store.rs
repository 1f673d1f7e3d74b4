//! [`RedisStore`]: a key's shared rate state in Redis, reserved by one script call.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use headway_core::{Gcra, Quota, MAX_TIERS};
use headway_engine::{Reserving, SharedError, SharedRate, SharedSlot};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, RedisError};

use crate::fallback::{Fallback, OnOutage};
use crate::keys::state_key;

/// The script every call runs (see the comments at its top).
const SCRIPT: &str = include_str!("script.lua");

/// The longest interval, tolerance or `n` intervals the script holds exactly: its numbers
/// are doubles, exact below 2^53 nanoseconds, and its timeline already spans up to 2^50.
const MAX_SPAN_NS: u64 = 1 << 51;

/// Where a reservation's `now` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// Redis's own `TIME`, read inside the script: one clock for every process, so clocks
    /// that disagree between machines change nothing.
    #[default]
    Redis,
    /// The caller's wall clock (unix time), sent with every call, for stores that refuse
    /// `TIME` in scripts. What it costs: the processes must agree on the time. A process
    /// whose clock runs `d` ahead of the others is admitted `d` early on every reservation
    /// it makes after theirs (up to `d` divided by the interval requests too many, against
    /// a strict server), one behind waits `d` longer, and the state's expiry is measured on
    /// the clock of whoever wrote it last, so a clock far ahead can also let state expire
    /// early. Keep the machines on NTP, and prefer [`Clock::Redis`] wherever it works.
    Caller,
}

/// The time a call is made at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Now {
    /// The store's [`Clock`].
    Clock,
    /// This unix time, in nanoseconds.
    UnixNanos(u64),
}

/// Why [`RedisStoreBuilder::connect`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The URL is not a Redis URL.
    Url(String),
    /// The namespace is empty.
    EmptyNamespace,
    /// Redis refused the connection or the script.
    Unreachable(String),
    /// Redis did not answer within the store's timeout.
    Timeout(Duration),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Url(e) => write!(f, "invalid Redis URL: {e}"),
            ConnectError::EmptyNamespace => f.write_str("the namespace must not be empty"),
            ConnectError::Unreachable(e) => write!(f, "Redis unreachable: {e}"),
            ConnectError::Timeout(t) => write!(f, "Redis did not answer within {t:?}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Builds a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    url: String,
    namespace: String,
    margin_ns: u64,
    clock: Clock,
    timeout: Duration,
    on_outage: OnOutage,
    probe_every: Duration,
}

impl RedisStoreBuilder {
    /// The prefix of every Redis key the store writes (default `headway`): applications
    /// that share a Redis but not their quotas use different namespaces.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_string();
        self
    }

    /// The safety margin added to the spacing of a tier that a reservation leaves with
    /// nothing to spare (every reservation, on a tier without burst), as the core's key
    /// machine does: it covers the jitter between a process's wake-up, its send and the
    /// request's arrival, which differs between processes. Default 300 us; zero reserves
    /// exactly on the quotas.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin_ns = headway_core::duration::saturating_nanos(margin);
        self
    }

    /// Where `now` comes from (default [`Clock::Redis`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The longest one call to Redis may take, connecting included (default 1 s); past it
    /// the call fails with [`SharedError::Unavailable`] instead of waiting.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What a reservation does when Redis is lost after the store connected (default
    /// [`OnOutage::Fail`]): fail with [`SharedError::Unavailable`], or go on at a declared
    /// share of each quota on a local limiter until Redis answers again. Only the store's
    /// [`SharedRate`] side (a client's or a [`crate::SharedLimiter`]'s reservations) falls
    /// back; the store's own methods (`reserve`, `refund`, `pause`, ...) always ask Redis.
    pub fn on_outage(mut self, on_outage: OnOutage) -> Self {
        self.on_outage = on_outage;
        self
    }

    /// How often a store running on its local share checks whether Redis is back (default
    /// 200 ms); each check is one `PING`, made in the background, never by a request.
    pub fn probe_every(mut self, every: Duration) -> Self {
        self.probe_every = every;
        self
    }

    /// Connects and loads the script. Call inside a tokio runtime. A Redis that cannot be
    /// reached is a typed error within the timeout.
    pub async fn connect(self) -> Result<RedisStore, ConnectError> {
        if self.namespace.is_empty() {
            return Err(ConnectError::EmptyNamespace);
        }
        let client =
            redis::Client::open(self.url.as_str()).map_err(|e| ConnectError::Url(e.to_string()))?;
        // No retries inside the manager: its backoff would hold every call for a second or
        // more after a lost connection, even once Redis is back. A lost connection is made
        // again by the next call (a request, or the outage probe) instead.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(0);
        let timeout = self.timeout;
        let connecting = async {
            let mut conn = ConnectionManager::new_with_config(client, config).await?;
            let sha: String = load(&mut conn).await?;
            Ok::<_, RedisError>((conn, sha))
        };
        let (conn, sha) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| ConnectError::Timeout(timeout))?
            .map_err(|e| {
                // The connection's own timeouts are the store's timeout too.
                if e.is_timeout() {
                    ConnectError::Timeout(timeout)
                } else {
                    ConnectError::Unreachable(e.to_string())
                }
            })?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                sha,
                namespace: self.namespace,
                margin_ns: self.margin_ns,
                clock: self.clock,
                timeout,
                fallback: match self.on_outage {
                    OnOutage::Fail => None,
                    OnOutage::Local(share) => Some(Fallback::new(share)),
                },
                probe_every: self.probe_every,
            }),
        })
    }
}

/// `SCRIPT LOAD`: the script's SHA, to call it by.
async fn load(conn: &mut ConnectionManager) -> Result<String, RedisError> {
    redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(SCRIPT)
        .query_async(conn)
        .await
}

/// A key's shared rate state in Redis, reserved by one script call per request. Cloning is
/// cheap and shares the connection. Use it as a [`SharedRate`] for a Headway client
/// (`headway_tokio::ClientBuilder::shared`) or a [`crate::SharedLimiter`].
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    sha: String,
    namespace: String,
    margin_ns: u64,
    clock: Clock,
    timeout: Duration,
    /// The local limiter of [`OnOutage::Local`].
    fallback: Option<Fallback>,
    probe_every: Duration,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.inner.namespace)
            .field("margin_ns", &self.inner.margin_ns)
            .field("clock", &self.inner.clock)
            .field("timeout", &self.inner.timeout)
            .field("falling_back", &self.falling_back())
            .finish_non_exhaustive()
    }
}

/// A reservation made by [`RedisStore::reserve`]: when it may go, and what giving it back
/// needs (each tier's state before and after it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a reservation holds a slot in every tier: send after wait_ns, or refund it"]
pub struct Reservation {
    wait_ns: u64,
    origin: i64,
    tiers: Vec<(i64, i64)>,
    /// Bit `i` is set once tier `i` took its slot back.
    refunded: u32,
}

impl Reservation {
    /// How long after the store's `now` the request may go.
    pub fn wait_ns(&self) -> u64 {
        self.wait_ns
    }
}

impl RedisStore {
    /// Starts building a store on the Redis at `url` (`redis://HOST:PORT[/DB]`).
    pub fn builder(url: &str) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.to_string(),
            namespace: "headway".to_string(),
            margin_ns: 300_000,
            clock: Clock::default(),
            timeout: Duration::from_secs(1),
            on_outage: OnOutage::default(),
            probe_every: Duration::from_millis(200),
        }
    }

    /// Whether the store serves reservations from its local share now ([`OnOutage::Local`],
    /// Redis lost); always `false` with [`OnOutage::Fail`].
    pub fn falling_back(&self) -> bool {
        self.inner.fallback.as_ref().is_some_and(Fallback::is_down)
    }

    /// Redis was lost (`why`): from now on reservations go to the local share, and a
    /// background task pings Redis until it answers, then hands reservations back to it.
    fn lost(&self, fallback: &Fallback, why: &SharedError) {
        if fallback.set_down(true) {
            return;
        }
        tracing::warn!(error = %why, "Redis lost: going on at the local share of each quota");
        let (store, every) = (Arc::downgrade(&self.inner), self.inner.probe_every);
        spawn(probe(store, every));
    }

    /// The Redis key holding `key`'s state.
    pub fn redis_key(&self, key: &str) -> String {
        state_key(&self.inner.namespace, key)
    }

    /// Reserves `n` cells of `key` in every tier of `quotas` at once, at the earliest time
    /// all allow (and not before a shared pause). A turn more than `max_wait_ns` away is
    /// refused with [`SharedError::WaitTooLong`] and reserves nothing; `max_wait_ns` of 0
    /// admits only what may go at once, as a check does.
    pub async fn reserve(
        &self,
        key: &str,
        quotas: &[Quota],
        n: u32,
        max_wait_ns: u64,
    ) -> Result<Reservation, SharedError> {
        let margin = self.inner.margin_ns;
        self.reserve_on(key, quotas, n, max_wait_ns, Now::Clock, true, margin)
            .await
    }

    /// The same reservation on the caller's time `unix_ns` (nanoseconds since the unix
    /// epoch), whatever the store's [`Clock`]: for callers that keep their own timeline.
    pub async fn reserve_at(
        &self,
        key: &str,
        quotas: &[Quota],
        n: u32,
        max_wait_ns: u64,
        unix_ns: u64,
    ) -> Result<Reservation, SharedError> {
        let now = Now::UnixNanos(unix_ns);
        let margin = self.inner.margin_ns;
        self.reserve_on(key, quotas, n, max_wait_ns, now, true, margin)
            .await
    }

    /// How long `n` cells of `key` would wait at the caller's time `unix_ns`, reserving
    /// nothing.
    pub async fn peek_at(
        &self,
        key: &str,
        quotas: &[Quota],
        n: u32,
        unix_ns: u64,
    ) -> Result<u64, SharedError> {
        let now = Now::UnixNanos(unix_ns);
        let margin = self.inner.margin_ns;
        self.reserve_on(key, quotas, n, u64::MAX, now, false, margin)
            .await
            .map(|r| r.wait_ns)
    }

    /// The script's reserve (or peek, without `commit`), spacing by `margin_ns`.
    #[allow(clippy::too_many_arguments)]
    async fn reserve_on(
        &self,
        key: &str,
        quotas: &[Quota],
        n: u32,
        max_wait_ns: u64,
        now: Now,
        commit: bool,
        margin_ns: u64,
    ) -> Result<Reservation, SharedError> {
        check(quotas, n)?;
        let mut cmd = self.call(if commit { "reserve" } else { "peek" }, key, now);
        cmd.arg(n).arg(max_wait_ns).arg(margin_ns);
        cmd.arg(quotas.len());
        for q in quotas {
            cmd.arg(q.emission_interval_ns()).arg(q.tolerance_ns());
        }
        let reply: Vec<i64> = self.run(cmd).await?;
        let wait_ns = reply
            .get(1)
            .and_then(|w| u64::try_from(*w).ok())
            .ok_or_else(|| malformed(&reply))?;
        match reply.first() {
            Some(0) if reply.len() == 3 + 2 * quotas.len() => Ok(Reservation {
                wait_ns,
                origin: reply[2],
                tiers: reply[3..].chunks(2).map(|c| (c[0], c[1])).collect(),
                refunded: 0,
            }),
            Some(1) => Err(SharedError::WaitTooLong { wait_ns }),
            _ => Err(malformed(&reply)),
        }
    }

    /// Gives an unused reservation back, tier by tier, as the core's `Tiers::refund`: a
    /// tier takes its slot back only while the reservation is still its latest. Returns
    /// `true` when every tier tried took its slot back. Each tier that did is marked in the
    /// reservation and never tried again, so a reservation must not be sent once handed to
    /// `refund`, whatever the answer; one whose every tier was given back returns `false`.
    pub async fn refund(
        &self,
        key: &str,
        reservation: &mut Reservation,
    ) -> Result<bool, SharedError> {
        self.refund_on(key, reservation, Now::Clock).await
    }

    /// [`RedisStore::refund`] on the caller's time `unix_ns`.
    pub async fn refund_at(
        &self,
        key: &str,
        reservation: &mut Reservation,
        unix_ns: u64,
    ) -> Result<bool, SharedError> {
        self.refund_on(key, reservation, Now::UnixNanos(unix_ns))
            .await
    }

    async fn refund_on(
        &self,
        key: &str,
        reservation: &mut Reservation,
        now: Now,
    ) -> Result<bool, SharedError> {
        let every_tier = (1u32 << reservation.tiers.len()) - 1;
        if reservation.refunded == every_tier {
            return Ok(false);
        }
        let mut cmd = self.call("refund", key, now);
        cmd.arg(reservation.origin).arg(reservation.tiers.len());
        for (i, (prev, next)) in reservation.tiers.iter().enumerate() {
            if reservation.refunded & (1 << i) != 0 {
                cmd.arg(-1).arg(-1);
            } else {
                cmd.arg(*prev).arg(*next);
            }
        }
        let back: i64 = self.run(cmd).await?;
        let back = u32::try_from(back)
            .ok()
            .filter(|b| b & !every_tier == 0)
            .ok_or_else(|| malformed(&[back]))?;
        let tried = every_tier & !reservation.refunded;
        reservation.refunded |= back;
        Ok(back == tried)
    }

    /// Nothing on `key` is reserved, by any process, before `for_ns` from now.
    pub async fn pause(&self, key: &str, for_ns: u64) -> Result<(), SharedError> {
        self.pause_on(key, for_ns, Now::Clock).await
    }

    /// [`RedisStore::pause`] on the caller's time `unix_ns`.
    pub async fn pause_at(&self, key: &str, for_ns: u64, unix_ns: u64) -> Result<(), SharedError> {
        self.pause_on(key, for_ns, Now::UnixNanos(unix_ns)).await
    }

    async fn pause_on(&self, key: &str, for_ns: u64, now: Now) -> Result<(), SharedError> {
        if for_ns > MAX_SPAN_NS {
            return Err(SharedError::Unsupported(format!(
                "a pause of {for_ns} ns is longer than the store holds ({MAX_SPAN_NS} ns)"
            )));
        }
        let mut cmd = self.call("pause", key, now);
        cmd.arg(for_ns);
        let _: i64 = self.run(cmd).await?;
        Ok(())
    }

    /// The script call for `op` on `key` at `now`, to which the operation's arguments are
    /// added.
    fn call(&self, op: &str, key: &str, now: Now) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.inner.sha)
            .arg(1)
            .arg(self.redis_key(key))
            .arg(op);
        let unix_ns = match (now, self.inner.clock) {
            (Now::UnixNanos(ns), _) => Some(ns),
            (Now::Clock, Clock::Caller) => Some(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(headway_core::duration::saturating_nanos)
                    .unwrap_or(0),
            ),
            (Now::Clock, Clock::Redis) => None,
        };
        match unix_ns {
            Some(ns) => cmd.arg(ns / 1_000_000_000).arg(ns % 1_000_000_000),
            None => cmd.arg("").arg(""),
        };
        cmd
    }

    /// Runs a script call within the timeout. A Redis that lost the script (restarted,
    /// `SCRIPT FLUSH`) gets it again, and the call is made once more.
    async fn run<T: redis::FromRedisValue>(&self, cmd: Cmd) -> Result<T, SharedError> {
        let timeout = self.inner.timeout;
        let mut conn = self.inner.conn.clone();
        let calling = async {
            match cmd.query_async(&mut conn).await {
                Err(e) if e.kind() == ErrorKind::NoScriptError => {
                    load(&mut conn).await?;
                    cmd.query_async(&mut conn).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(timeout, calling).await {
            Ok(result) => result.map_err(|e| SharedError::Unavailable(e.to_string())),
            Err(_) => Err(SharedError::Unavailable(format!(
                "no answer within {} ms",
                timeout.as_millis()
            ))),
        }
    }
}

/// Refuses what the script cannot do: more cells than a tier's burst (the core's decision),
/// too many tiers, or spans its arithmetic cannot hold exactly.
fn check(quotas: &[Quota], n: u32) -> Result<(), SharedError> {
    if quotas.len() > MAX_TIERS {
        return Err(SharedError::Unsupported(format!(
            "{} quotas given; at most {MAX_TIERS} allowed",
            quotas.len()
        )));
    }
    for q in quotas {
        if let Err(impossible) = Gcra::new(*q).reserve_n(n, 0) {
            return Err(SharedError::Impossible(impossible));
        }
        let span = q.emission_interval_ns().saturating_mul(u64::from(n));
        if span > MAX_SPAN_NS || q.tolerance_ns() > MAX_SPAN_NS {
            return Err(SharedError::Unsupported(format!(
                "quota {q}: its interval or burst spans more than the store holds \
                 ({MAX_SPAN_NS} ns)"
            )));
        }
    }
    Ok(())
}

fn malformed(reply: &[i64]) -> SharedError {
    SharedError::Unavailable(format!("unexpected reply from the script: {reply:?}"))
}

/// Pings Redis every `every` until it answers, then marks the store's Redis back; stops
/// early once the store is dropped.
async fn probe(store: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = store.upgrade() else {
            return;
        };
        let store = RedisStore { inner };
        let pong: Result<String, _> = store.run(redis::cmd("PING")).await;
        if pong.is_ok() {
            if let Some(fallback) = &store.inner.fallback {
                fallback.set_down(false);
            }
            tracing::info!("Redis is back: the shared state takes over again");
            return;
        }
    }
}

impl SharedRate for RedisStore {
    /// Reserves with the larger of the store's margin ([`RedisStoreBuilder::margin`]) and
    /// `margin_ns`, the caller's for the key.
    fn reserve_with_margin(
        &self,
        key: &str,
        quotas: &[Quota],
        n: u32,
        max_wait_ns: u64,
        margin_ns: u64,
    ) -> Reserving {
        let (store, key, quotas) = (self.clone(), key.to_string(), quotas.to_vec());
        let margin = self.inner.margin_ns.max(margin_ns).min(MAX_SPAN_NS);
        Box::pin(async move {
            let fallback = store.inner.fallback.as_ref();
            if let Some(fallback) = fallback.filter(|f| f.is_down()) {
                check(&quotas, n)?;
                return fallback.reserve(&key, &quotas, n, max_wait_ns);
            }
            let reserving =
                store.reserve_on(&key, &quotas, n, max_wait_ns, Now::Clock, true, margin);
            let mut reservation = match reserving.await {
                Ok(r) => r,
                Err(e @ SharedError::Unavailable(_)) => match fallback {
                    Some(fallback) => {
                        store.lost(fallback, &e);
                        return fallback.reserve(&key, &quotas, n, max_wait_ns);
                    }
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            };
            let wait_ns = reservation.wait_ns;
            Ok(SharedSlot::new(wait_ns, move || {
                spawn(async move {
                    // Best effort: a refund that cannot be made forfeits the slot, which is
                    // the conservative side.
                    if let Err(e) = store.refund(&key, &mut reservation).await {
                        tracing::debug!(key = %key, error = %e, "shared slot not given back");
                    }
                })
            }))
        })
    }

    fn pause(&self, key: &str, for_ns: u64) {
        if let Some(fallback) = &self.inner.fallback {
            // Kept locally too: the local share obeys it while Redis is lost.
            fallback.pause(key, for_ns);
        }
        let (store, key) = (self.clone(), key.to_string());
        spawn(async move {
            if let Err(e) = RedisStore::pause(&store, &key, for_ns).await {
                tracing::warn!(key = %key, error = %e, "pause not shared");
            }
        });
    }
}

/// Runs `work` on the current tokio runtime; outside one there is nothing to run it on, and
/// it is dropped.
fn spawn(work: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(work);
    }
}
