//! The precise timer: one thread that wakes each waiter within microseconds of its deadline.
//!
//! tokio's timer wheel has a resolution of one millisecond and fires up to a millisecond
//! late; at 1,000 requests per second that lateness is a whole slot. The precise timer's
//! thread sleeps on a condition variable until [`SPIN`] before the earliest deadline (the
//! operating system wakes a sleeping thread tens of microseconds late), then spins on the
//! monotonic clock for the rest, so only the last stretch of each wait costs CPU. The runtime
//! hands a sleep to it only for the last [`HANDOVER`] before the deadline; tokio's wheel
//! covers the rest.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long before a deadline the thread stops sleeping and starts spinning.
pub(crate) const SPIN: Duration = Duration::from_micros(80);

/// How far ahead of a deadline tokio's wheel hands a sleep over to the precise timer.
pub(crate) const HANDOVER: Duration = Duration::from_millis(2);

/// A sleep on the precise timer: ready once its deadline has passed on the monotonic clock.
#[derive(Debug)]
pub(crate) struct Alarm {
    slot: Arc<Slot>,
}

/// What an alarm and the timer thread share: whether it fired, and whom to wake.
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    fired: bool,
    waker: Option<Waker>,
}

/// One pending deadline, ordered by time and then by arrival.
#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    slot: Arc<Slot>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The deadlines waiting for the thread.
#[derive(Debug, Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

#[derive(Debug, Default)]
struct Timer {
    queue: Mutex<Queue>,
    changed: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process's one timer thread, started on first use.
fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::default());
        std::thread::Builder::new()
            .name("headway-timer".into())
            .spawn(move || run(timer))
            .expect("spawn the precise timer thread");
        timer
    })
}

/// The timer thread: sleep until shortly before the earliest deadline, spin to it, fire.
fn run(timer: &'static Timer) -> ! {
    let mut queue = lock(&timer.queue);
    loop {
        let Some(Reverse(next)) = queue.heap.peek() else {
            queue = timer.changed.wait(queue).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let now = Instant::now();
        if next.at > now + SPIN {
            let nap = next.at - now - SPIN;
            queue = timer
                .changed
                .wait_timeout(queue, nap)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        let Some(Reverse(entry)) = queue.heap.pop() else {
            continue;
        };
        drop(queue);
        // An alarm dropped before its time has nobody to wake: no spin for it.
        if Arc::strong_count(&entry.slot) > 1 {
            while Instant::now() < entry.at {
                std::hint::spin_loop();
            }
            entry.slot.fire();
        }
        queue = lock(&timer.queue);
    }
}

impl Slot {
    fn fire(&self) {
        let mut st = lock(&self.state);
        st.fired = true;
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }
}

impl Alarm {
    /// An alarm at `at` on the monotonic clock.
    pub(crate) fn at(at: Instant) -> Alarm {
        let slot = Arc::new(Slot::default());
        let timer = timer();
        let mut queue = lock(&timer.queue);
        queue.seq += 1;
        let seq = queue.seq;
        queue.heap.push(Reverse(Entry {
            at,
            seq,
            slot: Arc::clone(&slot),
        }));
        drop(queue);
        timer.changed.notify_one();
        Alarm { slot }
    }
}

impl Future for Alarm {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = lock(&self.slot.state);
        if st.fired {
            return Poll::Ready(());
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn alarms_fire_in_deadline_order_and_never_early() {
        let start = Instant::now();
        let deadlines: Vec<Instant> = [3u64, 1, 2, 1]
            .iter()
            .map(|ms| start + Duration::from_millis(*ms))
            .collect();
        let fired = futures_util::future::join_all(deadlines.iter().map(|&at| async move {
            Alarm::at(at).await;
            Instant::now()
        }))
        .await;
        for (at, when) in deadlines.iter().zip(&fired) {
            assert!(when >= at, "fired before its deadline");
        }
        // A dropped alarm is skipped; a later one still fires.
        drop(Alarm::at(start + Duration::from_millis(4)));
        Alarm::at(start + Duration::from_millis(5)).await;
        assert!(Instant::now() >= start + Duration::from_millis(5));
    }
}
