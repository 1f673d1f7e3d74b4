"""The Python quick starts of README.md and python/README.md, and the "after" half of each
Python block of docs/coming-from.md, read from the Markdown and run against the mock API.

A quick start is the first ``python`` block of its section: a limiter and an httpx client.
Each block runs as written, with ``headway`` and ``httpx`` imported (the blocks leave the
imports out), then what it built fetches from the mock. Editing a block changes what runs.
"""

from __future__ import annotations

import ast
import inspect
import re
from typing import Any, Dict

import headway
import headway.httpx
import httpx
import pytest
from conftest import ROOT, Mock


def section(file: str, heading: str) -> str:
    """The text after the line ``heading`` up to the next heading of its level."""
    text = "\n" + (ROOT / file).read_text()
    start = text.index("\n" + heading + "\n") + len(heading) + 2
    level = heading.split(" ")[0]
    end = text.find("\n" + level + " ", start)
    return text[start : None if end == -1 else end]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, re.S | re.M)


def first_python_block(file: str, heading: str) -> str:
    """The first ``python`` block of the section ``heading`` of ``file``."""
    blocks = python_blocks(section(file, heading))
    assert blocks, f"{file}: no python block under {heading!r}"
    return blocks[0]


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


def coming_from_after() -> list[tuple[str, str]]:
    """(section, the part after ``# after``) for each ``###`` under coming-from's Python."""
    out = []
    for part in section("docs/coming-from.md", "## Python").split("\n### ")[1:]:
        name = part.split("\n", 1)[0]
        (block,) = python_blocks(part)
        _before, after = block.split("# after\n")
        out.append((name, after))
    return out


def test_coming_from_has_python_sections() -> None:
    assert "aiolimiter" in [name for name, _ in coming_from_after()]


@pytest.mark.parametrize("name,code", coming_from_after(), ids=lambda v: str(v)[:12])
async def test_coming_from_after_runs_against_the_mock(mock: Mock, name: str, code: str) -> None:
    urls = [f"{mock.url}/items/{i}" for i in range(5)]
    names: Dict[str, Any] = {"headway": headway, "httpx": httpx, "urls": urls}
    # The blocks may await at the top level (aiometer's async comprehension).
    compiled = compile(code, f"coming-from.md ({name}, after)", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    ran = eval(compiled, names)
    if inspect.iscoroutine(ran):
        await ran
    responses = list(names.get("results", []))
    get = names.get("get")
    if get is not None:
        args = [names["client"], urls[0]] if len(inspect.signature(get).parameters) == 2 else [urls[0]]
        responses.append(await get(*args))
    assert responses, f"{name}: the block neither fetched nor defined get()"
    assert [r.status_code for r in responses] == [200] * len(responses)
    assert mock.stats()["total"]["admitted"] == len(responses)
    await names["client"].aclose()
