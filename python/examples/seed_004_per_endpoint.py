"""Seed 004: aiolimiter for the rate and ``TCPConnector(limit=...)`` for concurrency, a
session-wide cap that throttles every endpoint for the sake of one. With Headway the limits
belong to each endpoint: ``key_quotas`` paces the limited endpoint, ``per_key_concurrency``
caps each endpoint on its own, and the others go at their own pace in the same session.

    python examples/seed_004_per_endpoint.py http://127.0.0.1:PORT 10
"""

from __future__ import annotations

import asyncio
import sys
from typing import List, Tuple

import aiohttp

import headway
import headway.aiohttp


def endpoint(request: aiohttp.ClientRequest) -> str:
    """The queue of a request: its path's first segment."""
    return request.url.path.split("/")[1]


async def main(base: str, count: int) -> List[Tuple[str, int]]:
    # The server counts 20/s strictly on arrival: the default margin leaves room for the way.
    limiter = headway.Limiter(key_quotas={"limited": "20/s"}, per_key_concurrency=2)
    done: List[Tuple[str, int]] = []  # (endpoint, status) in the order they finished
    middleware = headway.aiohttp.middleware(limiter, key=endpoint)
    async with aiohttp.ClientSession(middlewares=[middleware]) as session:

        async def call(path: str) -> None:
            async with session.get(f"{base}/{path}") as response:
                await response.read()
                done.append((path, response.status))

        await asyncio.gather(*(call(p) for p in ["limited", "free"] * count))
    print(done)
    return done


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10))
