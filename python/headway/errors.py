"""The exceptions Headway raises.

Every one derives from :class:`HeadwayError`. Those that mean "not within the limits" derive
from :class:`RateLimitError` and carry ``retry_after``: the seconds after which trying again
may succeed (``None`` when unknown). Bad configuration raises :class:`ConfigError` (a
``ValueError``) or ``TypeError``, naming the option, when the limiter is built.
"""

from __future__ import annotations

import builtins
from typing import Optional

__all__ = [
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


class HeadwayError(Exception):
    """The base of every Headway exception."""


class ConfigError(HeadwayError, ValueError):
    """A bad option, raised when the limiter is built; the message names the option."""


class QuotaError(ConfigError):
    """A quota that is not one (``headway.core.Quota``); ``kind`` names why: ``"syntax"``,
    ``"zero_limit"``, ``"zero_period"``, ``"zero_burst"`` or ``"overflow"``."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class RateLimitError(HeadwayError):
    """The request cannot go within the limits now.

    ``retry_after`` is the time in seconds until it may (``None`` when unknown).
    """

    def __init__(self, message: str, retry_after: Optional[float]) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WaitTooLongError(RateLimitError):
    """The wait would be longer than ``max_wait``.

    ``wait`` is that wait in seconds; ``server`` is true when the server asked for it
    (``Retry-After`` and the like), false when the limiter's own quota, queue or pause would
    have made the request wait that long.
    """

    def __init__(self, message: str, wait: float, server: bool) -> None:
        super().__init__(message, wait)
        self.wait = wait
        self.server = server


class CircuitOpenError(RateLimitError):
    """The host kept failing and its circuit breaker is open; ``retry_after`` is the time
    until a probe request may go."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after)


class NotReadyError(RateLimitError):
    """``try_acquire`` found no room now: ``retry_after`` is the time until the rate allows
    it (a lower bound when others are queued), or ``None`` when an in-flight cap is full."""


class ImpossibleError(HeadwayError, ValueError):
    """The request asks for more cells (``n``) than the quota's burst allows: it could never
    go."""

    def __init__(self, message: str, n: int, burst: int) -> None:
        super().__init__(message)
        self.n = n
        self.burst = burst


class TimeoutError(HeadwayError, builtins.TimeoutError):
    """No response within the per-attempt ``timeout`` and no retry was allowed; ``after``
    is that timeout in seconds, ``attempts`` the attempts made."""

    def __init__(self, message: str, after: float, attempts: int) -> None:
        super().__init__(message)
        self.after = after
        self.attempts = attempts
