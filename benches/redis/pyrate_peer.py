"""One process of pyrate-limiter's Redis state store in benches/redis.sh:

    python pyrate_peer.py REDIS_PORT URLS_FILE RATE_PER_S CONCURRENCY RETRIES

Every process builds a StateBucket on a RedisStateStore with the same key (its README's
"For Redis, use a RedisStateStore"), GCRA (TokenBucket) at RATE per second with burst 1,
through an asyncio Redis client, and a Limiter with buffer_ms=5 (as benches/compare does: its
default 50 ms slack costs most of the rate). CONCURRENCY workers per process each wait for
`try_acquire_async` before every attempt; a 429 is retried after its Retry-After (1 s when
absent), up to RETRIES times. HTTP is aiohttp.

Protocol with bench.py: connect, print `ready`, wait for one line on stdin, run, print one
JSON line of counts.
"""

import asyncio
import json
import sys

import aiohttp
from pyrate_limiter import Limiter, Rate, RedisStateStore, StateBucket, TokenBucket
from redis.asyncio import Redis


async def main():
    port, urls_file, rate, concurrency, retries = sys.argv[1:6]
    with open(urls_file) as f:
        urls = [line.strip() for line in f if line.strip()]
    redis = Redis(host="127.0.0.1", port=int(port))
    await redis.ping()
    store = RedisStateStore(redis, "redis-bench")
    bucket = StateBucket([Rate(int(rate), 1000, burst=1)], algorithm=TokenBucket(), store=store)
    limiter = Limiter(bucket, buffer_ms=5)
    tally = {"ok": 0, "failed": 0, "seen_429": 0, "attempts": 0}

    async def one(http, url):
        for _ in range(int(retries) + 1):
            await limiter.try_acquire_async("api")
            tally["attempts"] += 1
            try:
                async with http.get(url) as resp:
                    await resp.read()
                    status, retry_after = resp.status, resp.headers.get("retry-after")
            except aiohttp.ClientError:
                tally["failed"] += 1
                return
            if status == 429:
                tally["seen_429"] += 1
                try:
                    await asyncio.sleep(float(retry_after))
                except (TypeError, ValueError):
                    await asyncio.sleep(1.0)
                continue
            tally["ok" if 200 <= status < 300 else "failed"] += 1
            return
        tally["failed"] += 1

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    pending = iter(urls)
    async with aiohttp.ClientSession() as http:

        async def worker():
            for url in pending:
                await one(http, url)

        await asyncio.gather(*(worker() for _ in range(int(concurrency))))
    print(json.dumps(tally), flush=True)
    await redis.aclose()


asyncio.run(main())
