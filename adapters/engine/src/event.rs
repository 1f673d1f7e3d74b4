//! [`Event`]: what the request loop decided, as it decides it, for an adapter to pass on
//! (the npm package dispatches them from its `Limiter`, an `EventTarget`).

use std::time::Duration;

use headway_core::Quota;

/// One decision of the [`Client`](crate::Client)'s request loop, reported through
/// [`Runtime::event`](crate::Runtime::event) right after the core made it. Nothing here is
/// re-derived: each variant carries what the key's or the call's machine returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A server's answer (`Retry-After`, a reset a 429 named) paused `key` for every waiter.
    Paused {
        /// The key (for the throttled `fetch`, the origin).
        key: &'a str,
        /// How long the pause lasts from now, jitter included.
        pause: Duration,
    },
    /// The quotas `key`'s server declares (a policy header, such as `RateLimit-Policy`)
    /// changed. The pacing a key takes from the counts of an answer (`remaining` and
    /// `reset`) is not reported: it moves with every answer.
    Learned {
        /// The key (for the throttled `fetch`, the origin).
        key: &'a str,
        /// Every quota now in force for the key: configured, learned, then the pacing tier.
        quotas: &'a [Quota],
    },
    /// A call's attempt is retried.
    Retry {
        /// The key (for the throttled `fetch`, the origin).
        key: &'a str,
        /// Attempts put on the wire so far by this call (1 for the first retry).
        attempt: u32,
        /// The status of the response retried, or `None` when there was none (a connection
        /// error, a timeout).
        status: Option<u16>,
        /// The wait the call's machine chose: its backoff, or the wait the server asked for
        /// (then the key's pause, whose jitter may hold the retry a little longer).
        delay: Duration,
        /// Whether the wait is the key's pause (the server gave one), which every waiter of
        /// the key shares, rather than this call's own backoff.
        paused: bool,
    },
}
