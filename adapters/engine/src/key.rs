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

use headway_core::key::{Changed, KeyError, KeyMachine, KeyPolicy, QuotaSource, Tier};
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
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Impossible(i) => i.fmt(f),
            AcquireError::WaitTooLong { wait } => write!(
                f,
                "the rate limit would make this request wait {} ms, longer than max_wait",
                millis_up(*wait)
            ),
        }
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
    n: u32,
    /// When it queued: `max_wait` counts from here.
    queued_at: u64,
    /// The latest turn it accepts: `queued_at + max_wait`.
    deadline: u64,
    /// Set when re-planning found its turn past the deadline: it fails on its next poll.
    failed: Option<AcquireError>,
}

/// The state of one key behind the key's lock: the core's machine, which decides, and the
/// FIFO queue of waiters in front of it.
#[derive(Debug)]
pub(crate) struct KeyState {
    machine: KeyMachine<Vec<Tier>>,
    queue: BTreeMap<u64, Waiter>,
    /// The rate state once every queued waiter has had its turn, as planned; `None` when
    /// something changed since and it must be planned again. Boxed: an idle key keeps one
    /// pointer, not a whole schedule.
    tail: Option<Box<Schedule>>,
    next_ticket: u64,
}

impl KeyState {
    /// When `n` cells would go if every waiter on `ahead` had gone at its turn, admitting
    /// them on `ahead`.
    fn plan_turn(&self, ahead: &mut Schedule, n: u32, now: u64) -> Result<u64, AcquireError> {
        self.machine
            .plan_on(ahead, n, now)
            .map_err(AcquireError::from)
    }

    /// Plans every queued waiter's turn again from the state as it is, in queue order. A
    /// waiter whose turn now falls past its deadline is failed and woken at once (it takes
    /// no turn). Returns the state once all the others have had theirs.
    fn replan(&mut self, now: u64) -> Schedule {
        let mut ahead = self.machine.schedule();
        let mut queue = std::mem::take(&mut self.queue);
        for waiter in queue.values_mut().filter(|w| w.failed.is_none()) {
            // Planned on a copy: a waiter that fails takes no turn from those behind it.
            let mut planned = ahead;
            let failed = match self.plan_turn(&mut planned, waiter.n, now) {
                Ok(turn) if turn <= waiter.deadline => {
                    ahead = planned;
                    continue;
                }
                Ok(turn) => AcquireError::WaitTooLong {
                    wait: Duration::from_nanos(turn - waiter.queued_at),
                },
                Err(impossible) => impossible,
            };
            waiter.failed = Some(failed);
            if let Some(w) = &waiter.waker {
                w.wake_by_ref();
            }
        }
        self.queue = queue;
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

    /// Queues a waiter for `n` cells at `now`, or refuses it at once when its turn, behind
    /// every waiter already queued, would come later than `max_wait_ns` from now.
    fn enqueue(&mut self, n: u32, now: u64, max_wait_ns: u64) -> Result<u64, AcquireError> {
        let mut tail = match self.tail.as_deref() {
            Some(tail) => *tail,
            None => self.replan(now),
        };
        let turn = self.plan_turn(&mut tail, n, now)?;
        let deadline = now.saturating_add(max_wait_ns);
        if turn > deadline {
            return Err(AcquireError::WaitTooLong {
                wait: Duration::from_nanos(turn - now),
            });
        }
        match &mut self.tail {
            Some(boxed) => **boxed = tail,
            None => self.tail = Some(Box::new(tail)),
        }
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        let waiter = Waiter {
            waker: None,
            n,
            queued_at: now,
            deadline,
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

    /// Admits `n` cells at `now`, whose turn was `turn`; the caller has checked that they
    /// conform. Admitted late (a late wake), the tail can have moved by the lateness at
    /// most: it is moved by that much rather than planned again, so that an admission costs
    /// the same however many wait behind it.
    fn commit(&mut self, n: u32, now: u64, turn: u64) {
        self.machine.commit(n, now);
        if let Some(tail) = &mut self.tail {
            tail.delay(now - turn.min(now));
        }
    }

    fn wake_head(&self) {
        if let Some((_, Waiter { waker: Some(w), .. })) = self.queue.first_key_value() {
            w.wake_by_ref();
        }
    }
}

impl From<Impossible> for AcquireError {
    fn from(i: Impossible) -> AcquireError {
        AcquireError::Impossible(i)
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
        global: Option<Arc<Slots>>,
    ) -> Result<Key, KeyError> {
        Ok(Key {
            state: Mutex::new(KeyState {
                machine: KeyMachine::new(configured, policy)?,
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
            refused: queued.err(),
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
        let ready = st
            .machine
            .ready_at(n, now)
            .map_err(|i| TryAcquireError::Never(i.into()))?;
        let wait_ns = ready - now;
        let wait = Duration::from_nanos(wait_ns);
        if wait_ns > max_wait_ns {
            return Err(TryAcquireError::Never(AcquireError::WaitTooLong { wait }));
        }
        if wait_ns > 0 || !st.queue.is_empty() {
            return Err(TryAcquireError::NotYet { wait });
        }
        if !st.machine.may_send() {
            return Err(TryAcquireError::AtCapacity);
        }
        if let Some(g) = &self.global {
            if !g.try_take_now() {
                return Err(TryAcquireError::AtCapacity);
            }
        }
        st.commit(n, now, now);
        // Nobody was queued: the tail (if one was kept) did not plan this admission.
        st.tail = None;
        Ok(Permit {
            key: Arc::clone(self),
            at: now,
        })
    }

    /// Runs one event through the key's machine under its lock, and lets waiters re-plan
    /// when it changed their plan.
    pub(crate) fn update<T>(
        &self,
        now: u64,
        event: impl FnOnce(&mut KeyMachine<Vec<Tier>>) -> (T, Changed),
    ) -> T {
        let mut st = lock(&self.state);
        let (out, changed) = event(&mut st.machine);
        st.apply(changed, now);
        out
    }

    /// Reads the key's machine under its lock.
    pub(crate) fn read<T>(&self, read: impl FnOnce(&KeyMachine<Vec<Tier>>) -> T) -> T {
        read(&lock(&self.state).machine)
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

    fn release(&self) {
        if let Some(g) = &self.global {
            g.release();
        }
        let mut st = lock(&self.state);
        st.machine.release();
        st.wake_head();
    }
}

/// The right to send one request: holds an in-flight slot until dropped.
#[derive(Debug)]
#[must_use = "dropping the permit frees its in-flight slot"]
pub struct Permit {
    key: Arc<Key>,
    at: u64,
}

impl Permit {
    /// When the permit was granted, on the runtime's clock (nanoseconds).
    pub fn admitted_at(&self) -> u64 {
        self.at
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.key.release();
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
enum Turn {
    /// Done: granted or refused.
    Done(Result<Permit, AcquireError>),
    /// Its turn comes at this time: sleep until then and look again.
    SleepUntil(u64),
    /// Not its turn yet (not the head, or no in-flight slot): woken when that changes.
    Parked,
}

impl<R: Runtime> Acquire<R> {
    /// Looks at the key once, under its lock: refused, granted, or how to wait.
    fn turn(&mut self, st: &mut KeyState, now: u64, cx: &Context<'_>) -> Turn {
        let Some(me) = st.queue.get(&self.ticket) else {
            unreachable!("a waiter stays queued until it finishes");
        };
        let (queued_at, deadline, failed) = (me.queued_at, me.deadline, me.failed);
        if let Some(failed) = failed {
            self.finish(st, false);
            return Turn::Done(Err(failed));
        }
        if st.queue.keys().next() != Some(&self.ticket) {
            st.park(self.ticket, cx.waker());
            return Turn::Parked;
        }
        let ready_at = match st.machine.ready_at(self.n, now) {
            Ok(t) => t,
            Err(e) => {
                self.finish(st, false);
                return Turn::Done(Err(e.into()));
            }
        };
        if ready_at > now {
            if ready_at > deadline {
                self.finish(st, false);
                let wait = Duration::from_nanos(ready_at - queued_at);
                return Turn::Done(Err(AcquireError::WaitTooLong { wait }));
            }
            st.park(self.ticket, cx.waker());
            return Turn::SleepUntil(ready_at);
        }
        self.sleep = None;
        if !st.machine.may_send() {
            // Woken by the next permit released on this key.
            st.park(self.ticket, cx.waker());
            self.stop_waiting_for_slot();
            return Turn::Parked;
        }
        if let Some(g) = &self.key.global {
            if !g.try_take(&mut self.global_ticket, cx.waker()) {
                st.park(self.ticket, cx.waker());
                return Turn::Parked;
            }
        }
        st.commit(self.n, now, ready_at);
        self.finish(st, true);
        Turn::Done(Ok(Permit {
            key: Arc::clone(&self.key),
            at: now,
        }))
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
                Turn::Done(result) => return Poll::Ready(result),
                Turn::Parked => return Poll::Pending,
                Turn::SleepUntil(at) => {
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
