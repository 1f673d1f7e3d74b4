//! A key's FIFO queue, as the key decides it: when each waiter's turn comes, which waiter
//! can no longer go within its wait, and what the head of the queue does now.
//!
//! The driver keeps the queue (waiters in arrival order, each a [`Waiter`]) and asks:
//! - [`KeyMachine::plan_waiter`], for each waiter in order on one [`Schedule`], when it
//!   joins and whenever an event says to plan again ([`Changed::replan`]): its turn, or why
//!   it will not get one ([`Refused`]); a refused waiter takes no turn from those behind it;
//! - [`KeyMachine::turn`], for the head only: go now (committed), sleep until a time, wait
//!   to be woken (no in-flight slot), or fail;
//! - [`KeyMachine::hear`], once an admitted request's outcome is known: the key learns
//!   from it and the breaker hears it.
//!
//! The key's circuit breaker is part of the turn. While it is open, no turn comes before
//! its probe may go: waiters queue behind it like behind a pause, and one whose wait would
//! end past its deadline fails with [`Refused::CircuitOpen`]. Once it is half-open, the
//! head becomes the probe; the waiters behind it wait for the probe's outcome (as long as
//! their deadlines allow): its success lets them go at once, its failure opens the breaker
//! again and they plan anew.
//!
//! ```
//! use headway_core::key::{InlineTiers, KeyMachine, KeyPolicy, Turn, Waiter};
//! use headway_core::Quota;
//!
//! let policy = KeyPolicy { margin: None, breaker: None, ..KeyPolicy::default() };
//! let mut key: KeyMachine<InlineTiers> =
//!     KeyMachine::new(&[Quota::per_second(2).unwrap()], &policy).unwrap();
//! let (a, b) = (Waiter::new(1, 0, 1_000_000_000), Waiter::new(1, 0, 1_000_000_000));
//! // Joining the queue: a goes at once, b half a second later.
//! let mut tail = key.schedule();
//! assert_eq!(key.plan_waiter(&mut tail, &a, 0), Ok(0));
//! assert_eq!(key.plan_waiter(&mut tail, &b, 0), Ok(500_000_000));
//! // At the head, a goes now; then b sleeps until its time.
//! assert_eq!(key.turn(&a, 0, || true), Turn::Go { probe: None, late_ns: 0 });
//! assert_eq!(key.turn(&b, 0, || true), Turn::At(500_000_000));
//! ```

use core::fmt;

use super::{KeyMachine, TierBuf};
use crate::backoff::SplitMix64;
use crate::breaker::{BreakerState, Permit};
use crate::call::{breaker_success, Attempt};
use crate::gcra::Impossible;
use crate::key::{Changed, KeyPolicy};
use crate::tiers::Schedule;

/// One queued acquisition of `n` cells, as the key plans it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    /// The cells it asks for.
    pub n: u32,
    /// When it joined the queue: its wait counts from here.
    pub queued_at: u64,
    /// The latest turn it accepts.
    pub deadline: u64,
}

impl Waiter {
    /// A waiter for `n` cells joining at `now` that accepts a turn up to `max_wait_ns` later.
    pub fn new(n: u32, now: u64, max_wait_ns: u64) -> Waiter {
        Waiter {
            n,
            queued_at: now,
            deadline: now.saturating_add(max_wait_ns),
        }
    }

    /// Its wait if its turn came at `at`.
    fn wait_until(&self, at: u64) -> u64 {
        at.saturating_sub(self.queued_at)
    }
}

/// Why a waiter gets no turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `n` can never fit the key's quotas.
    Impossible(Impossible),
    /// Its turn would come later than its deadline: after this wait from when it queued.
    WaitTooLong {
        /// The wait it would have needed, in nanoseconds from when it queued.
        wait_ns: u64,
    },
    /// The key's circuit breaker stays open (or its probe out) past the waiter's deadline.
    CircuitOpen {
        /// Nanoseconds from the decision until a probe may go.
        retry_in_ns: u64,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Impossible(i) => i.fmt(f),
            Refused::WaitTooLong { wait_ns } => write!(
                f,
                "the rate limit would make this request wait {} ms, longer than max_wait",
                wait_ns.div_ceil(crate::NANOS_PER_MILLI)
            ),
            Refused::CircuitOpen { retry_in_ns } => write!(
                f,
                "circuit open: the server kept failing; next probe in {} ms",
                retry_in_ns.div_ceil(crate::NANOS_PER_MILLI)
            ),
        }
    }
}

impl core::error::Error for Refused {}

impl From<Impossible> for Refused {
    fn from(i: Impossible) -> Refused {
        Refused::Impossible(i)
    }
}

/// What the head of a key's queue does now; see [`KeyMachine::turn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// It went: its cells and an in-flight slot are taken.
    Go {
        /// The breaker's permit to report the outcome with ([`KeyMachine::hear`]);
        /// `None` when the key has no breaker.
        probe: Option<Permit>,
        /// How long after its time it went (a late wake): a schedule planned with it moves
        /// by this much at most ([`Schedule::delay`]).
        late_ns: u64,
    },
    /// Its turn comes at this time: sleep until then and ask again.
    At(u64),
    /// Its time has come but there is no slot (the key's in-flight cap, or the driver's
    /// own): ask again when a request of the key ends.
    Blocked,
    /// It gets no turn.
    Refused(Refused),
}

impl<B: TierBuf> KeyMachine<B> {
    /// When the key's breaker lets a probe go, while it is open (`None` otherwise).
    fn circuit_opens_at(&self, now: u64) -> Option<u64> {
        match self.breaker.as_ref()?.state(now) {
            BreakerState::Open { retry_in_ns } => Some(now.saturating_add(retry_in_ns)),
            _ => None,
        }
    }

    /// Plans `waiter`'s turn on `ahead`, the schedule once every waiter before it has had
    /// its turn, and admits it there. A refused waiter leaves `ahead` as it was: it takes
    /// no turn from those behind it.
    pub fn plan_waiter(
        &self,
        ahead: &mut Schedule,
        waiter: &Waiter,
        now: u64,
    ) -> Result<u64, Refused> {
        let mut planned = *ahead;
        let opens_at = self.circuit_opens_at(now);
        if let Some(at) = opens_at {
            planned.not_before = planned.not_before.max(at);
        }
        let turn = self.plan_on(&mut planned, waiter.n, now)?;
        if turn <= waiter.deadline {
            *ahead = planned;
            return Ok(turn);
        }
        Err(match opens_at {
            Some(at) if at > waiter.deadline => Refused::CircuitOpen {
                retry_in_ns: at - now,
            },
            _ => Refused::WaitTooLong {
                wait_ns: waiter.wait_until(turn),
            },
        })
    }

    /// The turn of a waiter that will not queue (a try-acquire): [`KeyMachine::turn`] when
    /// nobody is queued; with others queued it never goes ahead of them, and gets
    /// [`Turn::At`] the time the rate alone would allow it (a lower bound, since those ahead
    /// go first), or is refused when it can never fit.
    ///
    /// ```
    /// use headway_core::key::{InlineTiers, KeyMachine, KeyPolicy, Turn, Waiter};
    /// use headway_core::Quota;
    ///
    /// let policy = KeyPolicy { margin: None, breaker: None, ..KeyPolicy::default() };
    /// let mut key: KeyMachine<InlineTiers> =
    ///     KeyMachine::new(&[Quota::per_second(2).unwrap()], &policy).unwrap();
    /// let w = Waiter::new(1, 0, 0);
    /// // Others queued: not now, although the rate would allow it.
    /// assert_eq!(key.try_turn(&w, true, 0, || true), Turn::At(0));
    /// assert!(matches!(key.try_turn(&w, false, 0, || true), Turn::Go { .. }));
    /// ```
    pub fn try_turn(
        &mut self,
        waiter: &Waiter,
        others_queued: bool,
        now: u64,
        take_slot: impl FnOnce() -> bool,
    ) -> Turn {
        if !others_queued {
            return self.turn(waiter, now, take_slot);
        }
        match self.ready_at(waiter.n, now) {
            Ok(at) => Turn::At(at),
            Err(i) => Turn::Refused(Refused::Impossible(i)),
        }
    }

    /// What the head of the queue, `waiter`, does at `now`: go (its cells committed, the
    /// breaker's permit taken), sleep until its turn, wait for a slot, or fail.
    ///
    /// `take_slot` asks for a slot the driver keeps beside the key's own (a cap shared by
    /// several keys): asked last, only when everything else lets the waiter go; `false`
    /// blocks it, taking nothing. A wait for a slot never fails a waiter: it ends when a
    /// request does. A wait for the breaker's probe to report fails it at its deadline.
    pub fn turn(&mut self, waiter: &Waiter, now: u64, take_slot: impl FnOnce() -> bool) -> Turn {
        let ready = match self.ready_at(waiter.n, now) {
            Ok(t) => t.max(self.circuit_opens_at(now).unwrap_or(0)),
            Err(i) => return Turn::Refused(i.into()),
        };
        if ready > now {
            return match self.circuit_opens_at(now) {
                Some(at) if at > waiter.deadline => Turn::Refused(Refused::CircuitOpen {
                    retry_in_ns: at - now,
                }),
                _ if ready > waiter.deadline => Turn::Refused(Refused::WaitTooLong {
                    wait_ns: waiter.wait_until(ready),
                }),
                _ => Turn::At(ready),
            };
        }
        if !self.may_send() {
            return Turn::Blocked;
        }
        let permit = match self.breaker.as_ref().map(|b| b.acquire(now)) {
            None => None,
            Some(Ok(permit)) => Some(permit),
            // Half-open with the probe out: wait for its outcome (it wakes the queue), at
            // most until its deadline, when another probe may go, or the waiter's.
            Some(Err(open)) => {
                let next = now.saturating_add(open.retry_in_ns);
                return match next.min(waiter.deadline) {
                    at if at > now => Turn::At(at),
                    _ => Turn::Refused(Refused::CircuitOpen {
                        retry_in_ns: open.retry_in_ns,
                    }),
                };
            }
        };
        if !take_slot() {
            // Nothing taken: a closed breaker's permit holds nothing, and a probe is given
            // back unsent.
            if let (Some(b), Some(p)) = (self.breaker.as_ref(), permit) {
                if p.is_probe() {
                    b.release_probe(p);
                }
            }
            return Turn::Blocked;
        }
        self.commit(waiter.n, now);
        Turn::Go {
            probe: permit,
            late_ns: now - ready,
        }
    }

    /// What came back for a request admitted at `sent_at` (from [`Turn::Go`], with its
    /// `probe`), heard at `now`: a response teaches the key
    /// ([`KeyMachine::on_response`]), a failure ends its probe of an unknown server
    /// ([`KeyMachine::on_failure`]), and the breaker hears a success or a failure, as
    /// [`breaker_success`] classes the attempt. When the breaker closed or opened, the
    /// queue must plan again ([`Changed::replan`]).
    pub fn hear(
        &mut self,
        attempt: Attempt<'_>,
        probe: Option<Permit>,
        sent_at: u64,
        now: u64,
        policy: &KeyPolicy,
        rng: &mut SplitMix64,
    ) -> Changed {
        let mut changed = match attempt {
            Attempt::Response { interpretation, .. } => {
                self.on_response(interpretation, sent_at, now, policy, rng)
            }
            Attempt::Failed { .. } | Attempt::TimedOut => self.on_failure(),
        };
        if let (Some(b), Some(p)) = (self.breaker.as_ref(), probe) {
            let moved = if breaker_success(attempt) {
                b.on_success(p, now)
            } else {
                b.on_failure(p, now)
            };
            changed.replan |= moved;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{BreakerPolicy, InlineTiers, KeyPolicy};

    const SEC: u64 = 1_000_000_000;

    fn key(max_in_flight: Option<u32>) -> KeyMachine<InlineTiers> {
        let policy = KeyPolicy {
            max_in_flight,
            breaker: Some(BreakerPolicy {
                failure_threshold: 1,
                open_for_ns: SEC,
            }),
            margin: None,
            ..KeyPolicy::default()
        };
        KeyMachine::new(&[], &policy).unwrap()
    }

    /// Opens `key`'s breaker at 0 with one failed request.
    fn open(key: &mut KeyMachine<InlineTiers>) {
        let Turn::Go { probe, .. } = key.turn(&Waiter::new(1, 0, SEC), 0, || true) else {
            panic!("a closed breaker lets the first request go");
        };
        key.release();
        let (policy, rng) = (KeyPolicy::default(), &mut SplitMix64::new(0));
        assert!(
            key.hear(Attempt::TimedOut, probe, 0, 0, &policy, rng)
                .replan
        );
    }

    #[test]
    fn a_probe_blocked_by_the_drivers_slot_is_given_back() {
        let mut key = key(None);
        open(&mut key);
        let w = Waiter::new(1, SEC, SEC);
        assert_eq!(key.turn(&w, SEC, || false), Turn::Blocked);
        assert_eq!(key.in_flight(), 0);
        let half_open = BreakerState::HalfOpen {
            probe_in_flight: false,
        };
        assert_eq!(key.breaker().unwrap().state(SEC), half_open);
        match key.turn(&w, SEC, || true) {
            Turn::Go {
                probe: Some(p),
                late_ns: 0,
            } => assert!(p.is_probe()),
            other => panic!("expected the probe to go, got {other:?}"),
        }
    }

    #[test]
    fn the_drivers_slot_is_asked_only_when_the_key_lets_the_waiter_go() {
        let mut key = key(Some(1));
        let first = Waiter::new(1, 0, SEC);
        assert!(matches!(key.turn(&first, 0, || true), Turn::Go { .. }));
        let mut asked = false;
        let second = key.turn(&Waiter::new(1, 0, SEC), 0, || {
            asked = true;
            true
        });
        assert_eq!((second, asked), (Turn::Blocked, false));
    }

    #[test]
    fn an_open_breaker_is_a_floor_under_every_turn_and_fails_those_it_outlasts() {
        let mut key = key(None);
        open(&mut key);
        let mut tail = key.schedule();
        let patient = Waiter::new(1, SEC / 2, SEC);
        assert_eq!(key.plan_waiter(&mut tail, &patient, SEC / 2), Ok(SEC));
        let hasty = Waiter::new(1, SEC / 2, SEC / 4);
        let refused = Refused::CircuitOpen {
            retry_in_ns: SEC / 2,
        };
        assert_eq!(key.plan_waiter(&mut tail, &hasty, SEC / 2), Err(refused));
        assert_eq!(key.turn(&hasty, SEC / 2, || true), Turn::Refused(refused));
        assert_eq!(key.turn(&patient, SEC / 2, || true), Turn::At(SEC));
    }
}
