//! A circuit breaker whose whole state is one `AtomicU64`.
//!
//! - **Closed**: requests pass. `failure_threshold` consecutive failures open the breaker; a
//!   success resets the count.
//! - **Open**: requests are rejected with the time left until `open_for_ns` has passed since
//!   the breaker opened.
//! - **Half-open**: once that time has passed, exactly one request, the *probe*, is admitted
//!   (a compare-and-swap decides which); all others are still rejected. The probe's success
//!   closes the breaker, its failure opens it again for another `open_for_ns`. A probe that
//!   never reports does not wedge the breaker: after `open_for_ns` another probe is admitted,
//!   and the forgotten one's late report is ignored.
//!
//! # Status codes: a 429 is not a failure
//!
//! The breaker knows nothing about HTTP; the caller decides what a failure is. A `429 Too Many
//! Requests` (or a `503` carrying `Retry-After`) is the server pacing the client, and that
//! feedback belongs to the rate limiter, which pauses the key. **Do not report it with
//! [`CircuitBreaker::on_failure`]**: a burst of 429s would otherwise open the breaker and turn
//! a request to slow down into an outage. Report it as [`CircuitBreaker::on_success`], since
//! the server is up and answering. Failures are connection errors, timeouts and server errors
//! that say nothing about pace.
//!
//! # The state word
//!
//! ```text
//!  63 62 61                                                     0
//! +-----+--------------------------------------------------------+
//! | tag |                      payload (62 bits)                  |
//! +-----+--------------------------------------------------------+
//! tag 00 Closed     payload = consecutive failures (below failure_threshold)
//! tag 01 Open       payload = open until, in microseconds on the caller's timeline
//! tag 10 Half-open  payload = probe deadline, in microseconds: the probe is in flight, and if
//!                   it has not reported by then another probe may be admitted
//! tag 11            never written (read as Closed with the payload as a count)
//! ```
//!
//! The three states never need a count and a time together, so each gets all 62 payload bits.
//! Times are stored in microseconds, rounded up (a breaker stays open at least `open_for_ns`,
//! never less): `u64::MAX` nanoseconds is about 1.8 * 10^16 microseconds, well below 2^62, so
//! every point of a `u64` nanosecond timeline fits, with no wrap-around (a deadline past the
//! end of the timeline saturates there and is never reached). The counter needs 32 bits at
//! most. The word starts at 0: Closed with no failures.
//!
//! A half-open word's deadline also names its probe: a [`Permit`] remembers the word it was
//! admitted with, and its report changes the state only by compare-and-swap from exactly that
//! word. A later probe is admitted only after the earlier deadline has passed, so its deadline
//! is strictly later and the two words differ.
//!
//! ```
//! use headway_core::breaker::{BreakerState, CircuitBreaker};
//!
//! const MS: u64 = 1_000_000;
//! const SEC: u64 = 1_000_000_000;
//! let breaker = CircuitBreaker::new(2, 10 * SEC).unwrap();
//! for now in [0, MS] {
//!     let permit = breaker.acquire(now).unwrap();
//!     breaker.on_failure(permit, now);
//! }
//! // Two consecutive failures: open for 10 s from the second.
//! assert_eq!(breaker.acquire(2 * SEC + MS).unwrap_err().retry_in_ns, 8 * SEC);
//! // Then one probe goes through, and its success closes the breaker.
//! let probe = breaker.acquire(11 * SEC).unwrap();
//! assert!(probe.is_probe());
//! assert!(breaker.acquire(11 * SEC).is_err()); // only one probe at a time
//! assert!(breaker.on_success(probe, 11 * SEC + 5));
//! assert_eq!(breaker.state(12 * SEC), BreakerState::Closed { consecutive_failures: 0 });
//! ```

use core::fmt;
use core::num::NonZeroU32;

use crate::sync::{AtomicU64, Ordering};

const TAG_SHIFT: u32 = 62;
const PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const NS_PER_US: u64 = 1_000;

/// One decoded state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Closed { failures: u64 },
    Open { until_us: u64 },
    HalfOpen { deadline_us: u64 },
}

impl Word {
    fn decode(word: u64) -> Word {
        let payload = word & PAYLOAD;
        match word >> TAG_SHIFT {
            OPEN => Word::Open { until_us: payload },
            HALF_OPEN => Word::HalfOpen {
                deadline_us: payload,
            },
            // CLOSED, and the tag that is never written.
            _ => Word::Closed { failures: payload },
        }
    }

    fn encode(self) -> u64 {
        let (tag, payload) = match self {
            Word::Closed { failures } => (CLOSED, failures),
            Word::Open { until_us } => (OPEN, until_us),
            Word::HalfOpen { deadline_us } => (HALF_OPEN, deadline_us),
        };
        // Payloads fit by construction (see the module documentation); the mask is a guard.
        (tag << TAG_SHIFT) | (payload & PAYLOAD)
    }
}

/// `now + duration` in microseconds, rounded up, saturating at the end of the timeline.
fn deadline_us(now: u64, duration_ns: u64) -> u64 {
    now.saturating_add(duration_ns).div_ceil(NS_PER_US)
}

/// Nanoseconds from `now` until the stored microsecond time `due_us`, or `None` once it has
/// passed.
///
/// `now < due_us * 1000` is tested as `now / 1000 < due_us`, which is the same for integers and
/// cannot overflow: a time stored at the very end of the timeline is then never reached,
/// rather than reached early by a saturated multiplication.
fn remaining_ns(due_us: u64, now: u64) -> Option<u64> {
    if now / NS_PER_US < due_us {
        let left = u128::from(due_us) * u128::from(NS_PER_US) - u128::from(now);
        Some(u64::try_from(left).unwrap_or(u64::MAX))
    } else {
        None
    }
}

/// Why a breaker's configuration was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerError {
    /// `failure_threshold` was 0: the breaker would open with no failure at all.
    ZeroThreshold,
    /// `open_for_ns` was 0: the breaker would never actually reject anything.
    ZeroOpenFor,
}

impl fmt::Display for BreakerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerError::ZeroThreshold => "circuit breaker failure threshold must be at least 1",
            BreakerError::ZeroOpenFor => "circuit breaker open time must be greater than 0",
        })
    }
}

impl core::error::Error for BreakerError {}

/// The breaker rejected a request: it is open, or half-open with its probe in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    /// Nanoseconds from the `now` passed in until a probe may be admitted. While a probe is
    /// in flight this is the time until its deadline; it usually reports sooner.
    pub retry_in_ns: u64,
}

impl fmt::Display for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit open, retry in {} ns", self.retry_in_ns)
    }
}

impl core::error::Error for Open {}

/// Leave to send one request, to be reported with [`CircuitBreaker::on_success`] or
/// [`CircuitBreaker::on_failure`].
///
/// A permit from a closed breaker may be dropped unreported (nothing is held). The half-open
/// probe should always be reported: until it is, or until its deadline, every other request
/// is rejected.
#[must_use = "report the outcome with on_success or on_failure"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    probe: bool,
    /// The state word this permit was admitted with (for a probe, the half-open word naming it).
    word: u64,
}

impl Permit {
    /// Whether this is the half-open probe, whose outcome closes or re-opens the breaker.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

/// What [`CircuitBreaker::state`] reports at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests pass.
    Closed {
        /// Failures since the last success (below the threshold).
        consecutive_failures: u32,
    },
    /// Requests are rejected for `retry_in_ns` more.
    Open {
        /// Nanoseconds until a probe may be admitted.
        retry_in_ns: u64,
    },
    /// The open time has passed.
    HalfOpen {
        /// `true` while an admitted probe has neither reported nor passed its deadline (all
        /// requests are rejected); `false` when the next [`CircuitBreaker::acquire`] becomes
        /// the probe.
        probe_in_flight: bool,
    },
}

/// A lock-free circuit breaker in one `AtomicU64`. See the [module documentation](self).
#[derive(Debug)]
pub struct CircuitBreaker {
    word: AtomicU64,
    /// Non-zero by construction; the niche also makes `Option<CircuitBreaker>` no larger.
    failure_threshold: NonZeroU32,
    open_for_ns: u64,
}

impl CircuitBreaker {
    /// A closed breaker that opens after `failure_threshold` consecutive failures and stays
    /// open for `open_for_ns` before admitting a probe.
    ///
    /// Fails when either is 0.
    ///
    /// ```
    /// use headway_core::breaker::{BreakerError, CircuitBreaker};
    /// assert!(CircuitBreaker::new(5, 30_000_000_000).is_ok());
    /// assert_eq!(CircuitBreaker::new(0, 1).unwrap_err(), BreakerError::ZeroThreshold);
    /// ```
    pub fn new(failure_threshold: u32, open_for_ns: u64) -> Result<CircuitBreaker, BreakerError> {
        let Some(failure_threshold) = NonZeroU32::new(failure_threshold) else {
            return Err(BreakerError::ZeroThreshold);
        };
        if open_for_ns == 0 {
            return Err(BreakerError::ZeroOpenFor);
        }
        Ok(CircuitBreaker {
            word: AtomicU64::new(Word::Closed { failures: 0 }.encode()),
            failure_threshold,
            open_for_ns,
        })
    }

    /// Consecutive failures that open the breaker.
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold.get()
    }

    /// How long the breaker stays open before admitting a probe, in nanoseconds.
    pub fn open_for_ns(&self) -> u64 {
        self.open_for_ns
    }

    /// Asks to send a request at `now`: a [`Permit`] (the probe, if this call moved the
    /// breaker from open to half-open), or [`Open`] with the time to wait.
    pub fn acquire(&self, now: u64) -> Result<Permit, Open> {
        // Relaxed, here and in every access to `word`: it is the breaker's only shared state
        // and it guards no other memory. Every transition is one compare-and-swap on it, so
        // the word's modification order alone serialises transitions (exactly one CAS from a
        // given open word can succeed); no happens-before with other data is needed.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let due_us = match Word::decode(word) {
                Word::Closed { .. } => return Ok(Permit { probe: false, word }),
                Word::Open { until_us } => until_us,
                Word::HalfOpen { deadline_us } => deadline_us,
            };
            if let Some(retry_in_ns) = remaining_ns(due_us, now) {
                return Err(Open { retry_in_ns });
            }
            // The open time (or the previous probe's deadline) has passed: try to become the
            // probe.
            let probing = Word::HalfOpen {
                deadline_us: deadline_us(now, self.open_for_ns),
            }
            .encode();
            // Relaxed on success and failure: see the load above.
            match self.word.compare_exchange_weak(
                word,
                probing,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Ok(Permit {
                        probe: true,
                        word: probing,
                    })
                }
                Err(current) => word = current,
            }
        }
    }

    /// Reports that the request of `permit` succeeded (report a 429 here too, see the
    /// [module documentation](self)). Returns `true` if this call closed the breaker (the
    /// probe's success).
    ///
    /// In the closed state a success resets the failure count. A non-probe success while
    /// open or half-open changes nothing, and a stale probe's report is ignored. `now` does
    /// not change the outcome; it is taken so both reports have the same shape.
    pub fn on_success(&self, permit: Permit, _now: u64) -> bool {
        let closed = Word::Closed { failures: 0 }.encode();
        if permit.probe {
            return self.end_probe(permit, closed);
        }
        // Relaxed: see `acquire`.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            match Word::decode(word) {
                Word::Closed { failures } if failures > 0 => {}
                // Already reset, or not closed: nothing to do.
                _ => return false,
            }
            // Relaxed on success and failure: see `acquire`.
            match self.word.compare_exchange_weak(
                word,
                closed,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return false,
                Err(current) => word = current,
            }
        }
    }

    /// Reports that the request of `permit` failed at `now`. Returns `true` if this call
    /// opened the breaker: the failure that reached the threshold, or the probe's failure.
    ///
    /// Failures reported while open or half-open by requests admitted earlier change nothing
    /// (they neither extend the open time nor count later), and a stale probe's report is
    /// ignored.
    pub fn on_failure(&self, permit: Permit, now: u64) -> bool {
        let open = Word::Open {
            until_us: deadline_us(now, self.open_for_ns),
        }
        .encode();
        if permit.probe {
            return self.end_probe(permit, open);
        }
        // Relaxed: see `acquire`.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let Word::Closed { failures } = Word::decode(word) else {
                return false;
            };
            let failures = failures.saturating_add(1);
            let (next, opens) = if failures >= u64::from(self.failure_threshold.get()) {
                (open, true)
            } else {
                (Word::Closed { failures }.encode(), false)
            };
            // Relaxed on success and failure: see `acquire`.
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return opens,
                Err(current) => word = current,
            }
        }
    }

    /// Gives back the probe `permit` unsent: the breaker is half-open with no probe out
    /// again, so the next [`CircuitBreaker::acquire`] becomes the probe. Returns `false`,
    /// changing nothing, for a permit that is not the current probe.
    ///
    /// ```
    /// use headway_core::breaker::{BreakerState, CircuitBreaker};
    ///
    /// let b = CircuitBreaker::new(1, 10_000).unwrap();
    /// let p = b.acquire(0).unwrap();
    /// b.on_failure(p, 0);
    /// let probe = b.acquire(10_000).unwrap();
    /// assert!(b.release_probe(probe));
    /// assert_eq!(b.state(10_000), BreakerState::HalfOpen { probe_in_flight: false });
    /// assert!(b.acquire(10_000).unwrap().is_probe());
    /// ```
    pub fn release_probe(&self, permit: Permit) -> bool {
        // Open until the start of the timeline: a probe is due at once.
        permit.probe && self.end_probe(permit, Word::Open { until_us: 0 }.encode())
    }

    /// Ends the half-open state of the probe `permit` with `next` (closed or open again);
    /// `false`, changing nothing, if the probe is stale (the word has moved on since).
    fn end_probe(&self, permit: Permit, next: u64) -> bool {
        // Relaxed on success and failure: see `acquire`.
        self.word
            .compare_exchange(permit.word, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// How long a request that wants to go at `now` should wait before asking again:
    /// `None` when [`CircuitBreaker::acquire`] may admit it now (closed, or a probe is due);
    /// until the probe while open; while a probe is in flight, a tenth of the open time (at
    /// most until the probe's deadline), since the probe usually reports well before it.
    ///
    /// ```
    /// use headway_core::breaker::CircuitBreaker;
    ///
    /// let b = CircuitBreaker::new(1, 10_000).unwrap();
    /// assert_eq!(b.next_check_ns(0), None);
    /// let p = b.acquire(0).unwrap();
    /// b.on_failure(p, 0);
    /// assert_eq!(b.next_check_ns(0), Some(10_000)); // open: wait for the probe
    /// let _probe = b.acquire(10_000).unwrap();
    /// assert_eq!(b.next_check_ns(10_000), Some(1_000)); // a probe in flight: look again soon
    /// ```
    pub fn next_check_ns(&self, now: u64) -> Option<u64> {
        // Relaxed: a snapshot; see `acquire`.
        let due_us = match Word::decode(self.word.load(Ordering::Relaxed)) {
            Word::Closed { .. } => return None,
            Word::Open { until_us } => return remaining_ns(until_us, now),
            Word::HalfOpen { deadline_us } => deadline_us,
        };
        remaining_ns(due_us, now).map(|left| left.min((self.open_for_ns / 10).max(1)))
    }

    /// The state at `now`, without changing it.
    pub fn state(&self, now: u64) -> BreakerState {
        // Relaxed: a snapshot; see `acquire`.
        match Word::decode(self.word.load(Ordering::Relaxed)) {
            Word::Closed { failures } => BreakerState::Closed {
                consecutive_failures: u32::try_from(failures).unwrap_or(u32::MAX),
            },
            Word::Open { until_us } => match remaining_ns(until_us, now) {
                Some(retry_in_ns) => BreakerState::Open { retry_in_ns },
                None => BreakerState::HalfOpen {
                    probe_in_flight: false,
                },
            },
            Word::HalfOpen { deadline_us } => BreakerState::HalfOpen {
                probe_in_flight: remaining_ns(deadline_us, now).is_some(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    fn fail(b: &CircuitBreaker, now: u64) -> bool {
        let permit = b.acquire(now).expect("closed");
        b.on_failure(permit, now)
    }

    #[test]
    fn rejects_bad_configuration() {
        assert_eq!(
            CircuitBreaker::new(0, SEC).unwrap_err(),
            BreakerError::ZeroThreshold
        );
        assert_eq!(
            CircuitBreaker::new(1, 0).unwrap_err(),
            BreakerError::ZeroOpenFor
        );
        assert!(CircuitBreaker::new(u32::MAX, u64::MAX).is_ok());
    }

    #[test]
    fn word_round_trips() {
        for w in [
            Word::Closed { failures: 0 },
            Word::Closed {
                failures: u64::from(u32::MAX),
            },
            Word::Open { until_us: 0 },
            Word::Open {
                until_us: u64::MAX.div_ceil(NS_PER_US),
            },
            Word::HalfOpen { deadline_us: 12 },
        ] {
            assert_eq!(Word::decode(w.encode()), w);
        }
        assert_eq!(Word::Closed { failures: 0 }.encode(), 0);
        assert!(u64::MAX.div_ceil(NS_PER_US) <= PAYLOAD);
        // The unused tag decodes without panicking.
        assert_eq!(Word::decode(u64::MAX), Word::Closed { failures: PAYLOAD });
    }

    #[test]
    fn opens_after_consecutive_failures() {
        let b = CircuitBreaker::new(3, 10 * SEC).unwrap();
        assert!(!fail(&b, 0));
        assert!(!fail(&b, MS));
        assert_eq!(
            b.state(MS),
            BreakerState::Closed {
                consecutive_failures: 2
            }
        );
        assert!(fail(&b, 2 * MS));
        assert_eq!(
            b.acquire(2 * MS),
            Err(Open {
                retry_in_ns: 10 * SEC
            })
        );
        assert_eq!(
            b.state(5 * SEC + 2 * MS),
            BreakerState::Open {
                retry_in_ns: 5 * SEC
            }
        );
    }

    #[test]
    fn success_resets_the_count() {
        let b = CircuitBreaker::new(2, SEC).unwrap();
        assert!(!fail(&b, 0));
        let p = b.acquire(1).unwrap();
        assert!(!b.on_success(p, 1));
        assert_eq!(
            b.state(1),
            BreakerState::Closed {
                consecutive_failures: 0
            }
        );
        assert!(!fail(&b, 2));
        assert!(fail(&b, 3));
    }

    #[test]
    fn half_open_admits_one_probe_and_its_success_closes() {
        let b = CircuitBreaker::new(1, SEC).unwrap();
        assert!(fail(&b, 0));
        assert!(b.acquire(SEC - 1).is_err());
        assert_eq!(
            b.state(SEC),
            BreakerState::HalfOpen {
                probe_in_flight: false
            }
        );
        let probe = b.acquire(SEC).unwrap();
        assert!(probe.is_probe());
        assert_eq!(
            b.state(SEC),
            BreakerState::HalfOpen {
                probe_in_flight: true
            }
        );
        assert_eq!(
            b.acquire(SEC + 1),
            Err(Open {
                retry_in_ns: SEC - 1
            })
        );
        assert!(b.on_success(probe, SEC + 10));
        let p = b.acquire(SEC + 11).unwrap();
        assert!(!p.is_probe());
        // A second report of the same probe changes nothing.
        assert!(!b.on_success(probe, SEC + 12));
        assert!(!b.on_failure(probe, SEC + 12));
        assert_eq!(
            b.state(SEC + 12),
            BreakerState::Closed {
                consecutive_failures: 0
            }
        );
    }

    #[test]
    fn probe_failure_reopens() {
        let b = CircuitBreaker::new(1, SEC).unwrap();
        assert!(fail(&b, 0));
        let probe = b.acquire(2 * SEC).unwrap();
        assert!(b.on_failure(probe, 2 * SEC + 5));
        assert_eq!(
            b.acquire(2 * SEC + 5),
            Err(Open {
                retry_in_ns: SEC + 995 // rounded up to the microsecond
            })
        );
        assert!(b.acquire(3 * SEC + 1_000).unwrap().is_probe());
    }

    #[test]
    fn late_reports_from_before_opening_are_ignored() {
        let b = CircuitBreaker::new(1, SEC).unwrap();
        let early = b.acquire(0).unwrap();
        assert!(fail(&b, 0));
        // Open: an earlier request's failure does not extend the open time...
        assert!(!b.on_failure(early, SEC / 2));
        assert_eq!(
            b.state(SEC),
            BreakerState::HalfOpen {
                probe_in_flight: false
            }
        );
        // ... nor does its success close the breaker, in either open or half-open.
        assert!(!b.on_success(early, SEC / 2));
        let probe = b.acquire(SEC).unwrap();
        assert!(!b.on_success(early, SEC));
        assert!(!b.on_failure(early, SEC));
        assert_eq!(
            b.state(SEC),
            BreakerState::HalfOpen {
                probe_in_flight: true
            }
        );
        assert!(b.on_failure(probe, SEC));
    }

    #[test]
    fn forgotten_probe_is_replaced_and_its_report_ignored() {
        let b = CircuitBreaker::new(1, SEC).unwrap();
        assert!(fail(&b, 0));
        let lost = b.acquire(SEC).unwrap();
        assert!(lost.is_probe());
        assert!(b.acquire(2 * SEC - 1).is_err());
        let second = b.acquire(2 * SEC).unwrap();
        assert!(second.is_probe());
        assert!(!b.on_success(lost, 2 * SEC));
        assert!(!b.on_failure(lost, 2 * SEC));
        assert_eq!(
            b.state(2 * SEC),
            BreakerState::HalfOpen {
                probe_in_flight: true
            }
        );
        assert!(b.on_success(second, 2 * SEC));
    }

    #[test]
    fn extreme_times_saturate() {
        // ceil(u64::MAX / 1000) microseconds is 385 ns past u64::MAX nanoseconds.
        let end = u64::MAX.div_ceil(NS_PER_US);
        let b = CircuitBreaker::new(1, u64::MAX).unwrap();
        assert!(fail(&b, u64::MAX - 5));
        assert_eq!(b.acquire(u64::MAX - 5), Err(Open { retry_in_ns: 390 }));
        // Opened at the end of the timeline: open for good, never half-open early.
        assert_eq!(b.acquire(u64::MAX), Err(Open { retry_in_ns: 385 }));
        assert_eq!(b.state(u64::MAX), BreakerState::Open { retry_in_ns: 385 });
        let b = CircuitBreaker::new(1, SEC).unwrap();
        assert!(fail(&b, u64::MAX - 3 * SEC));
        let probe = b.acquire(u64::MAX - SEC).unwrap();
        assert!(probe.is_probe());
        // The probe's deadline saturates at the end; it is never reached, so no second probe.
        assert!(b.acquire(u64::MAX).is_err());
        assert_eq!(
            Word::decode(b.word.load(Ordering::Relaxed)),
            Word::HalfOpen { deadline_us: end }
        );
        assert!(b.on_failure(probe, u64::MAX));
        assert!(b.acquire(u64::MAX).is_err());
        let b = CircuitBreaker::new(u32::MAX, 1).unwrap();
        for t in 0..1_000 {
            assert!(!fail(&b, t));
        }
        assert_eq!(
            b.state(0),
            BreakerState::Closed {
                consecutive_failures: 1_000
            }
        );
    }
}
