//! [`Client`]: the throttled request loop every adapter shares.
//!
//! For each call: wait for the key's rate (FIFO, no slot held while waiting), take an
//! in-flight slot, send, read what the response means ([`headway_core::feedback`]), feed that
//! back to the key (a pause for every waiter of the key, a learned quota, pacing), then either
//! hand the response back or retry within the backoff caps and the retry budget. Pauses,
//! learned quotas and retries are reported to the runtime as [`Event`]s.

use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{select, Either};
use headway_core::backoff::{Backoff, SplitMix64};
use headway_core::breaker::Permit as Probe;
use headway_core::budget::{BudgetPolicy, RetryBudget};
use headway_core::call::{is_idempotent, succeeded, Attempt, Call, RetryPolicy, Step, Why};
use headway_core::duration::saturating_nanos;
use headway_core::feedback::{self, Headers};
use headway_core::key::{BreakerPolicy, Changed, KeyPolicy, MarginPolicy};
use headway_core::Quota;

use crate::error::{ClientError, Failure};
use crate::event::Event;
use crate::key::{Key, Permit};
use crate::limiter::Limiter;
use crate::lock;
use crate::runtime::Runtime;
use crate::shared::{SharedError, SharedRate, SharedSlot};
use crate::stats::{Counters, Stats};
use crate::transport::{Request, Response, Transport};
use headway_core::ConfigError;

/// How a [`Client`] behaves. Every field has a sensible default; see [`ClientConfig::default`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Quotas every key gets. Empty: learn them from the server's headers.
    pub quotas: Vec<Quota>,
    /// Quotas for particular keys (origins such as `https://api.example.com`).
    pub key_quotas: Vec<(String, Vec<Quota>)>,
    /// Requests in flight across all keys.
    pub concurrency: Option<usize>,
    /// Requests in flight per key.
    pub per_key_concurrency: Option<u32>,
    /// The longest any wait may be (rate, server pause); beyond it the call fails with
    /// [`ClientError::WaitTooLong`]. Default 10 minutes ([`KeyPolicy::default`]'s).
    pub max_wait: Duration,
    /// Per-attempt timeout, from send to response headers; `None` for none. Default 30 s.
    pub timeout: Option<Duration>,
    /// Retry pacing and caps when the server gives no wait. Default: 100 ms base, 30 s cap,
    /// 5 retries, 5 minutes total, full jitter.
    pub backoff: Backoff,
    /// The retry budget shared by every call. Default [`BudgetPolicy::default`]; `None`
    /// disables it.
    pub budget: Option<BudgetPolicy>,
    /// The circuit breaker of each key. Default [`BreakerPolicy::default`]; `None` disables
    /// it. 429s and 503s with a wait never count as failures.
    pub breaker: Option<BreakerPolicy>,
    /// Retry 5xx and connection errors for non-idempotent methods too. 429 and 503 are
    /// always retried (the server did not process the request). Default false.
    pub retry_non_idempotent: bool,
    /// Learn quotas and pacing from response headers. Default true.
    pub learn: bool,
    /// The most jitter added to a server-requested pause, so that many clients do not return
    /// at the same instant: up to a 32nd of the pause, at most this. Default 25 ms
    /// ([`KeyPolicy::default`]'s).
    pub pause_jitter_max: Duration,
    /// The adaptive safety margin of each key's spacing, for the jitter between send and
    /// arrival. Default [`MarginPolicy::default`]; `None` admits exactly on the quotas.
    pub margin: Option<MarginPolicy>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        let policy = KeyPolicy::default();
        ClientConfig {
            quotas: Vec::new(),
            key_quotas: Vec::new(),
            concurrency: None,
            per_key_concurrency: None,
            max_wait: Duration::from_nanos(policy.max_wait_ns),
            timeout: Some(Duration::from_secs(30)),
            backoff: Backoff::default(),
            budget: Some(BudgetPolicy::default()),
            breaker: Some(BreakerPolicy::default()),
            retry_non_idempotent: false,
            learn: true,
            pause_jitter_max: Duration::from_nanos(policy.pause_jitter_max_ns),
            margin: policy.margin,
        }
    }
}

/// A response that came back, with what it cost.
#[derive(Debug)]
pub struct Sent<Resp> {
    /// The final response (possibly a 429 or 5xx once retries ran out).
    pub response: Resp,
    /// Attempts put on the wire.
    pub attempts: u32,
    /// Time spent waiting for rate, pauses and backoff.
    pub waited: Duration,
}

/// The shared throttled client: a keyed [`Limiter`] plus retry, feedback and breaker logic.
/// Cloning is cheap and shares everything.
pub struct Client<R: Runtime> {
    inner: Arc<ClientInner<R>>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct ClientInner<R: Runtime> {
    limiter: Limiter<String, R>,
    config: ClientConfig,
    budget: Option<RetryBudget>,
    counters: Counters,
    jitter: Mutex<SplitMix64>,
    shared: Option<Arc<dyn SharedRate>>,
}

/// A response's headers as the core's feedback reads them.
struct HeadersOf<'a, R>(&'a R);

impl<R: Response> Headers for HeadersOf<'_, R> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.header(name)
    }
}

impl<R: Runtime> Client<R> {
    /// Checks `config` and builds a client on `runtime`.
    pub fn new(runtime: R, config: ClientConfig) -> Result<Client<R>, ConfigError> {
        Client::build(runtime, config, None)
    }

    /// A client whose configured quotas are kept in `store`, shared with every process that
    /// uses the same store and key: each attempt reserves its turn there first (one round
    /// trip), sleeps until it locally, then takes its local turn (in-flight caps, breaker,
    /// a pause heard here). A pause a server asks of this process is written to the store
    /// too, so every process on the key obeys it. Keys without a configured quota are not
    /// shared.
    pub fn with_shared(
        runtime: R,
        config: ClientConfig,
        store: Arc<dyn SharedRate>,
    ) -> Result<Client<R>, ConfigError> {
        Client::build(runtime, config, Some(store))
    }

    fn build(
        runtime: R,
        config: ClientConfig,
        shared: Option<Arc<dyn SharedRate>>,
    ) -> Result<Client<R>, ConfigError> {
        let policy = KeyPolicy {
            max_in_flight: config.per_key_concurrency,
            breaker: config.breaker,
            learn: config.learn,
            pause_jitter_max_ns: saturating_nanos(config.pause_jitter_max),
            max_wait_ns: saturating_nanos(config.max_wait),
            margin: config.margin,
        };
        let mut builder = Limiter::builder(runtime.clone()).key_policy(policy);
        for q in &config.quotas {
            builder = builder.quota(*q);
        }
        for (key, quotas) in &config.key_quotas {
            builder = builder.key_quotas(key.clone(), quotas.clone());
        }
        if let Some(c) = config.concurrency {
            builder = builder.concurrency(c);
        }
        if shared.is_some() {
            builder = builder.share_quotas();
        }
        let limiter = builder.build()?;
        let budget = config
            .budget
            .map(RetryBudget::from_policy)
            .transpose()
            .map_err(ConfigError::Budget)?;
        let seed = runtime.seed();
        Ok(Client {
            inner: Arc::new(ClientInner {
                limiter,
                config,
                budget,
                counters: Counters::default(),
                jitter: Mutex::new(SplitMix64::new(seed)),
                shared,
            }),
        })
    }

    /// The keyed limiter underneath, for direct acquisition or runtime quota changes.
    pub fn limiter(&self) -> &Limiter<String, R> {
        &self.inner.limiter
    }

    /// The configuration in force.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A snapshot of what the client has done and of every key.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let keys = self.inner.limiter.snapshots();
        Stats {
            sent: Counters::read(&c.sent),
            succeeded: Counters::read(&c.succeeded),
            unsuccessful: Counters::read(&c.unsuccessful),
            rate_limited: Counters::read(&c.rate_limited),
            retries: Counters::read(&c.retries),
            failed: Counters::read(&c.failed),
            queued: keys.iter().map(|(_, k)| k.queued).sum(),
            keys,
        }
    }

    /// Feeds what came back to its key, under its lock: the key's machine learns quotas,
    /// pauses every waiter, paces from `remaining`/`reset`, and its breaker hears the
    /// attempt (see [`headway_core::key::KeyMachine::hear`]). `wire` is when the transport
    /// saw the request go out, when it says ([`Response::sent_at`]).
    fn apply_feedback(
        &self,
        key: &str,
        handle: &Key,
        attempt: Attempt<'_>,
        heard: &Heard,
        wire: Option<u64>,
        now: u64,
    ) {
        let policy = self.inner.limiter.key_policy();
        let (changed, quotas) = handle.update(now, |m| {
            let rng = &mut lock(&self.inner.jitter);
            let sent_at = m.sent(heard.sent_at, wire, now);
            let changed = m.hear(attempt, heard.probe, sent_at, now, policy, rng);
            let quotas: Vec<Quota> = if changed.learned {
                m.quotas().collect()
            } else {
                Vec::new()
            };
            ((changed, quotas), changed)
        });
        let runtime = self.inner.limiter.runtime();
        if changed.learned {
            tracing::info!(key = %key, "learned quotas from server");
            runtime.event(&Event::Learned {
                key,
                quotas: &quotas,
            });
        }
        if let (Some(until), Some(store)) = (changed.paused_until, &self.inner.shared) {
            store.pause(key, until.saturating_sub(now));
        }
        if let Some(until) = changed.paused_until {
            let pause = until.saturating_sub(now);
            tracing::info!(key = %key, pause_ms = pause / 1_000_000, "server asked to pause");
            runtime.event(&Event::Paused {
                key,
                pause: Duration::from_nanos(pause),
            });
        }
    }

    /// Sends `request` through `transport` under the key's limits, retrying as configured.
    ///
    /// Exactly one result per call: the final response (which may be a 429 or 5xx when
    /// retries, the budget or the caps ran out) or a [`Failure`]. What happens after each
    /// attempt is decided by the core's call machine ([`headway_core::call::Call`]).
    pub async fn execute<T: Transport>(
        &self,
        transport: &T,
        request: T::Request,
    ) -> Result<Sent<T::Response>, Failure<T::Error>> {
        let inner = &*self.inner;
        let runtime = inner.limiter.runtime();
        let key = transport.key(&request);
        let handle = inner.limiter.key(&key);
        let mut call = self.start(is_idempotent(request.method()), &handle);
        let mut waited_ns = 0u64;
        // The latest attempt's outcome, kept while its retry is pending: if the retry cannot
        // happen (the breaker opened meanwhile, the wait grew too long), the caller gets what
        // the server actually said rather than a less informative error.
        let mut last: Option<Outcome<T>> = None;
        let mut request = request;
        loop {
            let replay = request.try_clone();
            let before = runtime.now_ns();
            let mut permit = match self.admit(&key, &handle).await {
                Ok(permit) => permit,
                Err(e) => return self.finish::<T>(last.unwrap_or(Err(e)), &call, waited_ns),
            };
            waited_ns = waited_ns.saturating_add(runtime.now_ns() - before);
            drop(last.take());
            Counters::bump(&inner.counters.sent);
            let (sent_at, probe) = (permit.admitted_at(), permit.take_probe());
            let result = self.send(transport, request).await;
            drop(permit);
            let heard = Heard {
                probe,
                sent_at,
                replayable: replay.is_some(),
            };
            let (step, outcome, now) =
                self.hear(transport, (&key, &handle), result, heard, &mut call);
            let Step::Retry { after_ns, paused } = step else {
                let outcome = Self::returned::<T>(&key, step, outcome);
                return self.finish::<T>(outcome, &call, waited_ns);
            };
            let Some(replay) = replay else {
                unreachable!("the call machine retries only a replayable request");
            };
            self.retrying::<T>(&key, &call, &outcome, after_ns, paused);
            last = Some(outcome);
            if !paused {
                // No server hint: back off outside the queue. With a hint, the key itself is
                // paused (for every waiter) and the retry simply queues behind the pause.
                waited_ns = waited_ns.saturating_add(after_ns);
                runtime.sleep_until(now.saturating_add(after_ns)).await;
            }
            request = replay;
        }
    }

    /// Counts, logs and reports the retry the call machine decided after `outcome`.
    fn retrying<T: Transport>(
        &self,
        key: &str,
        call: &Call,
        outcome: &Outcome<T>,
        after_ns: u64,
        paused: bool,
    ) {
        Counters::bump(&self.inner.counters.retries);
        tracing::debug!(key = %key, attempt = call.attempts(), delay_ms = after_ns / 1_000_000, "retrying");
        self.inner.limiter.runtime().event(&Event::Retry {
            key,
            attempt: call.attempts(),
            status: outcome.as_ref().ok().map(Response::status),
            delay: Duration::from_nanos(after_ns),
            paused,
        });
    }

    /// One attempt's turn: in the shared store first (when there is one), then the local
    /// one. A shared turn not kept (the call cancelled, or refused here) is given back. One
    /// the local turn came too late for (a pause heard here, the in-flight caps) is given
    /// back too and reserved once more: sent late, turns that were spaced in the store would
    /// go together.
    async fn admit<E>(&self, key: &str, handle: &Key) -> Result<Permit, ClientError<E>> {
        let mut fresh_turns = 1;
        loop {
            let shared = self.shared_turn(key, handle).await?;
            let permit = self.inner.limiter.acquire(key).await?;
            match shared {
                Some((slot, stale_at))
                    if fresh_turns > 0 && self.inner.limiter.runtime().now_ns() > stale_at =>
                {
                    fresh_turns -= 1;
                    tracing::debug!(key = %key, "shared turn went stale locally; reserving again");
                    drop((permit, slot));
                }
                shared => {
                    if let Some((slot, _)) = shared {
                        slot.keep();
                    }
                    return Ok(permit);
                }
            }
        }
    }

    /// The attempt's turn in the shared store, slept until, and the time after which it is
    /// stale (one emission interval of the key's tightest quota past the turn): `None`
    /// without a store or when the key has no configured quota to share.
    async fn shared_turn(
        &self,
        key: &str,
        handle: &Key,
    ) -> Result<Option<(SharedSlot, u64)>, SharedError> {
        let Some(store) = &self.inner.shared else {
            return Ok(None);
        };
        let limiter = &self.inner.limiter;
        let quotas = limiter.configured_quotas(key);
        if quotas.is_empty() {
            return Ok(None);
        }
        let max_wait = limiter.key_policy().max_wait_ns;
        let runtime = limiter.runtime();
        let margin = handle.update(runtime.now_ns(), |m| {
            (u64::from(m.margin_ns()), Changed::default())
        });
        let slot = store
            .reserve_with_margin(key, quotas, 1, max_wait, margin)
            .await?;
        let at = runtime.now_ns().saturating_add(slot.wait_ns());
        let spacing = quotas.iter().map(Quota::emission_interval_ns).min();
        runtime.sleep_until(at).await;
        Ok(Some((slot, at.saturating_add(spacing.unwrap_or(0)))))
    }

    /// A call's retry state; a key with no quota that has never heard from its server sends
    /// this request alone, as its answer may teach the quota before the others go.
    fn start(&self, idempotent: bool, handle: &Key) -> Call {
        let runtime = self.inner.limiter.runtime();
        let policy = RetryPolicy {
            backoff: self.inner.config.backoff,
            retry_non_idempotent: self.inner.config.retry_non_idempotent,
        };
        handle.update(runtime.now_ns(), |m| {
            m.probe_if_unknown();
            ((), Changed::default())
        });
        Call::new(&policy, idempotent, runtime.seed())
    }

    /// The call's outcome once its machine says it is over (any step but a retry).
    fn returned<T: Transport>(key: &str, step: Step, outcome: Outcome<T>) -> Outcome<T> {
        match step {
            Step::TooLong { wait_ns } => Err(ClientError::WaitTooLong {
                wait: Duration::from_nanos(wait_ns),
                server: true,
            }),
            Step::Return(Why::BudgetSpent) => {
                tracing::warn!(key = %key, "retry budget exhausted; returning the last result");
                outcome
            }
            Step::Return(_) | Step::Retry { .. } => outcome,
        }
    }

    /// What one attempt's result means: the key's machine hears it (feedback, breaker), the
    /// call's machine decides the next step. Returns the step, the outcome and the time.
    fn hear<T: Transport>(
        &self,
        transport: &T,
        (key, handle): (&str, &Key),
        result: Result<T::Response, SendError<T::Error>>,
        heard: Heard,
        call: &mut Call,
    ) -> (Step, Outcome<T>, u64) {
        let inner = &*self.inner;
        let runtime = inner.limiter.runtime();
        let now = runtime.now_ns();
        let budget = inner.budget.as_ref();
        match result {
            Err(error) => {
                let attempt = match &error {
                    SendError::Timeout(_) => Attempt::TimedOut,
                    SendError::Transport(e) => Attempt::Failed {
                        permanent: transport.is_permanent(e),
                    },
                };
                self.apply_feedback(key, handle, attempt, &heard, None, now);
                let step = call.next(attempt, heard.replayable, budget, now);
                (step, Err(error.into()), now)
            }
            Ok(response) => {
                let status = response.status();
                let options = feedback::Options::new(inner.config.max_wait);
                let headers = HeadersOf(&response);
                let interpretation =
                    feedback::interpret(status, &headers, runtime.wall_ms(), &options);
                if status == 429 {
                    Counters::bump(&inner.counters.rate_limited);
                }
                let attempt = Attempt::Response {
                    status,
                    interpretation: &interpretation,
                };
                self.apply_feedback(key, handle, attempt, &heard, response.sent_at(), now);
                let step = call.next(attempt, heard.replayable, budget, now);
                (step, Ok(response), now)
            }
        }
    }

    /// The call's one result, counted: a response is a success or not as the core says
    /// ([`succeeded`]), and no response is a failure.
    fn finish<T: Transport>(
        &self,
        outcome: Outcome<T>,
        call: &Call,
        waited_ns: u64,
    ) -> Result<Sent<T::Response>, Failure<T::Error>> {
        let counters = &self.inner.counters;
        let attempts = call.attempts();
        let waited = Duration::from_nanos(waited_ns);
        match outcome {
            Ok(response) => {
                let counter = if succeeded(response.status()) {
                    &counters.succeeded
                } else {
                    &counters.unsuccessful
                };
                Counters::bump(counter);
                Ok(Sent {
                    response,
                    attempts,
                    waited,
                })
            }
            Err(error) => {
                Counters::bump(&counters.failed);
                Err(Failure {
                    error,
                    attempts,
                    waited,
                })
            }
        }
    }

    /// One send, bounded by the per-attempt timeout.
    async fn send<T: Transport>(
        &self,
        transport: &T,
        request: T::Request,
    ) -> Result<T::Response, SendError<T::Error>> {
        let sending = transport.send(request);
        let Some(timeout) = self.inner.config.timeout else {
            return sending.await.map_err(SendError::Transport);
        };
        let runtime = self.inner.limiter.runtime();
        let deadline = runtime.now_ns().saturating_add(saturating_nanos(timeout));
        match select(pin!(sending), pin!(runtime.sleep_until(deadline))).await {
            Either::Left((result, _)) => result.map_err(SendError::Transport),
            Either::Right(((), _)) => Err(SendError::Timeout(timeout)),
        }
    }
}

/// One attempt's outcome: a response, or why there was none.
type Outcome<T> = Result<<T as Transport>::Response, ClientError<<T as Transport>::Error>>;

/// What an attempt went with: the breaker's permit, when it was admitted, and whether it
/// can be sent again.
struct Heard {
    probe: Option<Probe>,
    sent_at: u64,
    replayable: bool,
}

/// A send that produced no response.
enum SendError<E> {
    Transport(E),
    Timeout(Duration),
}

impl<E> From<SendError<E>> for ClientError<E> {
    fn from(e: SendError<E>) -> Self {
        match e {
            SendError::Transport(e) => ClientError::Transport(e),
            SendError::Timeout(after) => ClientError::Timeout { after },
        }
    }
}
