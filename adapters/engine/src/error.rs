//! Why a call through the [`crate::Client`] produced no response. Bad configuration is the
//! core's [`headway_core::ConfigError`], re-exported here.

use std::fmt;
use std::time::Duration;

use headway_core::Impossible;

use crate::key::AcquireError;
use crate::millis_up;
use crate::shared::SharedError;

/// Why a call through the [`crate::Client`] produced no response.
#[derive(Debug)]
pub enum ClientError<E> {
    /// The transport failed (connection refused or reset, ...) and no retry was allowed.
    Transport(E),
    /// No response within the per-request timeout, and no retry was allowed.
    Timeout {
        /// The per-attempt timeout that ran out.
        after: Duration,
    },
    /// The server asked for a wait longer than `max_wait` (the wait is the server's,
    /// saturated), or the key's quota, queue or pause would have made the request wait that
    /// long.
    WaitTooLong {
        /// The wait that would have been needed (saturated).
        wait: Duration,
        /// True when the wait is the server's (`Retry-After` and the like); false when it is
        /// the client's own rate limit (quota, queue, pause).
        server: bool,
    },
    /// The key's circuit breaker is open.
    CircuitOpen {
        /// The time until a probe will be allowed.
        retry_in: Duration,
    },
    /// The request asks for more cells than the key's burst allows.
    Impossible(Impossible),
    /// The shared rate store (see [`crate::SharedRate`]) could not serve the request: it
    /// was unreachable, did not answer in time, or cannot hold the key's quotas. The request
    /// was not sent.
    Shared(String),
}

impl<E> From<SharedError> for ClientError<E> {
    fn from(e: SharedError) -> Self {
        match e {
            SharedError::WaitTooLong { wait_ns } => ClientError::WaitTooLong {
                wait: Duration::from_nanos(wait_ns),
                server: false,
            },
            SharedError::Impossible(i) => ClientError::Impossible(i),
            e @ (SharedError::Unavailable(_) | SharedError::Unsupported(_)) => {
                ClientError::Shared(e.to_string())
            }
        }
    }
}

impl<E> From<AcquireError> for ClientError<E> {
    fn from(e: AcquireError) -> Self {
        match e {
            AcquireError::Impossible(i) => ClientError::Impossible(i),
            AcquireError::WaitTooLong { wait } => ClientError::WaitTooLong {
                wait,
                server: false,
            },
            AcquireError::CircuitOpen { retry_in } => ClientError::CircuitOpen { retry_in },
        }
    }
}

impl<E: fmt::Display> fmt::Display for ClientError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Transport(e) => write!(f, "transport error: {e}"),
            ClientError::Timeout { after } => {
                write!(f, "no response within {} ms", after.as_millis())
            }
            ClientError::WaitTooLong { wait, server } => write!(
                f,
                "{} {} ms, longer than max_wait",
                if *server {
                    "the server asked to wait"
                } else {
                    "the rate limit would make this request wait"
                },
                millis_up(*wait)
            ),
            ClientError::CircuitOpen { retry_in } => write!(
                f,
                "circuit open: the server kept failing; next probe in {} ms",
                millis_up(*retry_in)
            ),
            ClientError::Impossible(i) => i.fmt(f),
            ClientError::Shared(why) => why.fmt(f),
        }
    }
}

/// The chain goes on below the transport's error: its own message is already in this one's
/// (`transport error: ...`), so [`source`](std::error::Error::source) is what it was caused
/// by in turn, and `{:#}` in `anyhow` prints each cause once, down to the OS's (`Connection
/// refused`). The other variants are Headway's own, with no cause below them.
impl<E: std::error::Error + 'static> std::error::Error for ClientError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Transport(e) => e.source(),
            _ => None,
        }
    }
}

/// A call that produced no response, with what it cost.
#[derive(Debug)]
pub struct Failure<E> {
    /// What went wrong.
    pub error: ClientError<E>,
    /// Attempts put on the wire.
    pub attempts: u32,
    /// Time spent waiting for rate, pauses and backoff.
    pub waited: Duration,
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (after {} attempts)", self.error, self.attempts)
    }
}

/// A failure's message is its error's, so its [`source`](std::error::Error::source) is the
/// error's own (see [`ClientError`]'s).
impl<E: std::error::Error + 'static> std::error::Error for Failure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}
