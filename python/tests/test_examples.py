"""The examples, run against the mock API."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import seed_pipeline  # noqa: E402
from conftest import Mock  # noqa: E402


async def test_seed_pipeline(mock: Mock) -> None:
    results = await seed_pipeline.main(mock.url, 30)
    assert sorted(r for r in results if isinstance(r, int)) == list(range(1, 31))
    assert mock.stats()["total"]["requests"] == 30
