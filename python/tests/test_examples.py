"""The examples (one per seed in shared/seeds), run against the mock API. Assertions are on
what the examples return and on the server's own counts, never on timing."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

import headway

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import seed_000_reset_header  # noqa: E402
import seed_001_pipeline  # noqa: E402
import seed_002_workers  # noqa: E402
import seed_003_throttle_stack  # noqa: E402
import seed_004_per_endpoint  # noqa: E402
from conftest import Mock  # noqa: E402


def test_every_seed_has_an_example() -> None:
    # The seeds 000 to 004 (shared/seeds, beside the repository): one example each.
    examples = Path(__file__).resolve().parents[1] / "examples"
    numbers = sorted(p.name[5:8] for p in examples.glob("seed_*.py"))
    assert numbers == ["000", "001", "002", "003", "004"]


async def test_seed_000_reset_header(mock: Mock) -> None:
    # 20 per 1 s fixed window with X-RateLimit-* epoch headers: every page answered, the
    # host paced on the learned window, so at most the first window's edge draws a 429.
    results = await seed_000_reset_header.main(mock.url + "/hourly", 30)
    assert all(isinstance(r, dict) and r["path"] == "/hourly" for r in results), results
    route = mock.route("/hourly")
    assert route["admitted"] == 30
    assert route["rejected"] <= 1, route


async def test_seed_001_pipeline(mock: Mock) -> None:
    # 40/s burst 1, learned from the IETF headers: no 429, one request per item.
    results = await seed_001_pipeline.main(mock.url + "/strict", 30)
    assert sorted(r for r in results if isinstance(r, int)) == list(range(1, 31))
    route = mock.route("/strict")
    assert (route["requests"], route["rejected"]) == (30, 0)


async def test_seed_002_workers(mock: Mock) -> None:
    # Every fifth request to /flaky is a 503: each is retried, and every id succeeds.
    results = await seed_002_workers.main(mock.url + "/flaky", 20)
    assert results == [200] * 20
    route = mock.route("/flaky")
    assert route["admitted"] == 20
    assert route["faulted"] == route["requests"] - 20 > 0


async def test_seed_003_throttle_stack(mock: Mock) -> None:
    # The failing endpoint opens its breaker and fails fast; the other is not held back.
    results = await seed_003_throttle_stack.main(mock.url, 10)
    assert results["/strict/items"] == [200] * 10
    failing = results["/fail/items"]
    # (the route serves its first request, then fails every one)
    assert failing[0] == 200 or isinstance(failing[0], httpx.HTTPStatusError)
    errors = (headway.CircuitOpenError, httpx.HTTPStatusError)
    assert all(isinstance(r, errors) for r in failing[1:]), failing
    assert any(isinstance(r, headway.CircuitOpenError) for r in failing)
    # Fewer requests than 10 items with up to 6 attempts each reached the failing route.
    assert mock.route("/fail")["requests"] < 10


async def test_seed_004_per_endpoint(mock: Mock) -> None:
    # The limited endpoint goes at its 20/s without a 429; the free one is not held back by
    # it: every free call finishes before the last limited one.
    done = await seed_004_per_endpoint.main(mock.url, 10)
    assert sorted(done) == sorted([("limited", 200), ("free", 200)] * 10)
    last_limited = max(i for i, (path, _) in enumerate(done) if path == "limited")
    assert all(i < last_limited for i, (path, _) in enumerate(done) if path == "free"), done
    assert mock.route("/limited")["rejected"] == 0
