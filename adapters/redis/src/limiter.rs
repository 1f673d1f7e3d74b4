//! [`SharedLimiter`]: the keyed limiter with its quotas kept in a [`RedisStore`].

use std::fmt;

use headway_core::Quota;
use headway_engine::{AcquireError, ConfigError, Permit, Runtime, SharedError, SharedRate};
use headway_tokio::{Limiter, TokioRuntime};

use crate::store::RedisStore;

/// Why [`SharedLimiter::acquire`] gave no permit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedAcquireError {
    /// The shared store gave no turn (too long a wait, impossible, unreachable).
    Shared(SharedError),
    /// The local limiter gave none (in-flight caps, `max_wait`).
    Local(AcquireError),
}

impl fmt::Display for SharedAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharedAcquireError::Shared(e) => e.fmt(f),
            SharedAcquireError::Local(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SharedAcquireError {}

/// A keyed async limiter whose quotas are shared, through a [`RedisStore`], with every
/// process that uses the same Redis, namespace and key. Each acquisition reserves its turn in
/// Redis (one round trip), sleeps until it on tokio's clock, then takes the local limiter's
/// turn (in-flight caps, a local pause); dropped before it is granted, it gives its shared
/// slot back. Cloning is cheap and shares everything.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use headway_redis::{RedisStore, SharedLimiter};
/// use headway_core::Quota;
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379").connect().await?;
/// let limiter = SharedLimiter::new(store, &[Quota::per_second(10)?], headway_tokio::limiter())?;
/// let _permit = limiter.acquire("partner-api").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SharedLimiter {
    store: RedisStore,
    quotas: Vec<Quota>,
    local: Limiter<String>,
}

impl SharedLimiter {
    /// A limiter sharing `quotas` per key through `store`; `local` sets what stays in the
    /// process (in-flight caps, `max_wait`), and its own quotas, if any, are shared too.
    pub fn new(
        store: RedisStore,
        quotas: &[Quota],
        local: headway_engine::LimiterBuilder<String, TokioRuntime>,
    ) -> Result<SharedLimiter, ConfigError> {
        let mut local = local.share_quotas();
        for q in quotas {
            local = local.quota(*q);
        }
        Ok(SharedLimiter {
            store,
            quotas: quotas.to_vec(),
            local: local.build()?,
        })
    }

    /// The local limiter (snapshots, in-flight counts).
    pub fn local(&self) -> &Limiter<String> {
        &self.local
    }

    /// Waits for `key`'s shared turn, then its local one.
    pub async fn acquire(&self, key: &str) -> Result<Permit, SharedAcquireError> {
        let max_wait = self.local.key_policy().max_wait_ns;
        let slot = SharedRate::reserve(&self.store, key, &self.quotas, 1, max_wait)
            .await
            .map_err(SharedAcquireError::Shared)?;
        let runtime = self.local.runtime();
        runtime
            .sleep_until(runtime.now_ns().saturating_add(slot.wait_ns()))
            .await;
        let permit = self
            .local
            .acquire(key)
            .await
            .map_err(SharedAcquireError::Local)?;
        slot.keep();
        Ok(permit)
    }

    /// Nothing on `key` goes, in any process, for `for_ns` from now (a server's pause).
    pub async fn pause(&self, key: &str, for_ns: u64) -> Result<(), SharedError> {
        self.store.pause(key, for_ns).await
    }
}
