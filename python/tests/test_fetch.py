"""httpx and aiohttp through the Limiter, against the real mock API over loopback. Assertions
are on the server's own counts and on the order of events, never on timing."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, List, Tuple

import aiohttp
import httpx
import pytest

import headway
import headway.aiohttp
import headway.httpx
from conftest import Mock

Get = Callable[[str], Awaitable[Tuple[int, Any]]]


class Client:
    """One of the two integrations, as a `get(url) -> (status, json)`."""

    def __init__(self, kind: str, limiter: headway.Limiter) -> None:
        self.kind = kind
        self.limiter = limiter

    async def __aenter__(self) -> "Client":
        if self.kind == "httpx":
            self.httpx = httpx.AsyncClient(transport=headway.httpx.Transport(self.limiter))
        else:
            self.session = aiohttp.ClientSession(middlewares=[headway.aiohttp.middleware(self.limiter)])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.kind == "httpx":
            await self.httpx.aclose()
        else:
            await self.session.close()

    async def get(self, url: str) -> Tuple[int, Any]:
        if self.kind == "httpx":
            r = await self.httpx.get(url)
            return r.status_code, r.json()
        async with self.session.get(url) as resp:
            return resp.status, await resp.json(content_type=None)


KINDS = ["httpx", "aiohttp"]


@pytest.mark.parametrize("kind", KINDS)
async def test_learned_strict_quota(kind: str, mock: Mock) -> None:
    # 40/s burst 1, learned from the headers; the margin absorbs send-to-arrival jitter.
    limiter = headway.Limiter(concurrency=8)
    async with Client(kind, limiter) as c:
        results = await asyncio.gather(*(c.get(mock.url + "/strict") for _ in range(60)))
    assert [s for s, _ in results] == [200] * 60
    route = mock.route("/strict")
    assert route["admitted"] == 60
    # No 429 at all: httpx's uneven way from the admission to the socket (a task, the
    # pool, anyio's checkpoints: 0.6 to 1 ms) is taken out by spacing each request from
    # the moment its headers were written.
    assert route["rejected"] == 0
    assert limiter.stats()["keys"][mock.url]["source"] == "learned"
    assert limiter.stats()["keys"][mock.url]["quotas"] == ["40/s"]


@pytest.mark.parametrize("kind", KINDS)
async def test_retry_after_pauses_one_host_only(kind: str, mock: Mock, other: Mock) -> None:
    limiter = headway.Limiter()
    done: List[str] = []

    async def get(name: str, url: str) -> int:
        status, _ = await c.get(url)
        done.append(name)
        return status

    async with Client(kind, limiter) as c:
        paused = [get("paused", mock.url + "/outage") for _ in range(10)]
        free = [get("free", other.url + "/free") for _ in range(10)]
        statuses = await asyncio.gather(*paused, *free)
    assert statuses == [200] * 20
    # The other host never waited for the paused one: all its calls ended first.
    assert done[:10] == ["free"] * 10
    # Only the first call, sent alone to learn the host, met the outage; the others queued
    # behind the pause it asked for.
    route = mock.route("/outage")
    assert (route["rejected"], route["admitted"]) == (1, 10)
    assert limiter.stats()["retries"] == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_cancelled_request_is_never_sent(kind: str, mock: Mock) -> None:
    limiter = headway.Limiter("5/s")
    async with Client(kind, limiter) as c:
        await c.get(mock.url + "/c")
        queued = asyncio.ensure_future(c.get(mock.url + "/c"))
        last = asyncio.ensure_future(c.get(mock.url + "/c"))
        await asyncio.sleep(0.01)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        status, body = await last
    assert status == 200
    assert mock.stats()["total"]["requests"] == 2
    assert body["n"] == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_failures_open_the_breaker(kind: str, mock: Mock) -> None:
    # An open breaker is waited out within max_wait (10 s here by default): with a shorter
    # max_wait the call fails at once.
    limiter = headway.Limiter(max_retries=0, max_wait=5)
    async with Client(kind, limiter) as c:
        statuses = [(await c.get(mock.url + "/fail"))[0] for _ in range(6)]
        with pytest.raises(headway.CircuitOpenError) as e:
            await c.get(mock.url + "/fail")
    assert e.value.retry_after is not None and e.value.retry_after > 0
    # The first goes ok ("every": 1), then five failures open the breaker.
    assert statuses == [200] + [500] * 5
    assert mock.route("/fail")["requests"] == 6


async def test_connection_refused_raises_the_clients_error() -> None:
    limiter = headway.Limiter(max_retries=1)
    async with httpx.AsyncClient(transport=headway.httpx.Transport(limiter)) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("http://127.0.0.1:9/")
    assert limiter.stats()["sent"] == 2
    assert limiter.stats()["failed"] == 1


async def serve_hostile(headers: List[str]) -> Tuple[asyncio.AbstractServer, str]:
    """A real loopback HTTP server answering every request with a 429 and `headers`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                body = b"{}"
                lines = ["HTTP/1.1 429 Too Many Requests", f"Content-Length: {len(body)}", *headers]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    "headers, too_long",
    [
        (["Retry-After: 99999999999999999999"], True),
        (["X-RateLimit-Remaining: 0", "X-RateLimit-Reset: 99999999999999999999"], True),
        (["Retry-After: Fri, 31 Dec 9999 23:59:59 GMT"], True),
        # Not numbers: ignored, the call backs off and returns the last 429.
        (["Retry-After: 1e309"], False),
        (["RateLimit: limit=1, remaining=0, reset=1e309"], False),
    ],
)
async def test_hostile_headers_never_hang(headers: List[str], too_long: bool) -> None:
    server, url = await serve_hostile(headers)
    limiter = headway.Limiter(max_wait=5, max_retries=2)
    try:
        async with httpx.AsyncClient(transport=headway.httpx.Transport(limiter)) as c:
            # wait_for is a hang guard only: every case ends within the backoff caps.
            if too_long:
                with pytest.raises(headway.WaitTooLongError) as e:
                    await asyncio.wait_for(c.get(url), 60)
                assert e.value.server is True
                assert e.value.wait > 5
            else:
                r = await asyncio.wait_for(c.get(url), 60)
                assert r.status_code == 429
                assert r.extensions["headway"]["attempts"] == 3
    finally:
        server.close()


async def test_negative_retry_after_is_a_bounded_wait() -> None:
    server, url = await serve_hostile(["Retry-After: -5"])
    limiter = headway.Limiter(max_retries=2)
    try:
        async with httpx.AsyncClient(transport=headway.httpx.Transport(limiter)) as c:
            r = await asyncio.wait_for(c.get(url), 60)
        assert r.status_code == 429
        assert r.extensions["headway"]["attempts"] == 3
    finally:
        server.close()
