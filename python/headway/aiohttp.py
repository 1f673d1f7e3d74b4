"""aiohttp integration (aiohttp 3.12 and later): a client middleware that paces, retries
and learns through a :class:`headway.Limiter`.

>>> session = aiohttp.ClientSession(middlewares=[headway.aiohttp.middleware(limiter)])  # doctest: +SKIP

The behaviour is the httpx transport's (see :mod:`headway.httpx`): a FIFO queue per origin,
429/503 retried after ``Retry-After`` or with backoff within the budget and the breaker,
quotas learned from the headers, every decision Headway's engine's.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, List, Optional, Tuple

import aiohttp
from aiohttp.payload import AsyncIterablePayload

from ._headway import Limiter
from ._origin import origin

__all__ = ["middleware"]

# Failures another attempt may fix; anything else is permanent.
_TRANSIENT = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    asyncio.TimeoutError,
)

Handler = Callable[[aiohttp.ClientRequest], Any]
Middleware = Callable[[aiohttp.ClientRequest, Handler], Any]


def _permanent(error: BaseException) -> bool:
    return not isinstance(error, _TRANSIENT) or isinstance(error, aiohttp.InvalidURL)


def _key(request: aiohttp.ClientRequest) -> str:
    url = request.url
    return origin(url.scheme, url.host or "", url.port)


def middleware(
    limiter: Limiter, *, key: Optional[Callable[[aiohttp.ClientRequest], str]] = None
) -> Middleware:
    """A client middleware that sends every request of the session through ``limiter``.

    ``key`` maps a request to its queue (default: its origin, ``scheme://host:port``). A
    request whose body is an async iterable cannot be sent again and is not retried. The
    final response is returned as is (possibly a 429 or 5xx once retries ran out). A failure
    with no response raises aiohttp's exception, or a :mod:`headway.errors` one.
    """
    if not isinstance(limiter, Limiter):
        raise TypeError(f'"limiter" must be a headway.Limiter, got {type(limiter).__name__}')
    key_of = key if key is not None else _key

    async def headway_middleware(
        request: aiohttp.ClientRequest, handler: Handler
    ) -> aiohttp.ClientResponse:
        async def send(
            req: aiohttp.ClientRequest,
        ) -> Tuple[aiohttp.ClientResponse, int, List[Tuple[str, str]], Optional[int]]:
            # Between the admission and the socket lie a task to start and a connection to
            # take from the pool, turns of the event loop long and uneven enough that a
            # strict server would count two requests closer together than they were
            # admitted. The request's own `send` hands it to the connection (a request
            # without a body is on the wire when it returns): the key spaces the next
            # request from that moment.
            sent: List[int] = []
            write = req.send

            async def send_and_note(conn: Any) -> aiohttp.ClientResponse:
                written = await write(conn)
                sent.append(limiter._now_ns())
                return written

            req.send = send_and_note  # type: ignore[method-assign]
            try:
                response: aiohttp.ClientResponse = await handler(req)
            finally:
                del req.send
            if response.status == 429 or response.status >= 500:
                # Read now, so that dropping a retried response frees its connection.
                await response.read()
            wire = sent[-1] if sent else None
            return response, response.status, list(response.headers.items()), wire

        replayable = not isinstance(request.body, AsyncIterablePayload)
        sent: Tuple[Any, int, float] = await limiter._execute(
            send, _permanent, request, key_of(request), request.method, replayable
        )
        response = sent[0]
        assert isinstance(response, aiohttp.ClientResponse)
        return response

    return headway_middleware
