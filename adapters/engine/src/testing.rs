//! [`FakeRuntime`]: virtual time for tests, exact and instant.
//!
//! Time moves only when told to ([`FakeRuntime::advance`]) or, with [`FakeRuntime::run`],
//! jumps straight to the next timer whenever every task is blocked, so a test of an hour of
//! rate limiting runs in milliseconds and asserts exact nanosecond times.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::lock;
use crate::runtime::Runtime;

/// A manually driven clock implementing [`Runtime`].
///
/// ```
/// use headway_engine::{testing::FakeRuntime, Runtime};
/// let rt = FakeRuntime::new();
/// let done = rt.run(async {
///     rt.sleep_until(5_000_000_000).await;
///     rt.now_ns()
/// });
/// assert_eq!(done, 5_000_000_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FakeRuntime {
    inner: Arc<Mutex<Clock>>,
}

#[derive(Debug, Default)]
struct Clock {
    now_ns: u64,
    wall_base_ms: u64,
    next_id: u64,
    seed: u64,
    timers: BTreeMap<(u64, u64), Waker>,
}

impl FakeRuntime {
    /// A clock at monotonic 0 and wall time 2026-01-01T00:00:00Z.
    pub fn new() -> FakeRuntime {
        let rt = FakeRuntime::default();
        lock(&rt.inner).wall_base_ms = 1_767_225_600_000;
        rt
    }

    /// Sets the wall clock at monotonic 0 (to test skew against server `Date` headers).
    pub fn set_wall_base_ms(&self, ms: u64) {
        lock(&self.inner).wall_base_ms = ms;
    }

    /// Moves time forward by `ns`, firing every timer that falls due.
    pub fn advance(&self, ns: u64) {
        let target = lock(&self.inner).now_ns.saturating_add(ns);
        self.advance_to(target);
    }

    /// Moves time forward to `t` (never backwards), firing due timers.
    pub fn advance_to(&self, t: u64) {
        let due: Vec<Waker> = {
            let mut c = lock(&self.inner);
            c.now_ns = c.now_ns.max(t);
            let first_later = (c.now_ns.saturating_add(1), 0);
            let later = c.timers.split_off(&first_later);
            std::mem::replace(&mut c.timers, later)
                .into_values()
                .collect()
        };
        due.into_iter().for_each(Waker::wake);
    }

    /// The earliest pending timer, if any.
    pub fn next_timer(&self) -> Option<u64> {
        lock(&self.inner).timers.keys().next().map(|&(t, _)| t)
    }

    /// Runs `future` to completion on a single-threaded executor, jumping the clock to the
    /// next timer whenever nothing can make progress. Other futures can be spawned on the
    /// pool through `spawner`-free patterns such as `join`/`select` inside `future`.
    ///
    /// Panics if the future is blocked with no timer pending (a deadlock in the test).
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        let mut pool = futures_executor::LocalPool::new();
        let mut future = std::pin::pin!(future);
        let waker = futures_util::task::noop_waker();
        loop {
            pool.run_until_stalled();
            let mut cx = Context::from_waker(&waker);
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            pool.run_until_stalled();
            match self.next_timer() {
                Some(t) => self.advance_to(t),
                None => {
                    // A timer may have been registered and fired in this very pass.
                    if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                        return out;
                    }
                    assert!(
                        self.next_timer().is_some(),
                        "deadlock: the future is blocked and no timer is pending"
                    );
                }
            }
        }
    }
}

impl Runtime for FakeRuntime {
    type Sleep = FakeSleep;

    fn now_ns(&self) -> u64 {
        lock(&self.inner).now_ns
    }

    fn wall_ms(&self) -> u64 {
        let c = lock(&self.inner);
        c.wall_base_ms.saturating_add(c.now_ns / 1_000_000)
    }

    fn sleep_until(&self, deadline_ns: u64) -> FakeSleep {
        let mut c = lock(&self.inner);
        c.next_id += 1;
        FakeSleep {
            clock: Arc::clone(&self.inner),
            deadline_ns,
            id: c.next_id,
        }
    }

    fn seed(&self) -> u64 {
        let mut c = lock(&self.inner);
        c.seed += 1;
        c.seed
    }
}

/// The sleep future of a [`FakeRuntime`].
#[derive(Debug)]
pub struct FakeSleep {
    clock: Arc<Mutex<Clock>>,
    deadline_ns: u64,
    id: u64,
}

impl Future for FakeSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut c = lock(&self.clock);
        if c.now_ns >= self.deadline_ns {
            c.timers.remove(&(self.deadline_ns, self.id));
            return Poll::Ready(());
        }
        c.timers
            .insert((self.deadline_ns, self.id), cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for FakeSleep {
    fn drop(&mut self) {
        lock(&self.clock)
            .timers
            .remove(&(self.deadline_ns, self.id));
    }
}
