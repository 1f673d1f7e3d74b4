"""Seed 003: a semaphore for concurrency, a hand-made token bucket for the rate, an adaptive
limiter reading X-RateLimit headers, tenacity for 429s and a circuit breaker, glued
together. With Headway they are one limiter: a quota (``"10/s"``, or learned from the
headers), ``concurrency``, retries that honour Retry-After, and a breaker per endpoint, so
an endpoint that keeps failing fails fast with ``CircuitOpenError`` while the others go on.

    python examples/seed_003_throttle_stack.py http://127.0.0.1:PORT 20
"""

from __future__ import annotations

import asyncio
import sys
from typing import Dict, List, Union

import httpx

import headway
import headway.httpx


def endpoint(request: httpx.Request) -> str:
    """Each endpoint (the path's first segment) has its own queue, quota and breaker."""
    return request.url.path.split("/")[1]


async def main(base: str, count: int) -> Dict[str, List[Union[int, Exception]]]:
    # max_wait: rather than wait out an open breaker (10 s), fail at once with
    # CircuitOpenError; a 429's pause of a second or two is still waited out.
    limiter = headway.Limiter("10/s", concurrency=3, max_wait=5.0)
    transport = headway.httpx.Transport(limiter, key=endpoint)
    async with httpx.AsyncClient(transport=transport) as client:

        async def fetch(path: str) -> int:
            response = await client.get(f"{base}{path}")
            response.raise_for_status()
            return response.status_code

        results: Dict[str, List[Union[int, Exception]]] = {}
        for path in ("/strict/items", "/fail/items"):
            results[path] = [r async for r in headway.map(fetch, [path] * count)]
    for path, rs in results.items():
        print(path, {type(r).__name__ if isinstance(r, Exception) else r for r in rs})
    return results


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20))
