"""Headway for asyncio: a client-side rate limiter that goes exactly as fast as the server
allows.

Every decision (GCRA tiers, the FIFO queue of each key, what a response means, retries,
backoff, the retry budget, the circuit breaker) is made by Headway's Rust core and engine,
embedded here; this package supplies asyncio's clock and timers and the HTTP client.

>>> limiter = headway.Limiter("100/min", burst=5)               # doctest: +SKIP
>>> async with limiter.acquire(key="api.example.com"):          # doctest: +SKIP
...     ...
"""

from __future__ import annotations

from ._headway import Acquisition, Limiter, Permit, map
from .errors import (
    CircuitOpenError,
    ConfigError,
    HeadwayError,
    ImpossibleError,
    NotReadyError,
    QuotaError,
    RateLimitError,
    TimeoutError,
    WaitTooLongError,
)

__all__ = [
    "Limiter",
    "Acquisition",
    "Permit",
    "map",
    "HeadwayError",
    "ConfigError",
    "QuotaError",
    "RateLimitError",
    "WaitTooLongError",
    "CircuitOpenError",
    "NotReadyError",
    "ImpossibleError",
    "TimeoutError",
]
