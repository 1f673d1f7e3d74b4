"""Shared test helpers: an event loop on virtual time, and the mock API as a process."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import subprocess
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, List, Optional, TypeVar

import pytest

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]


class _VirtualSelector(selectors.BaseSelector):
    """Real I/O readiness, but a wait for a timer moves virtual time instead of sleeping."""

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.now = 0.0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: Optional[float] = None) -> List[Any]:
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            return self._real.select(None)
        self.now += timeout
        return []

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Any:
        return self._real.get_map()


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock stands still while anything is ready to run and jumps to
    the next timer when nothing is: schedules come out exact, and tests take no real time."""

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def virtual(main: Callable[[VirtualLoop], Awaitable[T]]) -> T:
    """Runs ``main(loop)`` on a fresh virtual-time loop."""
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


class Mock:
    """A running ``headway-mock`` process."""

    def __init__(self, config: dict) -> None:
        binary = os.environ.get("HEADWAY_MOCK") or str(
            Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "headway-mock"
        )
        self.process = subprocess.Popen(
            [binary, "--config", json.dumps(config)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("listening on "), line
        self.url = line.split()[-1]

    def stats(self) -> dict:
        import urllib.request

        with urllib.request.urlopen(self.url + "/__stats") as r:
            return json.loads(r.read())

    def route(self, name: str) -> dict:
        return self.stats()["routes"][name]

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(self.url + "/__reset", method="POST")).read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


CONFIG = {
    "routes": {
        "/strict": {"policy": {"gcra": {"limit": 40, "period_ms": 1000, "burst": 1}}, "headers": "ietf08"},
        "/outage": {
            "policy": {"gcra": {"limit": 1000, "period_ms": 1000, "burst": 1000}},
            "faults": {"outage": {"start_after_ms": 0, "duration_ms": 1000, "retry_after_secs": 1}},
        },
        "/fail": {
            "policy": "unlimited",
            "faults": {"fail_every": {"every": 1, "count": 1000000, "status": 500}},
        },
        # The examples' APIs (examples/, tests/test_examples.py).
        "/hourly": {
            "policy": {"fixed_window": {"limit": 20, "window_ms": 1000}},
            "headers": "x_ratelimit_epoch",
        },
        "/flaky": {
            "policy": "unlimited",
            "faults": {"fail_every": {"every": 4, "count": 1, "status": 503}},
        },
        "/limited": {"policy": {"gcra": {"limit": 20, "period_ms": 1000, "burst": 1}}},
    },
    "default": {"policy": "unlimited"},
}


@pytest.fixture(scope="session")
def mock_servers() -> Iterator[List[Mock]]:
    servers = [Mock(CONFIG), Mock(CONFIG)]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture
def mock(mock_servers: List[Mock]) -> Mock:
    for s in mock_servers:
        s.reset()
    return mock_servers[0]


@pytest.fixture
def other(mock_servers: List[Mock]) -> Mock:
    return mock_servers[1]
