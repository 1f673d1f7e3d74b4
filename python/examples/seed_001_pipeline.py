"""Seed 001: tens of thousands of items against an API of 100 requests a minute. gather()
bursts into 429s, a semaphore with sleep(60) blocks every task and starves some retries.
With Headway each request waits its turn in one FIFO queue, paced on the quota the server's
headers state, and a 429 pauses that host for every waiting task, not for one.

    python examples/seed_001_pipeline.py http://127.0.0.1:PORT/strict 50
"""

from __future__ import annotations

import asyncio
import sys
from typing import List, Union

import httpx

import headway
import headway.httpx


async def main(base: str, count: int) -> List[Union[int, Exception]]:
    # Quotas learned from the headers; each request spaced with a small margin for the way
    # to a server that counts strictly on arrival.
    limiter = headway.Limiter(concurrency=10, max_wait=600.0)
    async with httpx.AsyncClient(transport=headway.httpx.Transport(limiter)) as client:

        async def fetch(i: int) -> int:
            response = await client.get(f"{base}/items/{i}")
            response.raise_for_status()
            n: int = response.json()["n"]
            return n

        results: List[Union[int, Exception]] = []
        async for result in headway.map(fetch, range(count), concurrency=10):
            results.append(result)
    stats = limiter.stats()
    print(f"{count} items, {stats['sent']} sent, {stats['rate_limited']} rate limited")
    return results


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50))
