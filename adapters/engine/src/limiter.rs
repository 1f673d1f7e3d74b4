//! [`Limiter`]: keyed, FIFO, cancel-safe async rate limiting over any [`Runtime`].

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headway_core::duration::saturating_nanos;
use indexmap::IndexMap;

use headway_core::key::{Changed, KeyMachine, KeyPolicy, Tier};
use headway_core::Quota;

use headway_core::ConfigError;

use crate::key::{Acquire, Key, KeySnapshot, Permit, TryAcquireError};
use crate::lock;
use crate::runtime::Runtime;
use crate::slots::Slots;

/// Builds a [`Limiter`].
///
/// ```
/// # use headway_engine::{Limiter, testing::FakeRuntime};
/// use headway_core::Quota;
/// let limiter: Limiter<String, _> = Limiter::builder(FakeRuntime::new())
///     .quota(Quota::per_second(10).unwrap())
///     .quota(Quota::per_hour(30_000).unwrap())
///     .concurrency(8)
///     .build()
///     .unwrap();
/// assert!(limiter.try_acquire("api.example.com").is_ok());
/// // Reading a key the limiter does not hold does not create it.
/// assert_eq!(limiter.snapshot("other.example.com").queued, 0);
/// assert_eq!(limiter.key_count(), 1);
/// ```
#[derive(Debug)]
pub struct LimiterBuilder<K, R> {
    runtime: R,
    quotas: Vec<Quota>,
    per_key: HashMap<K, Vec<Quota>>,
    concurrency: Option<usize>,
    policy: KeyPolicy,
    shared: bool,
}

impl<K: Hash + Eq + Clone, R: Runtime> LimiterBuilder<K, R> {
    /// Adds a quota every key gets (each key has its own state). Several calls make tiers.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quotas.push(quota);
        self
    }

    /// Sets the quotas of one key, replacing the default for it.
    pub fn key_quotas(mut self, key: K, quotas: Vec<Quota>) -> Self {
        self.per_key.insert(key, quotas);
        self
    }

    /// Caps requests in flight across all keys.
    pub fn concurrency(mut self, cap: usize) -> Self {
        self.concurrency = Some(cap);
        self
    }

    /// Caps requests in flight per key.
    pub fn per_key_concurrency(mut self, cap: u32) -> Self {
        self.policy.max_in_flight = Some(cap);
        self
    }

    /// What every key shares: in-flight cap, breaker, learning, pause jitter, margin (the
    /// builder's other settings override the matching fields). Default:
    /// [`KeyPolicy::default`] without a breaker and without a margin: a plain limiter admits
    /// exactly on its quotas and sends nothing itself (the client sets both).
    pub fn key_policy(mut self, policy: KeyPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The longest an acquisition may wait for its rate turn, counted from the moment it
    /// queues, wherever it is in the queue: a waiter whose turn would come later fails with
    /// [`crate::AcquireError::WaitTooLong`] at once, and so does a queued waiter that a later
    /// pause or quota change pushes past it. A turn exactly `max_wait` away is granted; time
    /// spent waiting for an in-flight slot is not counted. Default: 10 minutes
    /// ([`KeyPolicy::default`]'s).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.policy.max_wait_ns = saturating_nanos(max_wait);
        self
    }

    /// The quotas are enforced by a store shared with other processes, which reserves each
    /// request's turn before it asks this limiter: the keys know them but do not space
    /// admissions by them (see [`KeyMachine::share_configured`]).
    pub fn share_quotas(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Checks the configuration and builds the limiter.
    pub fn build(self) -> Result<Limiter<K, R>, ConfigError> {
        for quotas in std::iter::once(&self.quotas).chain(self.per_key.values()) {
            KeyMachine::<Box<[Tier]>>::new(quotas, &self.policy)?;
        }
        if self.concurrency == Some(0) {
            return Err(ConfigError::ZeroConcurrency);
        }
        Ok(Limiter {
            inner: Arc::new(Inner {
                runtime: self.runtime,
                quotas: self.quotas,
                per_key: self.per_key,
                policy: self.policy,
                shared: self.shared,
                global: self.concurrency.map(|c| Arc::new(Slots::new(c))),
                keys: Mutex::new(KeyMap {
                    keys: IndexMap::new(),
                    cursor: 0,
                    hits: 0,
                    paused_until: 0,
                }),
            }),
        })
    }
}

/// A keyed async rate limiter: FIFO per key, cancel-safe, no busy polling, with optional
/// in-flight caps. Cloning is cheap and shares state.
pub struct Limiter<K, R> {
    inner: Arc<Inner<K, R>>,
}

impl<K, R> Clone for Limiter<K, R> {
    fn clone(&self) -> Self {
        Limiter {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, R> fmt::Debug for Limiter<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("quotas", &self.inner.quotas)
            .finish_non_exhaustive()
    }
}

struct Inner<K, R> {
    runtime: R,
    quotas: Vec<Quota>,
    per_key: HashMap<K, Vec<Quota>>,
    policy: KeyPolicy,
    shared: bool,
    global: Option<Arc<Slots>>,
    keys: Mutex<KeyMap<K>>,
}

/// The keys held, swept a few at a time as they are used, so that memory follows the keys
/// that carry information rather than every key ever seen.
struct KeyMap<K> {
    /// The keys, each at an index, so that the sweep can go through them in steps.
    keys: IndexMap<K, Arc<Key>>,
    /// The index the sweep looks at next.
    cursor: usize,
    /// Lookups of held keys since the sweep last took a step on one.
    hits: u8,
    /// Until when every key is paused ([`Limiter::pause_all_for`]), the keys created
    /// meanwhile included.
    paused_until: u64,
}

/// Keys the sweep looks at for each key created: more than one, so that under churn the
/// idle keys go faster than new ones come and the map stays within a small multiple of
/// the keys in use.
const SWEEP_PER_NEW_KEY: usize = 2;

/// Lookups of a held key between two steps of the sweep: a key found takes no clock
/// reading and no other key's lock on most lookups.
const HITS_PER_SWEEP_STEP: u8 = 32;

/// Keys the sweep looks at in a step taken on a lookup: two per lookup on average, so that
/// once new keys stop coming the idle ones still go, in about half as many lookups as there
/// are idle keys.
const SWEEP_PER_STEP: usize = 2 * HITS_PER_SWEEP_STEP as usize;

/// The least capacity the map is shrunk to.
const MIN_CAPACITY: usize = 64;

/// The one eviction rule: a key goes when nothing holds it (no waiter, no permit, no call)
/// and its machine is idle at `now` (see [`KeyMachine::is_idle`]).
fn evictable(key: &Arc<Key>, now: u64) -> bool {
    Arc::strong_count(key) == 1 && key.is_idle(now)
}

impl<K> KeyMap<K> {
    /// Drops every evictable key.
    fn sweep(&mut self, now: u64) {
        self.keys.retain(|_, k| !evictable(k, now));
        self.cursor = 0;
        self.shrink();
    }

    /// Looks at up to `n` keys from the cursor on, dropping the evictable ones; the cursor
    /// goes round the map, so every key is looked at once in each `len / n` steps.
    fn sweep_some(&mut self, now: u64, n: usize) {
        for _ in 0..n {
            if self.cursor >= self.keys.len() {
                self.cursor = 0;
            }
            let Some((_, key)) = self.keys.get_index(self.cursor) else {
                break;
            };
            if evictable(key, now) {
                // The last key moves into this index and is looked at next.
                self.keys.swap_remove_index(self.cursor);
            } else {
                self.cursor += 1;
            }
        }
        self.shrink();
    }

    /// Gives memory back once the map is down to a quarter of its capacity (half of it
    /// stays free, so a map that grows again does not reallocate at once).
    fn shrink(&mut self) {
        if self.keys.capacity() > MIN_CAPACITY && self.keys.len() < self.keys.capacity() / 4 {
            self.keys.shrink_to((self.keys.len() * 2).max(MIN_CAPACITY));
        }
    }
}

impl<K: Hash + Eq + Clone, R: Runtime> Limiter<K, R> {
    /// Starts building a limiter on `runtime`. Without a quota, keys are unlimited until a
    /// quota is learned or set; the in-flight caps still apply.
    pub fn builder(runtime: R) -> LimiterBuilder<K, R> {
        LimiterBuilder {
            runtime,
            quotas: Vec::new(),
            per_key: HashMap::new(),
            concurrency: None,
            shared: false,
            policy: KeyPolicy {
                breaker: None,
                margin: None,
                ..KeyPolicy::default()
            },
        }
    }

    /// The runtime this limiter runs on.
    pub fn runtime(&self) -> &R {
        &self.inner.runtime
    }

    /// The longest an acquisition may wait (saturated at `u64::MAX` nanoseconds, about 584
    /// years).
    pub fn max_wait(&self) -> Duration {
        Duration::from_nanos(self.inner.policy.max_wait_ns)
    }

    /// What every key shares.
    pub fn key_policy(&self) -> &KeyPolicy {
        &self.inner.policy
    }

    /// The key's state, created if needed. Idle keys are swept a few at a time as keys are
    /// created and used ([`SWEEP_PER_NEW_KEY`], [`SWEEP_PER_STEP`]), so memory stays
    /// proportional to the keys that carry information.
    pub(crate) fn key<Q>(&self, key: &Q) -> Arc<Key>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut map = lock(&self.inner.keys);
        if let Some(k) = map.keys.get(key) {
            let k = Arc::clone(k);
            map.hits += 1;
            if map.hits >= HITS_PER_SWEEP_STEP {
                map.hits = 0;
                // `k` is held here, so the step cannot drop it.
                map.sweep_some(self.inner.runtime.now_ns(), SWEEP_PER_STEP);
            }
            return k;
        }
        let now = self.inner.runtime.now_ns();
        map.sweep_some(now, SWEEP_PER_NEW_KEY);
        let quotas = self
            .inner
            .per_key
            .get(key)
            .unwrap_or(&self.inner.quotas)
            .clone();
        let k = Arc::new(self.fresh(&quotas));
        if map.paused_until > now {
            // A key born during a pause of every key is paused with the others.
            let until = map.paused_until;
            k.update(now, |m| ((), m.pause_until(until)));
        }
        map.keys.insert(key.to_owned(), Arc::clone(&k));
        k
    }

    /// The quotas `key` is configured with (the default ones unless it has its own).
    pub(crate) fn configured_quotas<Q>(&self, key: &Q) -> &[Quota]
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.per_key.get(key).unwrap_or(&self.inner.quotas)
    }

    /// A key as it starts, with `quotas`.
    fn fresh(&self, quotas: &[Quota]) -> Key {
        // Every quota list a key starts with was checked when the limiter was built.
        Key::new(
            quotas,
            &self.inner.policy,
            self.inner.shared,
            self.inner.global.clone(),
        )
        .expect("quotas checked at construction")
    }

    /// Waits in the key's queue for one permit.
    pub fn acquire<Q>(&self, key: &Q) -> Acquire<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.acquire_n(key, 1)
    }

    /// Waits in the key's queue for `n` cells at once. A large `n` is never overtaken by
    /// smaller requests queued after it.
    pub fn acquire_n<Q>(&self, key: &Q, n: u32) -> Acquire<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.key(key)
            .acquire(self.inner.runtime.clone(), n, self.inner.policy.max_wait_ns)
    }

    /// A permit now, or why not. Never jumps the queue.
    pub fn try_acquire<Q>(&self, key: &Q) -> Result<Permit, TryAcquireError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.try_acquire_n(key, 1)
    }

    /// `n` cells now, or why not.
    pub fn try_acquire_n<Q>(&self, key: &Q, n: u32) -> Result<Permit, TryAcquireError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = self.inner.runtime.now_ns();
        self.key(key)
            .try_acquire(now, n, self.inner.policy.max_wait_ns)
    }

    /// Admits nothing on `key` for `duration` from now (the runtime's clock); every queued
    /// waiter re-plans. A pause already in force that ends later is kept. Other keys are
    /// untouched.
    pub fn pause_for<Q>(&self, key: &Q, duration: Duration)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = self.inner.runtime.now_ns();
        let until = now.saturating_add(saturating_nanos(duration));
        self.key(key).update(now, |m| ((), m.pause_until(until)));
    }

    /// Admits nothing on any key for `duration` from now: every key held re-plans, and a key
    /// first used before the pause ends starts paused (an idle key may have been dropped,
    /// and the pause reaches it all the same). Pauses already in force that end later are
    /// kept.
    pub fn pause_all_for(&self, duration: Duration) {
        let now = self.inner.runtime.now_ns();
        let until = now.saturating_add(saturating_nanos(duration));
        let held: Vec<Arc<Key>> = {
            let mut map = lock(&self.inner.keys);
            map.paused_until = map.paused_until.max(until);
            map.keys.values().map(Arc::clone).collect()
        };
        for key in held {
            key.update(now, |m| ((), m.pause_until(until)));
        }
    }

    /// Sets `key`'s quotas at runtime, keeping its state.
    pub fn set_quotas<Q>(&self, key: &Q, quotas: &[Quota]) -> Result<(), ConfigError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = self.inner.runtime.now_ns();
        self.key(key)
            .update(now, |m| match m.set_configured(quotas) {
                Ok(changed) => (Ok(()), changed),
                Err(e) => (Err(e.into()), Changed::default()),
            })
    }

    /// A snapshot of `key`; a key the limiter does not hold is shown as it would start, and
    /// is not created.
    pub fn snapshot<Q>(&self, key: &Q) -> KeySnapshot
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.inner.runtime.now_ns();
        let held = lock(&self.inner.keys).keys.get(key).map(Arc::clone);
        match held {
            Some(k) => k.snapshot(now),
            None => {
                let quotas = self.inner.per_key.get(key).unwrap_or(&self.inner.quotas);
                self.fresh(quotas).snapshot(now)
            }
        }
    }

    /// Snapshots of every key currently held.
    pub fn snapshots(&self) -> Vec<(K, KeySnapshot)> {
        let now = self.inner.runtime.now_ns();
        let keys: Vec<(K, Arc<Key>)> = lock(&self.inner.keys)
            .keys
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        keys.into_iter()
            .map(|(k, v)| (k, v.snapshot(now)))
            .collect()
    }

    /// Keys currently held in memory.
    pub fn key_count(&self) -> usize {
        lock(&self.inner.keys).keys.len()
    }

    /// Drops every key whose state carries no information. Returns how many remain.
    pub fn sweep(&self) -> usize {
        let mut map = lock(&self.inner.keys);
        map.sweep(self.inner.runtime.now_ns());
        map.keys.len()
    }

    /// Requests in flight across all keys (when a global cap is set).
    pub fn in_flight(&self) -> Option<usize> {
        self.inner.global.as_ref().map(|g| g.in_use())
    }
}
