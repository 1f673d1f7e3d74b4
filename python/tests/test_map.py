"""headway.map: one result per item, in order when asked, bounded memory."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterator, List

import httpx
import pytest

import headway
import headway.httpx
from conftest import Mock


async def collect(it: Any) -> List[Any]:
    return [r async for r in it]


async def test_exactly_one_result_per_item_in_order() -> None:
    async def fetch(i: int) -> int:
        await asyncio.sleep((10 - i % 10) / 1000)
        if i % 7 == 3:
            raise KeyError(i)
        return i * 2

    out = await collect(headway.map(fetch, range(100), concurrency=10, ordered=True))
    assert len(out) == 100
    for i, r in enumerate(out):
        if i % 7 == 3:
            assert isinstance(r, KeyError) and r.args == (i,)
        else:
            assert r == i * 2


async def test_unordered_yields_every_item_once() -> None:
    async def fetch(i: int) -> int:
        await asyncio.sleep((i % 5) / 1000)
        return i

    out = await collect(headway.map(fetch, range(200), concurrency=7, ordered=False))
    assert sorted(out) == list(range(200))
    assert out != list(range(200))


async def test_async_iterable_input_and_synchronous_failures() -> None:
    async def items() -> AsyncIterator[Any]:
        for i in range(5):
            await asyncio.sleep(0)
            yield i

    def not_async(i: int) -> int:
        return i  # no awaitable: that item's result is the TypeError

    out = await collect(headway.map(not_async, items()))
    assert len(out) == 5 and all(isinstance(r, TypeError) for r in out)


async def test_an_iterator_that_fails_ends_the_map_after_its_items() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk")

    async def fetch(i: int) -> int:
        return i

    got: List[int] = []
    with pytest.raises(OSError):
        async for r in headway.map(fetch, items()):
            got.append(r)
    assert got == [1, 2]


async def test_a_million_items_in_bounded_memory() -> None:
    pulled = 0
    finished = 0
    most_ahead = 0

    def items() -> Iterator[int]:
        nonlocal pulled, most_ahead
        for i in range(1_000_000):
            pulled += 1
            most_ahead = max(most_ahead, pulled - finished)
            yield i

    async def fetch(i: int) -> int:
        nonlocal finished
        finished += 1
        return i

    count = 0
    async for r in headway.map(fetch, items(), concurrency=10):
        assert r == count
        count += 1
    assert count == 1_000_000
    # Items are pulled only as calls finish: never more than the concurrency ahead.
    assert most_ahead <= 11


async def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        headway.map(42, range(3))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        headway.map(asyncio.sleep, 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        headway.map(asyncio.sleep, range(3), concurrency=0)


async def test_map_over_the_mock_api(mock: Mock) -> None:
    limiter = headway.Limiter("50/s", burst=5)
    async with httpx.AsyncClient(transport=headway.httpx.Transport(limiter)) as c:

        async def fetch(i: int) -> str:
            r = await c.get(f"{mock.url}/items/{i}")
            r.raise_for_status()
            return str(r.json()["path"])

        out = await collect(headway.map(fetch, range(40), concurrency=10))
    assert out == [f"/items/{i}" for i in range(40)]
    assert mock.stats()["total"]["requests"] == 40
