//! One key's scheduler: a FIFO queue of waiters in front of a multi-tier GCRA limiter, a
//! pause set by server feedback, and an in-flight count.
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

use headway_core::{Quota, Refusal, Schedule, Tiers};

use crate::lock;
use crate::runtime::Runtime;
use crate::slots::Slots;

/// Where a key's quotas came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaSource {
    /// No quota: the key is limited only by pauses and in-flight caps until one is learned.
    None,
    /// Configured by the caller.
    Configured,
    /// Learned from the server's `RateLimit-Policy` or pacing headers.
    Learned,
}

/// Why an acquisition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
    /// `n` can never fit the key's quota (it exceeds the burst).
    Impossible {
        /// Cells asked for.
        n: u32,
        /// The most one request may take.
        burst: u32,
    },
    /// The wait would exceed the configured `max_wait`, counted from the moment the waiter
    /// queued (waits for an in-flight slot are not counted: they end when a request does).
    WaitTooLong {
        /// The wait from the moment the waiter queued that would have been needed, in
        /// nanoseconds (saturated).
        wait_ns: u64,
    },
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Impossible { n, burst } => {
                write!(
                    f,
                    "{n} permits can never fit a quota whose burst is {burst}"
                )
            }
            AcquireError::WaitTooLong { wait_ns } => write!(
                f,
                "rate limit wait of {} ms exceeds max_wait",
                wait_ns / 1_000_000
            ),
        }
    }
}

impl std::error::Error for AcquireError {}

/// Why [`crate::Limiter::try_acquire`] did not grant a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Not now: the rate allows it in `wait_ns`, or other waiters are queued first
    /// (`wait_ns` is then a lower bound).
    NotYet {
        /// Nanoseconds until the rate would allow it (a lower bound if others are queued).
        wait_ns: u64,
    },
    /// The in-flight cap is reached.
    AtCapacity,
    /// `n` can never fit the key's quota, or the wait exceeds `max_wait`.
    Never(AcquireError),
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::NotYet { wait_ns } => {
                write!(
                    f,
                    "rate limited: retry in {} ms",
                    wait_ns.div_ceil(1_000_000)
                )
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
    /// Nanoseconds until the key's pause ends (0 when not paused).
    pub paused_for_ns: u64,
    /// Waiters queued.
    pub queued: usize,
    /// Requests in flight.
    pub in_flight: u32,
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

/// The mutable state of one key, behind the key's lock.
#[derive(Debug)]
pub(crate) struct KeyState {
    limiter: Option<Tiers>,
    configured: Vec<Quota>,
    learned: Vec<Quota>,
    pacing: Option<Quota>,
    pause_until: u64,
    queue: BTreeMap<u64, Waiter>,
    /// The rate state once every queued waiter has had its turn, as planned; `None` when
    /// something changed since and it must be planned again.
    tail: Option<Schedule>,
    next_ticket: u64,
    in_flight: u32,
    max_in_flight: Option<u32>,
    /// No quota yet and nothing heard from the server: one request at a time, so the first
    /// response can teach the quota before a whole window of requests hits an unknown limit.
    probing: bool,
    /// The server has answered (or failed) a request on this key at least once.
    heard: bool,
}

impl KeyState {
    /// The quotas that apply: configured ones win over learned ones; a pacing quota derived
    /// from `remaining`/`reset` is added as one more tier.
    fn effective(&self) -> Vec<Quota> {
        let base = if self.configured.is_empty() {
            &self.learned
        } else {
            &self.configured
        };
        let mut all: Vec<Quota> = base.clone();
        if let Some(p) = self.pacing {
            all.push(p);
        }
        all.truncate(headway_core::MAX_TIERS);
        all
    }

    /// Rebuilds the limiter after a quota change, keeping the state of tiers that remain.
    fn rebuild(&mut self) {
        let quotas = self.effective();
        match (&mut self.limiter, quotas.is_empty()) {
            (_, true) => self.limiter = None,
            (Some(tiers), false) => {
                // The list is non-empty and at most MAX_TIERS long, so this cannot fail.
                let _ = tiers.set_quotas(&quotas);
            }
            (None, false) => self.limiter = Tiers::new(&quotas).ok(),
        }
    }

    /// When `n` cells would go if every waiter on `ahead` had gone at its turn, admitting
    /// them on `ahead` (never before `now` or the pause).
    fn plan_turn(
        &self,
        ahead: &mut Option<Schedule>,
        n: u32,
        now: u64,
    ) -> Result<u64, AcquireError> {
        let at = now.max(self.pause_until);
        match (&self.limiter, ahead) {
            (Some(tiers), Some(schedule)) => {
                tiers
                    .plan_on(schedule, n, at)
                    .map_err(|i| AcquireError::Impossible {
                        n: i.n,
                        burst: i.burst,
                    })
            }
            _ => Ok(at),
        }
    }

    /// Plans every queued waiter's turn again from the state as it is, in queue order. A
    /// waiter whose turn now falls past its deadline is failed and woken at once (it takes
    /// no turn). Returns the state once all the others have had theirs.
    fn replan(&mut self, now: u64) -> Option<Schedule> {
        let mut ahead = self.limiter.as_ref().map(Tiers::schedule);
        let mut queue = std::mem::take(&mut self.queue);
        for waiter in queue.values_mut().filter(|w| w.failed.is_none()) {
            let turn = match self.plan_turn(&mut ahead, waiter.n, now) {
                Ok(turn) if turn <= waiter.deadline => continue,
                Ok(turn) => AcquireError::WaitTooLong {
                    wait_ns: turn - waiter.queued_at,
                },
                Err(impossible) => impossible,
            };
            waiter.failed = Some(turn);
            if let Some(w) = &waiter.waker {
                w.wake_by_ref();
            }
        }
        self.queue = queue;
        ahead
    }

    /// Something changed the plan (a pause, a quota): waiters re-plan, and those that can no
    /// longer go within their `max_wait` fail now.
    fn changed(&mut self, now: u64) {
        self.tail = None;
        if !self.queue.is_empty() {
            self.tail = self.replan(now);
        }
        self.wake_head();
    }

    /// Queues a waiter for `n` cells at `now`, or refuses it at once when its turn, behind
    /// every waiter already queued, would come later than `max_wait_ns` from now.
    fn enqueue(&mut self, n: u32, now: u64, max_wait_ns: u64) -> Result<u64, AcquireError> {
        if self.tail.is_none() {
            self.tail = self.replan(now);
        }
        let mut tail = self.tail;
        let turn = self.plan_turn(&mut tail, n, now)?;
        let deadline = now.saturating_add(max_wait_ns);
        if turn > deadline {
            return Err(AcquireError::WaitTooLong {
                wait_ns: turn - now,
            });
        }
        self.tail = tail;
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

    /// When `n` cells conform (never before `now`), or why they never will.
    fn ready_at(&self, n: u32, now: u64) -> Result<u64, AcquireError> {
        let at = now.max(self.pause_until);
        match &self.limiter {
            None => Ok(at),
            Some(tiers) => match tiers.peek_n(n, at) {
                Ok(()) => Ok(at),
                Err(Refusal::Later(d)) => Ok(d.ready_at()),
                Err(Refusal::Never(i)) => Err(AcquireError::Impossible {
                    n: i.n,
                    burst: i.burst,
                }),
            },
        }
    }

    /// Commits `n` cells at `now`; the caller has checked that they conform.
    fn commit(&mut self, n: u32, now: u64) {
        if let Some(tiers) = &self.limiter {
            let admitted = tiers.check_n(n, now);
            debug_assert!(admitted.is_ok(), "committed a request that did not conform");
            // Admitted later than planned (a late wake), the tail moved: plan it again.
            self.tail = None;
        }
        self.in_flight += 1;
    }

    fn has_capacity(&self) -> bool {
        let cap = if self.probing {
            Some(1)
        } else {
            self.max_in_flight
        };
        cap.map_or(true, |max| self.in_flight < max)
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
        configured: Vec<Quota>,
        max_in_flight: Option<u32>,
        global: Option<Arc<Slots>>,
    ) -> Key {
        let mut state = KeyState {
            limiter: None,
            configured,
            learned: Vec::new(),
            pacing: None,
            pause_until: 0,
            queue: BTreeMap::new(),
            tail: None,
            next_ticket: 0,
            in_flight: 0,
            max_in_flight,
            probing: false,
            heard: false,
        };
        state.rebuild();
        Key {
            state: Mutex::new(state),
            global,
        }
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
        let ready = st.ready_at(n, now).map_err(TryAcquireError::Never)?;
        let wait_ns = ready - now;
        if wait_ns > max_wait_ns {
            return Err(TryAcquireError::Never(AcquireError::WaitTooLong {
                wait_ns,
            }));
        }
        if wait_ns > 0 || !st.queue.is_empty() {
            return Err(TryAcquireError::NotYet { wait_ns });
        }
        if !st.has_capacity() {
            return Err(TryAcquireError::AtCapacity);
        }
        if let Some(g) = &self.global {
            if !g.try_take_now() {
                return Err(TryAcquireError::AtCapacity);
            }
        }
        st.commit(n, now);
        Ok(Permit {
            key: Arc::clone(self),
        })
    }

    /// Nothing is admitted on this key before `until`; every queued waiter re-plans, and
    /// those it pushes past their `max_wait` fail at once.
    pub(crate) fn pause_until(&self, until: u64, now: u64) {
        let mut st = lock(&self.state);
        if until > st.pause_until {
            st.pause_until = until;
            st.changed(now);
        }
    }

    /// Installs quotas learned from the server (ignored while configured quotas exist).
    ///
    /// When these are the key's first quotas, the requests already sent without one (the one
    /// that taught them, and any still in flight) are charged at `now`, so the next request
    /// is spaced after them rather than sent at once into a limit they already used.
    pub(crate) fn set_learned(&self, quotas: &[Quota], now: u64) -> bool {
        let mut st = lock(&self.state);
        if st.learned == quotas {
            return false;
        }
        let first = st.learned.is_empty() && st.configured.is_empty();
        st.learned = quotas.to_vec();
        st.rebuild();
        if first {
            if let Some(tiers) = &st.limiter {
                for _ in 0..=st.in_flight {
                    // Charging, not asking: the slot is taken whatever `ready_at` says, and
                    // never given back.
                    let charged = tiers.reserve_n(1, now);
                    debug_assert!(charged.is_ok(), "one cell always fits");
                }
            }
        }
        st.changed(now);
        true
    }

    /// A request is about to be sent on this key: if the key has no quota and has never
    /// heard from its server, it probes (one request in flight) until the server answers.
    pub(crate) fn probe_if_unknown(&self) {
        let mut st = lock(&self.state);
        if !st.heard && st.configured.is_empty() && st.learned.is_empty() {
            st.probing = true;
        }
    }

    /// Records that the server has answered (or failed) once: the key stops probing.
    pub(crate) fn heard_from_server(&self) {
        let mut st = lock(&self.state);
        st.heard = true;
        if st.probing {
            st.probing = false;
            st.wake_head();
        }
    }

    /// Installs (or removes) the pacing tier derived from `remaining`/`reset`.
    pub(crate) fn set_pacing(&self, pacing: Option<Quota>, now: u64) {
        let mut st = lock(&self.state);
        if st.pacing != pacing {
            st.pacing = pacing;
            st.rebuild();
            st.changed(now);
        }
    }

    /// Replaces the configured quotas.
    pub(crate) fn set_configured(&self, quotas: &[Quota], now: u64) {
        let mut st = lock(&self.state);
        st.configured = quotas.to_vec();
        st.rebuild();
        st.changed(now);
    }

    /// True when the key has a configured or learned quota (pacing alone does not count).
    pub(crate) fn has_quota(&self) -> bool {
        let st = lock(&self.state);
        !st.configured.is_empty() || !st.learned.is_empty()
    }

    /// True when dropping this key loses nothing: no waiters, nothing in flight, no pause
    /// or rate state pending, nothing learned.
    pub(crate) fn is_idle(&self, now: u64) -> bool {
        let st = lock(&self.state);
        st.queue.is_empty()
            && st.in_flight == 0
            && st.pause_until <= now
            && st.learned.is_empty()
            && st.pacing.is_none()
            && st.limiter.as_ref().map_or(true, |t| t.is_idle(now))
    }

    pub(crate) fn snapshot(&self, now: u64) -> KeySnapshot {
        let st = lock(&self.state);
        KeySnapshot {
            quotas: st.effective(),
            source: if !st.configured.is_empty() {
                QuotaSource::Configured
            } else if !st.learned.is_empty() {
                QuotaSource::Learned
            } else {
                QuotaSource::None
            },
            paused_for_ns: st.pause_until.saturating_sub(now),
            queued: st.queue.len(),
            in_flight: st.in_flight,
        }
    }

    fn release(&self) {
        if let Some(g) = &self.global {
            g.release();
        }
        let mut st = lock(&self.state);
        st.in_flight -= 1;
        st.wake_head();
    }
}

/// The right to send one request: holds an in-flight slot until dropped.
#[derive(Debug)]
#[must_use = "dropping the permit frees its in-flight slot"]
pub struct Permit {
    key: Arc<Key>,
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
    /// Leaves the queue for good, waking the next head.
    fn finish(&mut self, st: &mut KeyState) {
        self.done = true;
        if st.queue.remove(&self.ticket).is_some() {
            // Those behind it move up: their turns are planned again when next needed.
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
            let mut st = lock(&key.state);
            let Some(me) = st.queue.get(&this.ticket) else {
                unreachable!("a waiter stays queued until it finishes");
            };
            if let Some(failed) = me.failed {
                this.finish(&mut st);
                return Poll::Ready(Err(failed));
            }
            let (queued_at, deadline) = (me.queued_at, me.deadline);
            if st.queue.keys().next() != Some(&this.ticket) {
                st.park(this.ticket, cx.waker());
                return Poll::Pending;
            }
            let ready_at = match st.ready_at(this.n, now) {
                Ok(t) => t,
                Err(e) => {
                    this.finish(&mut st);
                    return Poll::Ready(Err(e));
                }
            };
            if ready_at > now {
                if ready_at > deadline {
                    this.finish(&mut st);
                    let wait_ns = ready_at - queued_at;
                    return Poll::Ready(Err(AcquireError::WaitTooLong { wait_ns }));
                }
                st.park(this.ticket, cx.waker());
                drop(st);
                this.stop_waiting_for_slot();
                let sleep = match &mut this.sleep {
                    Some((deadline, sleep)) if *deadline == ready_at => sleep,
                    slot => {
                        let sleep = Box::pin(this.runtime.sleep_until(ready_at));
                        &mut slot.insert((ready_at, sleep)).1
                    }
                };
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.sleep = None;
                        continue;
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            this.sleep = None;
            if !st.has_capacity() {
                // Woken by the next permit released on this key.
                st.park(this.ticket, cx.waker());
                drop(st);
                this.stop_waiting_for_slot();
                return Poll::Pending;
            }
            if let Some(g) = &key.global {
                if !g.try_take(&mut this.global_ticket, cx.waker()) {
                    st.park(this.ticket, cx.waker());
                    return Poll::Pending;
                }
            }
            st.commit(this.n, now);
            this.finish(&mut st);
            return Poll::Ready(Ok(Permit {
                key: Arc::clone(&key),
            }));
        }
    }
}

impl<R: Runtime> Drop for Acquire<R> {
    fn drop(&mut self) {
        if !self.done {
            let key = Arc::clone(&self.key);
            let mut st = lock(&key.state);
            self.finish(&mut st);
        }
    }
}
