"""The core's decisions for a driver of one's own: GCRA cells and tiers, quota strings, what
a response means, backoff, the retry budget, the circuit breaker, and the two state machines
(:class:`KeyMachine` for one key, :class:`Call` for one call's retries).

Each method is one call of Headway's Rust core; nothing here decides anything of its own.
Times are integer nanoseconds on a timeline the caller owns, and results are spelled as the
shared conformance files (``tests/conformance/data``) spell them, which run unchanged through
this module. :class:`headway.Limiter` drives the same machines on asyncio's clock.
"""

from __future__ import annotations

from ._headway import core as _native

Quota = _native.Quota
Gcra = _native.Gcra
Tiers = _native.Tiers
Reservation = _native.Reservation
Backoff = _native.Backoff
Retrying = _native.Retrying
CircuitBreaker = _native.CircuitBreaker
BreakerPermit = _native.BreakerPermit
RetryBudget = _native.RetryBudget
Attempt = _native.Attempt
Call = _native.Call
Waiter = _native.Waiter
Schedule = _native.Schedule
KeyMachine = _native.KeyMachine
interpret_response = _native.interpret_response

__all__ = [
    "Quota",
    "Gcra",
    "Tiers",
    "Reservation",
    "Backoff",
    "Retrying",
    "CircuitBreaker",
    "BreakerPermit",
    "RetryBudget",
    "Attempt",
    "Call",
    "Waiter",
    "Schedule",
    "KeyMachine",
    "interpret_response",
]
