"""Seed 002: a queue of URLs, three worker tasks, and a hand-made loop of exponential
backoff with jitter around each request. With Headway the transport retries what is worth
retrying (429, 503, a dropped connection) with jittered backoff, within a retry budget and
a circuit breaker, and ``headway.map`` is the worker pool: three at a time, one result per
item, in order.

    python examples/seed_002_workers.py http://127.0.0.1:PORT/flaky 100
"""

from __future__ import annotations

import asyncio
import sys
from typing import List, Union

import httpx

import headway
import headway.httpx


async def main(base: str, count: int) -> List[Union[int, Exception]]:
    limiter = headway.Limiter(concurrency=3, max_retries=5)
    async with httpx.AsyncClient(transport=headway.httpx.Transport(limiter)) as client:

        async def fetch(i: int) -> int:
            response = await client.get(base, params={"id": i})
            response.raise_for_status()
            return response.status_code

        results = [r async for r in headway.map(fetch, range(count), concurrency=3)]
    stats = limiter.stats()
    print(f"{count} ids, {stats['sent']} sent, {stats['retries']} retried")
    return results


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100))
