//! [`Slots`]: a cap on requests in flight shared by every key, handed out first come, first
//! served. Only a request whose rate allows it *now* asks for a slot, so waiting for rate
//! never holds a slot.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::task::Waker;

use crate::lock;

/// A counting semaphore with FIFO waiters identified by ticket.
#[derive(Debug)]
pub(crate) struct Slots {
    state: Mutex<SlotsState>,
}

#[derive(Debug)]
struct SlotsState {
    available: usize,
    capacity: usize,
    next_ticket: u64,
    waiters: BTreeMap<u64, Waker>,
}

impl Slots {
    pub(crate) fn new(capacity: usize) -> Slots {
        Slots {
            state: Mutex::new(SlotsState {
                available: capacity,
                capacity,
                next_ticket: 0,
                waiters: BTreeMap::new(),
            }),
        }
    }

    /// Takes a slot if one is free and nobody queued earlier is owed it; otherwise queues
    /// `ticket` (assigning one if needed) to be woken through `waker`.
    pub(crate) fn try_take(&self, ticket: &mut Option<u64>, waker: &Waker) -> bool {
        let mut st = lock(&self.state);
        let first = st.waiters.keys().next().copied();
        let owed_to_other = match (first, *ticket) {
            (None, _) => false,
            (Some(f), Some(t)) => f != t,
            (Some(_), None) => true,
        };
        if st.available > 0 && !owed_to_other {
            st.available -= 1;
            if let Some(t) = ticket.take() {
                st.waiters.remove(&t);
            }
            // Several slots may have come back while this waiter was being woken; each
            // `release` woke only the first waiter (this one), so pass the rest on.
            if st.available > 0 {
                if let Some(w) = st.waiters.values().next() {
                    w.wake_by_ref();
                }
            }
            return true;
        }
        let t = *ticket.get_or_insert_with(|| {
            st.next_ticket += 1;
            st.next_ticket
        });
        st.waiters.insert(t, waker.clone());
        false
    }

    /// Takes a slot only if one is free and nobody is queued for one.
    pub(crate) fn try_take_now(&self) -> bool {
        let mut st = lock(&self.state);
        if st.available > 0 && st.waiters.is_empty() {
            st.available -= 1;
            return true;
        }
        false
    }

    /// Leaves the queue (the waiter was cancelled or stopped waiting for a slot), passing a
    /// free slot on to the next waiter.
    pub(crate) fn leave(&self, ticket: &mut Option<u64>) {
        if let Some(t) = ticket.take() {
            let mut st = lock(&self.state);
            st.waiters.remove(&t);
            if st.available > 0 {
                if let Some(w) = st.waiters.values().next() {
                    w.wake_by_ref();
                }
            }
        }
    }

    /// Returns a slot and wakes the first waiter.
    pub(crate) fn release(&self) {
        let mut st = lock(&self.state);
        st.available = (st.available + 1).min(st.capacity);
        if let Some(w) = st.waiters.values().next() {
            w.wake_by_ref();
        }
    }

    /// Requests in flight right now.
    pub(crate) fn in_use(&self) -> usize {
        let st = lock(&self.state);
        st.capacity - st.available
    }
}
