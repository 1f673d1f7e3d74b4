"""The Limiter on a virtual-time event loop: exact schedules, FIFO, cancellation, errors."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

import headway
from conftest import VirtualLoop, virtual


async def admit_times(limiter: headway.Limiter, loop: VirtualLoop, count: int, key: str = "k") -> List[float]:
    times: List[float] = []

    async def one() -> None:
        async with limiter.acquire(key=key):
            times.append(round(loop.time(), 9))

    await asyncio.gather(*(one() for _ in range(count)))
    return times


def test_paces_exactly_on_the_quota() -> None:
    async def main(loop: VirtualLoop) -> List[float]:
        return await admit_times(headway.Limiter("10/s", clock=loop), loop, 5)

    assert virtual(main) == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_burst_goes_at_once_then_paces() -> None:
    async def main(loop: VirtualLoop) -> List[float]:
        return await admit_times(headway.Limiter("10/s", burst=3, clock=loop), loop, 5)

    assert virtual(main) == [0.0, 0.0, 0.0, 0.1, 0.2]


def test_tiers_are_all_or_nothing() -> None:
    async def main(loop: VirtualLoop) -> List[float]:
        return await admit_times(headway.Limiter(["4/s", "6/min"], clock=loop), loop, 3)

    assert virtual(main) == [0.0, 10.0, 20.0]


def test_keys_are_independent() -> None:
    async def main(loop: VirtualLoop) -> List[List[float]]:
        limiter = headway.Limiter("1/s", clock=loop)
        return list(await asyncio.gather(admit_times(limiter, loop, 2, "a"), admit_times(limiter, loop, 2, "b")))

    assert virtual(main) == [[0.0, 1.0], [0.0, 1.0]]


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    async def main(loop: VirtualLoop) -> List[float]:
        limiter = headway.Limiter("10/s", clock=loop)
        await limiter.acquire(key="k")
        times: List[float] = []

        async def one() -> None:
            async with limiter.acquire(key="k"):
                times.append(round(loop.time(), 9))

        second = asyncio.ensure_future(one())
        third = asyncio.ensure_future(one())
        await asyncio.sleep(0.01)
        assert limiter.key_stats("k")["queued"] == 2
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        assert limiter.key_stats("k")["queued"] == 1
        await third
        return times

    # The third takes the second's turn, 0.1 s after the first.
    assert virtual(main) == [0.1]


def test_a_large_request_is_not_overtaken() -> None:
    async def main(loop: VirtualLoop) -> List[str]:
        limiter = headway.Limiter("10/s", burst=4, clock=loop)
        order: List[str] = []
        await limiter.acquire(key="k", n=4)

        async def take(name: str, n: int) -> None:
            await limiter.acquire(key="k", n=n)
            order.append(name)

        big = asyncio.ensure_future(take("big", 4))
        await asyncio.sleep(0)
        small = [asyncio.ensure_future(take(f"small{i}", 1)) for i in range(3)]
        await asyncio.gather(big, *small)
        return order

    assert virtual(main) == ["big", "small0", "small1", "small2"]


def test_max_wait_fails_at_once_with_the_wait() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = headway.Limiter("1/s", max_wait=0.5, clock=loop)
        await limiter.acquire()
        with pytest.raises(headway.WaitTooLongError) as e:
            await limiter.acquire()
        assert e.value.server is False
        assert e.value.retry_after == pytest.approx(1.0)
        assert isinstance(e.value, headway.RateLimitError)
        assert loop.time() == 0.0

    virtual(main)


def test_try_acquire() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = headway.Limiter("2/s", concurrency=1, clock=loop)
        permit = limiter.try_acquire(key="k")
        assert permit.held
        with pytest.raises(headway.NotReadyError) as e:
            limiter.try_acquire(key="other")
        assert e.value.retry_after is None  # the in-flight cap, not the rate
        permit.release()
        assert not permit.held
        with pytest.raises(headway.NotReadyError) as e:
            limiter.try_acquire(key="k")
        assert e.value.retry_after == pytest.approx(0.5)
        with pytest.raises(headway.ImpossibleError) as i:
            limiter.try_acquire(key="k", n=2)
        assert (i.value.n, i.value.burst) == (2, 1)

    virtual(main)


def test_concurrency_cap_holds_until_release() -> None:
    async def main(loop: VirtualLoop) -> List[float]:
        limiter = headway.Limiter(concurrency=2, clock=loop)
        times: List[float] = []

        async def one() -> None:
            async with limiter.acquire(key="k"):
                times.append(loop.time())
                await asyncio.sleep(1)

        await asyncio.gather(*(one() for _ in range(5)))
        assert limiter.stats()["in_flight"] == 0
        return times

    assert virtual(main) == [0.0, 0.0, 1.0, 1.0, 2.0]


def test_pause_moves_every_waiter_of_the_key_only() -> None:
    async def main(loop: VirtualLoop) -> List[List[float]]:
        limiter = headway.Limiter("10/s", clock=loop)
        limiter.pause("a", 5)
        return list(await asyncio.gather(admit_times(limiter, loop, 2, "a"), admit_times(limiter, loop, 2, "b")))

    assert virtual(main) == [[5.0, 5.1], [0.0, 0.1]]


def test_set_quotas_and_stats() -> None:
    async def main(loop: VirtualLoop) -> List[float]:
        limiter = headway.Limiter("10/s", clock=loop)
        limiter.set_quotas("k", "2/s")
        times = await admit_times(limiter, loop, 3)
        stats = limiter.stats()
        assert stats["keys"]["k"]["quotas"] == ["2/s"]
        assert stats["keys"]["k"]["source"] == "configured"
        assert stats["queued"] == 0
        return times

    assert virtual(main) == [0.0, 0.5, 1.0]


def test_awaiting_twice_is_an_error() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = headway.Limiter(clock=loop)
        pending = limiter.acquire().__await__()
        with pytest.raises(StopIteration):
            next(pending)
        with pytest.raises(RuntimeError):
            next(pending)

    virtual(main)


@pytest.mark.parametrize(
    "kwargs, error, option",
    [
        ({"quotas": "0/s"}, headway.ConfigError, "quotas"),
        ({"quotas": "fast"}, headway.ConfigError, "quotas"),
        ({"quotas": []}, headway.ConfigError, "quotas"),
        ({"quotas": 5}, TypeError, "quotas"),
        ({"burst": 0}, headway.ConfigError, "burst"),
        ({"burst": True}, TypeError, "burst"),
        ({"concurrency": 0}, headway.ConfigError, "concurrency"),
        ({"concurrency": "3"}, TypeError, "concurrency"),
        ({"max_wait": -1}, headway.ConfigError, "max_wait"),
        ({"max_wait": float("nan")}, headway.ConfigError, "max_wait"),
        ({"timeout": 0}, headway.ConfigError, "timeout"),
        ({"max_retries": -1}, headway.ConfigError, "max_retries"),
        ({"key_quotas": {"a": "1/0s"}}, headway.ConfigError, "key_quotas"),
        ({"key_quotas": ["a"]}, TypeError, "key_quotas"),
        ({"learn": 1}, TypeError, "learn"),
        ({"clock": object()}, TypeError, "clock"),
    ],
)
def test_bad_configuration_raises_naming_the_option(kwargs: dict, error: type, option: str) -> None:
    with pytest.raises(error) as e:
        headway.Limiter(**kwargs)
    assert f'"{option}' in str(e.value)
    if error is headway.ConfigError:
        assert isinstance(e.value, ValueError)


def test_bad_arguments_of_a_call() -> None:
    limiter = headway.Limiter()
    with pytest.raises(ValueError):
        limiter.acquire(n=0)
    with pytest.raises(TypeError):
        limiter.acquire(key=3)


def test_absurd_max_wait_saturates() -> None:
    assert headway.Limiter(max_wait=float("inf")).max_wait > 1e9
