//! The per-call retry state machine: given what one attempt produced, the next step.
//!
//! A driver sends an attempt, reads the response (or notes that there was none), and asks
//! [`Call::next`] what to do: hand the outcome back, send again after a delay, or fail because
//! the server asked for a longer wait than the caller allows. Every rule that decides lives
//! here, once, for every runtime:
//!
//! - **What is retried.** 429 and 503 always (the server did not process the request);
//!   500, 502, 504 and 408, and transport failures and timeouts, only for idempotent
//!   requests unless the policy allows more ([`RetryPolicy::retry_non_idempotent`]); a
//!   failure the transport knows to be permanent (a malformed URL, an unsupported scheme)
//!   never; everything else never.
//! - **How long to wait.** The server's wait (`Retry-After`, an exhausted window) when it gave
//!   one, else the backoff's next delay; both count toward the backoff's caps.
//! - **Whether a retry may happen at all.** A replayable copy must exist, the backoff's attempt
//!   and total-time caps must allow it, and the retry budget must pay for it: with a token
//!   now, or with one its floor earns back in time
//!   ([`RetryBudget::reserve_retry`]). A retry that waits for its token waits at least that
//!   long, counted toward the backoff's total-time cap; so an outage that fails many
//!   requests at once spreads their retries out at the budget's pace instead of failing those
//!   it cannot pay for at once.
//! - **What the breaker hears.** [`breaker_success`] classifies each outcome once.
//!
//! ```
//! use headway_core::backoff::{Backoff, Jitter};
//! use headway_core::call::{Attempt, Call, RetryPolicy, Step};
//! use headway_core::feedback::{interpret, Options};
//!
//! let policy = RetryPolicy {
//!     backoff: Backoff::default().with_jitter(Jitter::None),
//!     ..RetryPolicy::default()
//! };
//! let mut call = Call::new(&policy, true, 7);
//! let busy = interpret(503, &[("Retry-After", "2")][..], 0, &Options::default());
//! let step = call.next(Attempt::Response { status: 503, interpretation: &busy }, true, None, 0);
//! assert_eq!(step, Step::Retry { after_ns: 2_000_000_000, paused: true });
//! let no_headers: [(&str, &str); 0] = [];
//! let ok = interpret(200, &no_headers, 0, &Options::default());
//! let step = call.next(Attempt::Response { status: 200, interpretation: &ok }, true, None, 0);
//! assert_eq!(step, Step::Return(headway_core::call::Why::Done));
//! assert_eq!(call.attempts(), 2);
//! ```

use crate::backoff::{Backoff, Retrying};
use crate::budget::RetryBudget;
use crate::feedback::{Interpretation, RetryReason, Verdict};

/// How a call retries: the backoff and which requests may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryPolicy {
    /// Delays and caps when the server gives no wait (and the caps when it does).
    pub backoff: Backoff,
    /// Retry 5xx, 408 and transport failures for non-idempotent methods too. 429 and 503 are
    /// retried whatever the method: the server did not process the request.
    pub retry_non_idempotent: bool,
}

/// What one attempt produced.
#[derive(Debug, Clone, Copy)]
pub enum Attempt<'a> {
    /// A response, with what [`crate::feedback::interpret`] made of it.
    Response {
        /// The status code.
        status: u16,
        /// The interpretation of its status and headers.
        interpretation: &'a Interpretation,
    },
    /// No response: the send failed.
    Failed {
        /// The transport knows that sending again cannot help (a malformed URL, an unsupported
        /// scheme): never retried.
        permanent: bool,
    },
    /// No response within the per-attempt timeout.
    TimedOut,
}

/// Why a call hands its last outcome back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The server's answer is final (a success, or a status that is not retried).
    Done,
    /// Retrying could help but is not allowed for this request (not idempotent, or a
    /// permanent failure).
    NotRetryable,
    /// The request cannot be sent again (its body is not replayable).
    NoReplay,
    /// The backoff's attempt or total-time cap is reached.
    Exhausted,
    /// The retry budget is spent, and its floor would not earn a token back within the
    /// backoff's total-time cap: retrying would feed a retry storm.
    BudgetSpent,
}

/// The next step of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Hand this attempt's outcome (response or error) to the caller; the call is over.
    Return(Why),
    /// Send again after `after_ns`. `paused` is true when the wait is the server's: the key is
    /// paused for every waiter, so the retry simply queues behind the pause; otherwise the
    /// driver sleeps `after_ns` outside the queue first.
    Retry {
        /// The delay before the next attempt.
        after_ns: u64,
        /// The wait is the server's pause of the key.
        paused: bool,
    },
    /// The server asked to wait `wait_ns`, longer than the caller's `max_wait`: the call fails
    /// with that wait.
    TooLong {
        /// The server's wait, in nanoseconds (saturated).
        wait_ns: u64,
    },
}

/// The retry state of one call: `Copy`, no allocation, no clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    retrying: Retrying,
    idempotent: bool,
    retry_non_idempotent: bool,
    attempts: u32,
}

impl Call {
    /// A call under `policy`; `idempotent` is the request's method class (see
    /// [`is_idempotent`]); `seed` seeds the backoff's jitter.
    pub fn new(policy: &RetryPolicy, idempotent: bool, seed: u64) -> Call {
        Call {
            retrying: policy.backoff.start(seed),
            idempotent,
            retry_non_idempotent: policy.retry_non_idempotent,
            attempts: 0,
        }
    }

    /// Attempts put on the wire so far (each call of [`Call::next`] reports one).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Retries granted so far.
    pub fn retries(&self) -> u32 {
        self.retrying.attempts()
    }

    /// What to do after an attempt that produced `attempt`. `replayable` says whether a copy
    /// of the request exists to send again; `budget`, when the caller keeps one, is charged
    /// for a retry (a retry it can only pay for later waits that long) and credited for a
    /// success.
    pub fn next(
        &mut self,
        attempt: Attempt<'_>,
        replayable: bool,
        budget: Option<&RetryBudget>,
        now: u64,
    ) -> Step {
        self.attempts = self.attempts.saturating_add(1);
        let may_repeat = self.idempotent || self.retry_non_idempotent;
        // `key_paused`: the server's wait is also the key's pause (429, 503), so the retry
        // queues behind it; a 5xx's `Retry-After` spaces this retry alone.
        let (retryable, server_wait, key_paused) = match attempt {
            Attempt::Failed { permanent: true } => return Step::Return(Why::NotRetryable),
            Attempt::Failed { permanent: false } | Attempt::TimedOut => (may_repeat, None, false),
            Attempt::Response { interpretation, .. } => match interpretation.verdict {
                Verdict::Done => {
                    if let Some(b) = budget {
                        b.on_success(now);
                    }
                    return Step::Return(Why::Done);
                }
                Verdict::TooLong { wait_ns } => return Step::TooLong { wait_ns },
                Verdict::Retry { after_ns, reason } => {
                    let server_error = reason == RetryReason::ServerError;
                    (!server_error || may_repeat, after_ns, !server_error)
                }
            },
        };
        if !retryable {
            return Step::Return(Why::NotRetryable);
        }
        if !replayable {
            return Step::Return(Why::NoReplay);
        }
        let Some(after_ns) = self.retrying.next_delay(server_wait) else {
            return Step::Return(Why::Exhausted);
        };
        let mut paused = key_paused && server_wait.is_some();
        let mut after_ns = after_ns;
        if let Some(b) = budget {
            let room = after_ns.saturating_add(self.retrying.remaining_ns());
            let Some(wait) = b.reserve_retry(now, room) else {
                return Step::Return(Why::BudgetSpent);
            };
            if wait > after_ns {
                // Held for its token past the delay (within the room left, as asked): the
                // driver sleeps it out, then the retry queues (behind any pause, shorter).
                self.retrying.extend(wait - after_ns);
                (after_ns, paused) = (wait, false);
            }
        }
        Step::Retry { after_ns, paused }
    }
}

/// How an attempt counts for the key's circuit breaker: `true` for a success, `false` for a
/// failure.
///
/// A failure is a server that is not answering properly: no response (a transport failure or
/// a timeout), a 5xx, or 408. A 429, and a 503 that carries a wait (`Retry-After`), are rate
/// feedback from a server that is alive and pacing its clients: successes. A bare 503 is a
/// failure.
///
/// ```
/// use headway_core::call::{breaker_success, Attempt};
/// use headway_core::feedback::{interpret, Options};
///
/// let paced = interpret(503, &[("Retry-After", "1")][..], 0, &Options::default());
/// let no_headers: [(&str, &str); 0] = [];
/// let bare = interpret(503, &no_headers, 0, &Options::default());
/// assert!(breaker_success(Attempt::Response { status: 503, interpretation: &paced }));
/// assert!(!breaker_success(Attempt::Response { status: 503, interpretation: &bare }));
/// assert!(!breaker_success(Attempt::TimedOut));
/// ```
pub fn breaker_success(attempt: Attempt<'_>) -> bool {
    match attempt {
        Attempt::Failed { .. } | Attempt::TimedOut => false,
        Attempt::Response {
            status: 429,
            interpretation: _,
        } => true,
        Attempt::Response {
            status: 503,
            interpretation,
        } => matches!(
            interpretation.verdict,
            Verdict::Retry {
                after_ns: Some(_),
                ..
            } | Verdict::TooLong { .. }
        ),
        Attempt::Response { status, .. } => !(status == 408 || (500..600).contains(&status)),
    }
}

/// Whether a call that ended with a response of `status` succeeded: below 400. A 3xx is
/// the server's answer, handed back as it is; 400 and above is the server saying no, once
/// retries (if any applied) ran out.
///
/// ```
/// use headway_core::call::succeeded;
/// assert!(succeeded(204) && succeeded(304));
/// assert!(!succeeded(429) && !succeeded(500));
/// ```
pub const fn succeeded(status: u16) -> bool {
    status < 400
}

/// True for the methods RFC 9110 defines as idempotent: GET, HEAD, PUT, DELETE, OPTIONS and
/// TRACE (case-sensitive, as methods are).
///
/// ```
/// assert!(headway_core::call::is_idempotent("GET"));
/// assert!(!headway_core::call::is_idempotent("POST"));
/// ```
pub fn is_idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::Jitter;
    use crate::feedback::{interpret, Options};

    const S: u64 = 1_000_000_000;

    fn policy(retries: u32) -> RetryPolicy {
        RetryPolicy {
            backoff: Backoff::default()
                .with_jitter(Jitter::None)
                .with_max_attempts(retries),
            retry_non_idempotent: false,
        }
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> Interpretation {
        interpret(status, headers, 0, &Options::default())
    }

    #[test]
    fn a_500_is_retried_only_when_idempotent() {
        let i = response(500, &[]);
        let attempt = Attempt::Response {
            status: 500,
            interpretation: &i,
        };
        let mut get = Call::new(&policy(3), true, 0);
        assert_eq!(
            get.next(attempt, true, None, 0),
            Step::Retry {
                after_ns: S / 10,
                paused: false
            }
        );
        let mut post = Call::new(&policy(3), false, 0);
        assert_eq!(
            post.next(attempt, true, None, 0),
            Step::Return(Why::NotRetryable)
        );
    }

    #[test]
    fn a_500s_retry_after_spaces_its_own_retry_outside_the_queue() {
        // The key is not paused by a 500 (see `retry_after_pauses_key`): the driver must
        // sleep the wait itself, or the retry would go at once.
        let i = response(500, &[("Retry-After", "3")]);
        let attempt = Attempt::Response {
            status: 500,
            interpretation: &i,
        };
        let mut get = Call::new(&policy(3), true, 0);
        assert_eq!(
            get.next(attempt, true, None, 0),
            Step::Retry {
                after_ns: 3 * S,
                paused: false
            }
        );
    }

    #[test]
    fn a_429_is_retried_even_for_a_post_and_counts_as_breaker_success() {
        let i = response(429, &[("Retry-After", "3")]);
        let attempt = Attempt::Response {
            status: 429,
            interpretation: &i,
        };
        let mut post = Call::new(&policy(3), false, 0);
        assert_eq!(
            post.next(attempt, true, None, 0),
            Step::Retry {
                after_ns: 3 * S,
                paused: true
            }
        );
        assert!(breaker_success(attempt));
    }

    #[test]
    fn permanent_failures_are_never_retried() {
        let mut call = Call::new(&policy(3), true, 0);
        let step = call.next(Attempt::Failed { permanent: true }, true, None, 0);
        assert_eq!(step, Step::Return(Why::NotRetryable));
        let step = call.next(Attempt::Failed { permanent: false }, true, None, 0);
        assert_eq!(
            step,
            Step::Retry {
                after_ns: S / 10,
                paused: false
            }
        );
    }

    #[test]
    fn retries_stop_at_the_cap_and_attempts_count_every_send() {
        let mut call = Call::new(&policy(10), true, 0);
        let mut retries = 0;
        while let Step::Retry { .. } = call.next(Attempt::TimedOut, true, None, 0) {
            retries += 1;
        }
        assert_eq!((retries, call.retries(), call.attempts()), (10, 10, 11));
    }

    #[test]
    fn no_replay_and_a_spent_budget_hand_the_outcome_back() {
        let mut call = Call::new(&policy(3), true, 0);
        assert_eq!(
            call.next(Attempt::TimedOut, false, None, 0),
            Step::Return(Why::NoReplay)
        );
        // No floor: a spent balance cannot be repaid with time.
        let budget = RetryBudget::new(1000, 0, 1).unwrap();
        while budget.try_retry(0) {}
        assert_eq!(
            call.next(Attempt::TimedOut, true, Some(&budget), 0),
            Step::Return(Why::BudgetSpent)
        );
    }

    #[test]
    fn a_retry_the_budget_cannot_pay_for_now_waits_for_the_floor_within_the_total_cap() {
        // 1 token saved, a floor of 10 per second; 10 ms backoff, 250 ms in all.
        let budget = RetryBudget::new(0, 10, 1).unwrap();
        let policy = RetryPolicy {
            backoff: Backoff::new(S / 100, S)
                .unwrap()
                .with_jitter(Jitter::None)
                .with_max_total_ns(S / 4),
            retry_non_idempotent: false,
        };
        let mut calls = [Call::new(&policy, true, 0); 4];
        let steps = calls
            .each_mut()
            .map(|c| c.next(Attempt::TimedOut, true, Some(&budget), 0));
        let retry = |after_ns| Step::Retry {
            after_ns,
            paused: false,
        };
        // The first has the token (after its 10 ms backoff); the second and third wait for
        // the floor's next tokens; the fourth would wait 300 ms, past the 250 ms total cap.
        assert_eq!(
            steps,
            [
                retry(S / 100),
                retry(S / 10),
                retry(S / 5),
                Step::Return(Why::BudgetSpent)
            ]
        );
        // The wait counts toward the total: the call held 200 ms has 50 ms left.
        assert_eq!(calls[2].retrying.remaining_ns(), S / 20);
        // A server's pause shorter than the wait gives way to it: the driver sleeps.
        let busy = response(503, &[("Retry-After", "0")]);
        let attempt = Attempt::Response {
            status: 503,
            interpretation: &busy,
        };
        let step = Call::new(&policy, true, 0).next(attempt, true, Some(&budget), S / 5);
        assert_eq!(step, retry(S / 10));
    }

    #[test]
    fn a_wait_beyond_max_wait_fails_the_call() {
        let i = interpret(
            429,
            &[("Retry-After", "99999")][..],
            0,
            &Options { max_wait_ns: S },
        );
        let mut call = Call::new(&policy(3), true, 0);
        let attempt = Attempt::Response {
            status: 429,
            interpretation: &i,
        };
        assert_eq!(
            call.next(attempt, true, None, 0),
            Step::TooLong {
                wait_ns: 99_999 * S
            }
        );
    }

    #[test]
    fn breaker_classification() {
        for (status, ok) in [
            (200, true),
            (404, true),
            (408, false),
            (500, false),
            (502, false),
        ] {
            let i = response(status, &[]);
            let attempt = Attempt::Response {
                status,
                interpretation: &i,
            };
            assert_eq!(breaker_success(attempt), ok, "{status}");
        }
        assert!(!breaker_success(Attempt::Failed { permanent: false }));
    }
}
