//! One key's scheduler: a FIFO queue of waiters in front of the core's per-key state machine
//! ([`KeyMachine`]), which holds the quotas, tiers, pause, probe, in-flight count and breaker
//! and makes every decision about them.
//!
//! Only the waiter at the head of the queue looks at the clock. It computes when its request
//! conforms, sleeps once until then, and commits; then it wakes the next waiter, which becomes
//! the head. Nothing is consumed while waiting, so a cancelled waiter (a dropped future)
//! leaves no trace: it is removed from the queue and, if it was the head, the next waiter is
//! woken. Feedback that changes the plan (a pause, a learned quota) wakes the head, which
//! re-plans. Each waiter is therefore woken a constant number of times: when it becomes the
//! head, and when its time comes.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use headway_core::breaker::Permit as Probe;
use headway_core::duration::saturating_nanos;
use headway_core::key::{
    self, Changed, KeyError, KeyMachine, KeyPolicy, QuotaSource, Refused, Tier, Turn,
};
use headway_core::{Impossible, Quota, Schedule};

use crate::runtime::Runtime;
use crate::slots::Slots;
use crate::{lock, millis_up};

/// Why an acquisition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
    /// `n` can never fit the key's quota (it exceeds the burst): the core's one error for it.
    Impossible(Impossible),
    /// The wait would exceed the configured `max_wait`, counted from the moment the waiter
    /// queued (waits for an in-flight slot are not counted: they end when a request does).
    WaitTooLong {
        /// The wait from the moment the waiter queued that would have been needed
        /// (saturated).
        wait: Duration,
    },
    /// The key's circuit breaker stays open (or its probe out) past the waiter's `max_wait`.
    CircuitOpen {
        /// The time until a probe may go.
        retry_in: Duration,
    },
}

impl From<Refused> for AcquireError {
    fn from(r: Refused) -> AcquireError {
        match r {
            Refused::Impossible(i) => AcquireError::Impossible(i),
            Refused::WaitTooLong { wait_ns } => AcquireError::WaitTooLong {
                wait: Duration::from_nanos(wait_ns),
            },
            Refused::CircuitOpen { retry_in_ns } => AcquireError::CircuitOpen {
                retry_in: Duration::from_nanos(retry_in_ns),
            },
        }
    }
}

impl From<AcquireError> for Refused {
    fn from(e: AcquireError) -> Refused {
        match e {
            AcquireError::Impossible(i) => Refused::Impossible(i),
            AcquireError::WaitTooLong { wait } => Refused::WaitTooLong {
                wait_ns: saturating_nanos(wait),
            },
            AcquireError::CircuitOpen { retry_in } => Refused::CircuitOpen {
                retry_in_ns: saturating_nanos(retry_in),
            },
        }
    }
}

/// The core's message for each refusal.
impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Refused::from(*self).fmt(f)
    }
}

impl std::error::Error for AcquireError {}

/// Why [`crate::Limiter::try_acquire`] did not grant a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Not now: the rate allows it in `wait`, or other waiters are queued first (`wait` is
    /// then a lower bound).
    NotYet {
        /// The time until the rate would allow it (a lower bound if others are queued).
        wait: Duration,
    },
    /// The in-flight cap is reached.
    AtCapacity,
    /// `n` can never fit the key's quota, or the wait exceeds `max_wait`.
    Never(AcquireError),
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::NotYet { wait } => {
                write!(f, "rate limited: retry in {} ms", millis_up(*wait))
            }
            TryAcquireError::AtCapacity => f.write_str("too many requests in flight"),
            TryAcquireError::Never(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TryAcquireError {}

/// A snapshot of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySnapshot {
    /// The quotas in force (empty when unlimited).
    pub quotas: Vec<Quota>,
    /// Where they came from.
    pub source: QuotaSource,
    /// The time until the key's pause ends (zero when not paused).
    pub paused_for: Duration,
    /// Waiters queued.
    pub queued: usize,
    /// Requests in flight.
    pub in_flight: u32,
    /// The safety margin each admission's spacing carries now (zero without one; see
    /// [`headway_core::key::MarginPolicy`]).
    pub margin: Duration,
}

/// One queued acquisition.
#[derive(Debug)]
struct Waiter {
    waker: Option<Waker>,
    /// Its cells, when it queued and its deadline, as the key plans them.
    plan: key::Waiter,
    /// Set when re-planning refused it a turn: it fails on its next poll.
    failed: Option<Refused>,
}

/// The state of one key behind the key's lock: the core's machine, which decides, and the
/// FIFO queue of waiters in front of it.
#[derive(Debug)]
pub(crate) struct KeyState {
    machine: KeyMachine<Box<[Tier]>>,
    queue: BTreeMap<u64, Waiter>,
    /// The rate state once every queued waiter has had its turn, as planned; `None` when
    /// something changed since and it must be planned again. Boxed: an idle key keeps one
    /// pointer, not a whole schedule.
    tail: Option<Box<Schedule>>,
    next_ticket: u64,
}

impl KeyState {
    /// Plans every queued waiter's turn again from the state as it is, in queue order. A
    /// waiter the key now refuses a turn is failed and woken at once (it takes no turn).
    /// Returns the state once all the others have had theirs.
    fn replan(&mut self, now: u64) -> Schedule {
        let mut ahead = self.machine.schedule();
        for waiter in self.queue.values_mut().filter(|w| w.failed.is_none()) {
            if let Err(refused) = self.machine.plan_waiter(&mut ahead, &waiter.plan, now) {
                waiter.failed = Some(refused);
                if let Some(w) = &waiter.waker {
                    w.wake_by_ref();
                }
            }
        }
        ahead
    }

    /// Applies what an event changed: waiters re-plan, and those that can no longer go
    /// within their `max_wait` fail now.
    fn apply(&mut self, changed: Changed, now: u64) {
        if changed.replan {
            self.tail = (!self.queue.is_empty()).then(|| Box::new(self.replan(now)));
            self.wake_head();
        }
    }

    /// Queues a waiter for `n` cells at `now`, or refuses it at once when the key gives it
    /// no turn behind every waiter already queued.
    fn enqueue(&mut self, n: u32, now: u64, max_wait_ns: u64) -> Result<u64, Refused> {
        let plan = key::Waiter::new(n, now, max_wait_ns);
        let mut tail = match self.tail.as_deref() {
            Some(tail) => *tail,
            None => self.replan(now),
        };
        self.machine.plan_waiter(&mut tail, &plan, now)?;
        match &mut self.tail {
            Some(boxed) => **boxed = tail,
            None => self.tail = Some(Box::new(tail)),
        }
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        let waiter = Waiter {
            waker: None,
            plan,
            failed: None,
        };
        self.queue.insert(ticket, waiter);
        Ok(ticket)
    }

    /// Stores the waker of a waiter that stays queued.
    fn park(&mut self, ticket: u64, waker: &Waker) {
        if let Some(w) = self.queue.get_mut(&ticket) {
            match &w.waker {
                Some(old) if old.will_wake(waker) => {}
                _ => w.waker = Some(waker.clone()),
            }
        }
    }

    fn wake_head(&self) {
        if let Some((_, Waiter { waker: Some(w), .. })) = self.queue.first_key_value() {
            w.wake_by_ref();
        }
    }
}

/// One key: its state and the shared in-flight cap.
#[derive(Debug)]
pub(crate) struct Key {
    state: Mutex<KeyState>,
    global: Option<Arc<Slots>>,
}

impl Key {
    pub(crate) fn new(
        configured: &[Quota],
        policy: &KeyPolicy,
        shared: bool,
        global: Option<Arc<Slots>>,
    ) -> Result<Key, KeyError> {
        let mut machine = KeyMachine::new(configured, policy)?;
        if shared {
            machine.share_configured();
        }
        Ok(Key {
            state: Mutex::new(KeyState {
                machine,
                queue: BTreeMap::new(),
                tail: None,
                next_ticket: 0,
            }),
            global,
        })
    }

    /// Queues a waiter for `n` cells. A waiter that can never go within `max_wait_ns` of
    /// now is not queued: the future fails on its first poll.
    pub(crate) fn acquire<R: Runtime>(
        self: &Arc<Key>,
        runtime: R,
        n: u32,
        max_wait_ns: u64,
    ) -> Acquire<R> {
        let now = runtime.now_ns();
        let queued = lock(&self.state).enqueue(n, now, max_wait_ns);
        Acquire {
            key: Arc::clone(self),
            runtime,
            ticket: queued.unwrap_or(0),
            n,
            sleep: None,
            global_ticket: None,
            refused: queued.err().map(AcquireError::from),
            done: false,
        }
    }

    /// Takes `n` cells now if the rate and caps allow it and nobody is queued.
    pub(crate) fn try_acquire(
        self: &Arc<Key>,
        now: u64,
        n: u32,
        max_wait_ns: u64,
    ) -> Result<Permit, TryAcquireError> {
        let mut st = lock(&self.state);
        let plan = key::Waiter::new(n, now, max_wait_ns);
        let take_slot = || self.global.as_ref().map_or(true, |g| g.try_take_now());
        let queued = !st.queue.is_empty();
        match st.machine.try_turn(&plan, queued, now, take_slot) {
            Turn::Go { probe, .. } => {
                // Nobody was queued: the tail (if one was kept) did not plan this admission.
                st.tail = None;
                Ok(Permit {
                    key: Arc::clone(self),
                    at: now,
                    probe,
                })
            }
            Turn::At(t) => Err(TryAcquireError::NotYet {
                wait: Duration::from_nanos(t.saturating_sub(now)),
            }),
            Turn::Blocked => Err(TryAcquireError::AtCapacity),
            Turn::Refused(r) => Err(TryAcquireError::Never(r.into())),
        }
    }

    /// Runs one event through the key's machine under its lock, and lets waiters re-plan
    /// when it changed their plan.
    pub(crate) fn update<T>(
        &self,
        now: u64,
        event: impl FnOnce(&mut KeyMachine<Box<[Tier]>>) -> (T, Changed),
    ) -> T {
        let mut st = lock(&self.state);
        let (out, changed) = event(&mut st.machine);
        st.apply(changed, now);
        out
    }

    /// True when dropping this key loses nothing: no waiters, and the machine idle.
    pub(crate) fn is_idle(&self, now: u64) -> bool {
        let st = lock(&self.state);
        st.queue.is_empty() && st.machine.is_idle(now)
    }

    pub(crate) fn snapshot(&self, now: u64) -> KeySnapshot {
        let st = lock(&self.state);
        KeySnapshot {
            quotas: st.machine.quotas().collect(),
            source: st.machine.source(),
            paused_for: Duration::from_nanos(st.machine.paused_until().saturating_sub(now)),
            queued: st.queue.len(),
            in_flight: st.machine.in_flight(),
            margin: Duration::from_nanos(st.machine.margin_ns().into()),
        }
    }

    /// A permit ended; its probe, if it was never reported, is given back unsent.
    fn release(&self, probe: Option<Probe>) {
        if let Some(g) = &self.global {
            g.release();
        }
        let mut st = lock(&self.state);
        st.machine.release();
        if let (Some(b), Some(p)) = (st.machine.breaker(), probe) {
            b.release_probe(p);
        }
        st.wake_head();
    }
}

/// The right to send one request: holds an in-flight slot until dropped.
#[derive(Debug)]
#[must_use = "dropping the permit frees its in-flight slot"]
pub struct Permit {
    key: Arc<Key>,
    at: u64,
    /// The key's breaker's permit for this request, until its outcome is reported.
    probe: Option<Probe>,
}

impl Permit {
    /// When the permit was granted, on the runtime's clock (nanoseconds).
    pub fn admitted_at(&self) -> u64 {
        self.at
    }

    /// The breaker's permit, to report the request's outcome with
    /// ([`KeyMachine::report`]); `None` without a breaker or once taken.
    pub(crate) fn take_probe(&mut self) -> Option<Probe> {
        self.probe.take()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.key.release(self.probe);
    }
}

/// A queued acquisition; resolves to a [`Permit`] at the request's time. Dropping it gives its
/// place in the queue back.
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<R: Runtime> {
    key: Arc<Key>,
    runtime: R,
    ticket: u64,
    n: u32,
    sleep: Option<(u64, Pin<Box<R::Sleep>>)>,
    global_ticket: Option<u64>,
    /// Refused when it asked to queue: returned on the first poll.
    refused: Option<AcquireError>,
    done: bool,
}

impl<R: Runtime> fmt::Debug for Acquire<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("ticket", &self.ticket)
            .field("n", &self.n)
            .field("done", &self.done)
            .finish()
    }
}

impl<R: Runtime> Acquire<R> {
    /// Leaves the queue for good, waking the next head. A waiter that leaves without its
    /// turn (cancelled, failed) lets those behind it move up: their turns are planned again
    /// when next needed. One admitted took the turn the tail was planned with.
    fn finish(&mut self, st: &mut KeyState, admitted: bool) {
        self.done = true;
        // Its timer goes with it.
        self.sleep = None;
        if st.queue.remove(&self.ticket).is_some() && !admitted {
            st.tail = None;
        }
        st.wake_head();
        if let Some(g) = &self.key.global {
            g.leave(&mut self.global_ticket);
        }
    }

    fn stop_waiting_for_slot(&mut self) {
        if let Some(g) = &self.key.global {
            g.leave(&mut self.global_ticket);
        }
    }
}

// The sleep is boxed and nothing else is self-referential: moving an `Acquire` is fine.
impl<R: Runtime> Unpin for Acquire<R> {}

/// What one look at the key decided for a waiter.
enum Look {
    /// Done: granted or refused.
    Done(Result<Permit, AcquireError>),
    /// Its turn comes at this time: sleep until then and look again.
    SleepUntil(u64),
    /// Not its turn yet (not the head, or no in-flight slot): woken when that changes.
    Parked,
}

impl<R: Runtime> Acquire<R> {
    /// Looks at the key once, under its lock: refused, granted, or how to wait.
    fn turn(&mut self, st: &mut KeyState, now: u64, cx: &Context<'_>) -> Look {
        let Some(me) = st.queue.get(&self.ticket) else {
            unreachable!("a waiter stays queued until it finishes");
        };
        let (plan, failed) = (me.plan, me.failed);
        if let Some(failed) = failed {
            self.finish(st, false);
            return Look::Done(Err(failed.into()));
        }
        if st.queue.keys().next() != Some(&self.ticket) {
            st.park(self.ticket, cx.waker());
            return Look::Parked;
        }
        let (global, ticket) = (self.key.global.as_deref(), &mut self.global_ticket);
        let mut asked = false;
        let take_slot = || {
            asked = true;
            global.map_or(true, |g| g.try_take(ticket, cx.waker()))
        };
        match st.machine.turn(&plan, now, take_slot) {
            key::Turn::Go { probe, late_ns } => {
                // Admitted late, the tail can have moved by the lateness at most: it is
                // moved by that much rather than planned again, so that an admission costs
                // the same however many wait behind it.
                if let Some(tail) = &mut st.tail {
                    tail.delay(late_ns);
                }
                self.finish(st, true);
                Look::Done(Ok(Permit {
                    key: Arc::clone(&self.key),
                    at: now,
                    probe,
                }))
            }
            key::Turn::At(at) => {
                st.park(self.ticket, cx.waker());
                Look::SleepUntil(at)
            }
            key::Turn::Blocked => {
                st.park(self.ticket, cx.waker());
                if !asked {
                    // The key's own cap: woken by the next permit released on this key,
                    // holding no place in the shared cap's queue meanwhile.
                    self.stop_waiting_for_slot();
                }
                Look::Parked
            }
            key::Turn::Refused(refused) => {
                self.finish(st, false);
                Look::Done(Err(refused.into()))
            }
        }
    }

    /// Polls the sleep until `at`, creating it (once per deadline) if needed.
    fn sleep_until(&mut self, at: u64, cx: &mut Context<'_>) -> Poll<()> {
        let sleep = match &mut self.sleep {
            Some((deadline, sleep)) if *deadline == at => sleep,
            slot => {
                let sleep = Box::pin(self.runtime.sleep_until(at));
                &mut slot.insert((at, sleep)).1
            }
        };
        let polled = sleep.as_mut().poll(cx);
        if polled.is_ready() {
            self.sleep = None;
        }
        polled
    }
}

impl<R: Runtime> Future for Acquire<R> {
    type Output = Result<Permit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.done {
            return Poll::Pending;
        }
        if let Some(refused) = this.refused.take() {
            this.done = true;
            return Poll::Ready(Err(refused));
        }
        let key = Arc::clone(&this.key);
        loop {
            let now = this.runtime.now_ns();
            let turn = this.turn(&mut lock(&key.state), now, cx);
            match turn {
                Look::Done(result) => return Poll::Ready(result),
                Look::Parked => return Poll::Pending,
                Look::SleepUntil(at) => {
                    // Waiting for the rate, it holds no in-flight slot.
                    this.stop_waiting_for_slot();
                    if this.sleep_until(at, cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl<R: Runtime> Drop for Acquire<R> {
    fn drop(&mut self) {
        if !self.done {
            let key = Arc::clone(&self.key);
            let mut st = lock(&key.state);
            self.finish(&mut st, false);
        }
    }
}
