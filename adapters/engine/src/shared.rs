//! [`SharedRate`]: a key's rate kept outside the process (for example in Redis), so that
//! several processes behind one quota share it instead of each sending the whole of it.
//!
//! A [`crate::Client`] given one ([`crate::Client::with_shared`]) reserves each attempt's
//! turn there before it queues locally: the store answers with how long the attempt must
//! wait (one round trip), the call sleeps that long on the runtime's clock, then takes its
//! local turn (in-flight caps, breaker, a pause this process heard). The configured quotas
//! are the store's; what the process learns from its server stays local, except a pause,
//! which the store shares with every process on the key.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use headway_core::{Impossible, Quota};

/// What [`SharedRate::reserve_with_margin`] returns.
pub type Reserving = Pin<Box<dyn Future<Output = Result<SharedSlot, SharedError>> + Send>>;

/// A rate shared by several processes: reservations, and a pause every process obeys.
pub trait SharedRate: fmt::Debug + Send + Sync + 'static {
    /// Reserves `n` cells of `key` in every tier of `quotas` at once, at the earliest time
    /// all of them allow, and says how long from the answer's arrival the request must wait.
    /// A turn more than `max_wait_ns` away is refused ([`SharedError::WaitTooLong`]) and
    /// reserves nothing.
    ///
    /// `margin_ns` is this process's safety margin for the key (its key machine's adaptive
    /// margin, which widens on a 429 and narrows after runs of successes:
    /// [`headway_core::key::MarginPolicy`]). A reservation that leaves a tier nothing to
    /// spare is spaced from the next by the larger of the store's margin and this one, so
    /// that the processes whose sends come late push the turns after theirs out.
    fn reserve_with_margin(
        &self,
        key: &str,
        quotas: &[Quota],
        n: u32,
        max_wait_ns: u64,
        margin_ns: u64,
    ) -> Reserving;

    /// [`SharedRate::reserve_with_margin`] with no margin of this process's own.
    fn reserve(&self, key: &str, quotas: &[Quota], n: u32, max_wait_ns: u64) -> Reserving {
        self.reserve_with_margin(key, quotas, n, max_wait_ns, 0)
    }

    /// Nothing on `key` may go, in any process, for `for_ns` from now (a server's pause).
    /// Best effort: it returns at once, and a store that cannot be reached loses it.
    fn pause(&self, key: &str, for_ns: u64);
}

/// A turn reserved in a [`SharedRate`]. Dropped before [`SharedSlot::keep`] (the call was
/// cancelled, or refused locally), it gives its slot back, which the store takes only while
/// it is still the key's latest reservation.
#[must_use = "dropping the slot gives it back: keep() it once the request is sent"]
pub struct SharedSlot {
    wait_ns: u64,
    give_back: Option<Box<dyn FnOnce() + Send>>,
}

impl SharedSlot {
    /// A slot `wait_ns` from now; `give_back` returns it to the store when it goes unused.
    pub fn new(wait_ns: u64, give_back: impl FnOnce() + Send + 'static) -> SharedSlot {
        SharedSlot {
            wait_ns,
            give_back: Some(Box::new(give_back)),
        }
    }

    /// How long from the store's answer until the request may go.
    pub fn wait_ns(&self) -> u64 {
        self.wait_ns
    }

    /// The request went: the slot is spent.
    pub fn keep(mut self) {
        self.give_back = None;
    }
}

impl fmt::Debug for SharedSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSlot")
            .field("wait_ns", &self.wait_ns)
            .field("kept", &self.give_back.is_none())
            .finish()
    }
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        if let Some(give_back) = self.give_back.take() {
            give_back();
        }
    }
}

/// Why a shared store gave no turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedError {
    /// The turn would come later than `max_wait`: this much from the answer.
    WaitTooLong {
        /// The wait it would have needed, in nanoseconds.
        wait_ns: u64,
    },
    /// `n` cells can never fit one of the quotas.
    Impossible(Impossible),
    /// The store could not be reached, or did not answer in time.
    Unavailable(String),
    /// The store cannot hold these quotas (for example an interval too long for its
    /// arithmetic).
    Unsupported(String),
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharedError::WaitTooLong { wait_ns } => write!(
                f,
                "the shared rate limit would make this request wait {} ms, longer than max_wait",
                wait_ns.div_ceil(1_000_000)
            ),
            SharedError::Impossible(i) => i.fmt(f),
            SharedError::Unavailable(why) => write!(f, "shared rate store unavailable: {why}"),
            SharedError::Unsupported(why) => write!(f, "shared rate store: {why}"),
        }
    }
}

impl std::error::Error for SharedError {}
