"""The Python quick starts of README.md and python/README.md, read from the Markdown and run.

Each is the first ``python`` block of its section: a limiter and an httpx client. It runs
as written, with ``headway`` and ``httpx`` imported (the blocks leave the imports out), and
the client it builds then fetches from the mock API. Editing a block changes what runs here.
"""

from __future__ import annotations

import re
from typing import Any, Dict

import headway
import headway.httpx
import httpx
import pytest
from conftest import ROOT, Mock


def first_python_block(file: str, heading: str) -> str:
    """The first ``python`` block after ``heading`` and before the next heading of its level."""
    text = "\n" + (ROOT / file).read_text()
    start = text.index("\n" + heading + "\n") + len(heading) + 2
    level = heading.split(" ")[0]
    end = text.find("\n" + level + " ", start)
    block = re.search(r"^```python\n(.*?)^```$", text[start : None if end == -1 else end], re.S | re.M)
    assert block, f"{file}: no python block under {heading!r}"
    return block.group(1)


QUICK_STARTS = [
    ("README.md", "## Python (asyncio): the package `headway`"),
    ("python/README.md", "# headway for Python (asyncio)"),
]


@pytest.mark.parametrize("file,heading", QUICK_STARTS)
async def test_quick_start_runs_against_the_mock(mock: Mock, file: str, heading: str) -> None:
    code = first_python_block(file, heading)
    names: Dict[str, Any] = {"headway": headway, "httpx": httpx}
    exec(compile(code, f"{file} (quick start)", "exec"), names)
    client = names["client"]
    assert isinstance(client, httpx.AsyncClient)
    async with client:
        responses = [await client.get(f"{mock.url}/strict/items/{i}") for i in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    # The quotas were learned from the mock's headers, as the block's comment says.
    keys = names["limiter"].stats()["keys"]
    assert any(k["source"] == "learned" for k in keys.values()), keys
