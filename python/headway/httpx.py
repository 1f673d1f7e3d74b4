"""httpx integration: a transport that paces, retries and learns through a
:class:`headway.Limiter`.

>>> client = httpx.AsyncClient(transport=headway.httpx.Transport(limiter))  # doctest: +SKIP

Each request waits its turn in its origin's FIFO queue (``scheme://host:port``, or the key
``key(request)`` returns), goes out through the wrapped transport, and what comes back is
read by Headway's engine: a 429 or 503 pauses that origin for every queued request and is
retried after ``Retry-After`` (or with backoff, within the retry budget and the circuit
breaker), and rate-limit headers teach the origin's quotas. The retry loop is the engine's;
this module only sends.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import httpx

from ._headway import Limiter
from ._origin import origin

__all__ = ["Transport"]

# Failures another attempt may fix; anything else (a bad URL, an unsupported protocol, a
# local protocol error, an exception that is not httpx's) is permanent.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _permanent(error: BaseException) -> bool:
    return not isinstance(error, _TRANSIENT)


def _key(request: httpx.Request) -> str:
    url = request.url
    return origin(url.scheme, url.host, url.port)


class Transport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` that sends through ``limiter``.

    ``transport`` is the transport that does the sending (default
    ``httpx.AsyncHTTPTransport()``); ``key`` maps a request to its queue (default: its
    origin). A request whose body is a stream cannot be sent again and is not retried.
    The final response is returned as is (possibly a 429 or 5xx once retries ran out), with
    ``response.extensions["headway"] = {"attempts": n, "waited": seconds}``. A failure with
    no response raises the wrapped transport's exception, or a :mod:`headway.errors` one.
    """

    def __init__(
        self,
        limiter: Limiter,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        *,
        key: Optional[Callable[[httpx.Request], str]] = None,
    ) -> None:
        if not isinstance(limiter, Limiter):
            raise TypeError(f'"limiter" must be a headway.Limiter, got {type(limiter).__name__}')
        self._limiter = limiter
        self._inner = transport if transport is not None else httpx.AsyncHTTPTransport()
        self._key = key if key is not None else _key

    async def _send(
        self, request: httpx.Request
    ) -> Tuple[httpx.Response, int, List[Tuple[str, str]], Optional[int]]:
        # httpx's way from the admission to the socket (a task to start, a pooled
        # connection, anyio's checkpoints) takes several turns of the event loop, long and
        # uneven enough that a strict server would count two requests closer together than
        # they were admitted. httpcore's trace hook says when the request's headers were
        # written, and the key spaces the next request from that moment.
        sent: List[int] = []
        user_trace = request.extensions.get("trace")

        async def trace(event: str, info: Dict[str, Any]) -> None:
            if event.endswith("send_request_headers.complete"):
                sent.append(self._limiter._now_ns())
            if user_trace is not None:
                await user_trace(event, info)

        request.extensions["trace"] = trace
        try:
            response = await self._inner.handle_async_request(request)
        finally:
            if user_trace is None:
                del request.extensions["trace"]
            else:
                request.extensions["trace"] = user_trace
        status = response.status_code
        if status == 429 or status >= 500:
            # A response that may be retried is read now, so that dropping it frees its
            # connection; bodies of such responses are short.
            await response.aread()
        return response, status, response.headers.multi_items(), sent[-1] if sent else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        replayable = isinstance(request.stream, httpx.ByteStream)
        sent: Tuple[Any, int, float] = await self._limiter._execute(
            self._send, _permanent, request, self._key(request), request.method, replayable
        )
        response, attempts, waited = sent
        response.extensions["headway"] = {"attempts": attempts, "waited": waited}
        assert isinstance(response, httpx.Response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
