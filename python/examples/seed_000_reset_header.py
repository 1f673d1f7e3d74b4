"""Seed 000: aiohttp against 30,000 requests an hour per IP, sleeping on X-RateLimit-Reset by
hand; the sleeps came out negative or endless because every task computed its own from a
stale clock. With Headway the middleware reads X-RateLimit-Limit/Remaining/Reset (epoch or
delta, against the response's Date), paces the host on them and, on a 429, pauses the host
once for every task until the reset it names.

    python examples/seed_000_reset_header.py http://127.0.0.1:PORT/hourly 50
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Dict, List, Union

import aiohttp

import headway
import headway.aiohttp


async def main(base: str, pages: int) -> List[Union[Dict[str, Any], Exception]]:
    limiter = headway.Limiter(concurrency=200)  # the seed's BoundedSemaphore(200)
    async with aiohttp.ClientSession(middlewares=[headway.aiohttp.middleware(limiter)]) as s:

        async def fetch(page: int) -> Dict[str, Any]:
            async with s.get(base, params={"page": page}) as response:
                response.raise_for_status()
                output: Dict[str, Any] = await response.json()
                return output

        results = [r async for r in headway.map(fetch, range(1, pages + 1), concurrency=200)]
    stats = limiter.stats()
    print(f"{pages} pages, {stats['sent']} sent, {stats['rate_limited']} rate limited")
    return results


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50))
