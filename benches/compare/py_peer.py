"""The Python clients of the side-by-side comparison, one per run.

    python py_peer.py SPEC.json

SPEC.json (written by harness.py):

    {"peer": "aiolimiter", "urls": "/path/urls.txt", "concurrency": 10, "retries": 5,
     "tiers": [{"limit": 100, "period_ms": 1000, "burst": 1}], "http": "aiohttp"}

`tiers` empty means the client is not told the rate (the server publishes it only in headers).
`http` picks the HTTP client: aiohttp (default) or httpx (aiometer's README uses httpx).
Peer `headway` is this repository's Python package: a `headway.Limiter` as the aiohttp
middleware or the httpx transport, the batch through `headway.map`.

Each peer is set up the way its documentation suggests for the quota (see RESULTS.md for the
reasoning, repeated in the comments below). Every peer retries a 429 after the Retry-After
seconds it carries (1 s when absent), up to `retries` times: the per-request retry loop that
tenacity or backoff users write, since none of these libraries reads response headers.

Protocol with the harness: build everything, print `ready`, wait for one line on stdin, run,
print one JSON line with counts and the CPU time of the run itself (resource.getrusage).
"""

import asyncio
import json
import resource
import sys
import time


def cpu_ms():
    """User + system CPU time of this process so far, in milliseconds."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1000.0


class Tally:
    """Counts shared by all tasks of a run."""

    def __init__(self):
        self.ok = 0
        self.failed = 0
        self.seen_429 = 0
        self.attempts = 0


# ---------------------------------------------------------------------------------------------
# HTTP clients: the same small surface over aiohttp and httpx.


class AiohttpClient:
    """aiohttp, through Headway's middleware when given a `headway.Limiter`."""

    def __init__(self, concurrency, limiter=None):
        import aiohttp

        self._aiohttp = aiohttp
        self.session = None
        self.concurrency = concurrency
        self.limiter = limiter

    async def open(self):
        connector = self._aiohttp.TCPConnector(limit=self.concurrency)
        middlewares = ()
        if self.limiter is not None:
            import headway.aiohttp

            middlewares = (headway.aiohttp.middleware(self.limiter),)
        self.session = self._aiohttp.ClientSession(connector=connector, middlewares=middlewares)

    async def get(self, url):
        """(status, Retry-After header or None); the body is read to the end."""
        async with self.session.get(url) as response:
            await response.read()
            return response.status, response.headers.get("Retry-After")

    async def close(self):
        await self.session.close()


class HttpxClient:
    """httpx, through Headway's transport when given a `headway.Limiter`."""

    def __init__(self, concurrency, limiter=None):
        import httpx

        self._httpx = httpx
        self.client = None
        self.concurrency = concurrency
        self.limiter = limiter

    async def open(self):
        limits = self._httpx.Limits(max_connections=self.concurrency)
        if self.limiter is None:
            self.client = self._httpx.AsyncClient(limits=limits)
            return
        import headway.httpx

        inner = self._httpx.AsyncHTTPTransport(limits=limits)
        transport = headway.httpx.Transport(self.limiter, inner)
        self.client = self._httpx.AsyncClient(transport=transport)

    async def get(self, url):
        response = await self.client.get(url)
        return response.status_code, response.headers.get("Retry-After")

    async def close(self):
        await self.client.aclose()


def retry_after_seconds(value):
    """Retry-After as seconds (the mock sends delay-seconds); 1 when absent or unreadable."""
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 1.0


async def fetch(http, url, retries, tally, gate=None):
    """One URL: wait for the gate (if any) before each attempt, retry 429 after Retry-After."""
    for attempt in range(retries + 1):
        if gate is not None:
            await gate()
        tally.attempts += 1
        try:
            status, retry_after = await http.get(url)
        except Exception:  # a transport error: counted, not retried
            tally.failed += 1
            return
        if status == 429:
            tally.seen_429 += 1
            if attempt == retries:
                break
            await asyncio.sleep(retry_after_seconds(retry_after))
            continue
        if 200 <= status < 300:
            tally.ok += 1
        else:
            tally.failed += 1
        return
    tally.failed += 1


async def worker_pool(urls, concurrency, job):
    """`concurrency` workers taking URLs in order from a shared iterator."""
    it = iter(urls)

    async def worker():
        for url in it:
            await job(url)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# ---------------------------------------------------------------------------------------------
# Peers. Each returns (setup, run): setup builds the limiter before the go-ahead, run does the
# requests.


def gate_aiolimiter(tiers):
    """aiolimiter's AsyncLimiter(max_rate, time_period) is a leaky bucket of capacity max_rate
    draining at max_rate/time_period. Its docs: to disable bursting, set max_rate to 1 and
    time_period to the minimum interval. In general capacity = burst and
    time_period = burst * period / limit; several tiers are nested `async with` blocks."""
    from aiolimiter import AsyncLimiter

    limiters = [
        AsyncLimiter(t["burst"], t["burst"] * t["period_ms"] / 1000.0 / t["limit"])
        for t in tiers
    ]

    async def gate():
        for limiter in limiters:
            await limiter.acquire()

    return gate


def gate_asynciolimiter(tiers):
    """asynciolimiter: StrictLimiter when the server allows no burst (its docs: "there are no
    bursts"); LeakyBucketLimiter(rate, capacity=burst) when it does. Tiers waited in order."""
    from asynciolimiter import LeakyBucketLimiter, StrictLimiter

    limiters = []
    for t in tiers:
        rate = t["limit"] * 1000.0 / t["period_ms"]
        if t["burst"] <= 1:
            limiters.append(StrictLimiter(rate))
        else:
            limiters.append(LeakyBucketLimiter(rate, capacity=t["burst"]))

    async def gate():
        for limiter in limiters:
            await limiter.wait()

    return gate


def gate_pyrate(tiers):
    """pyrate-limiter 4: a StateBucket with the TokenBucket (GCRA) algorithm takes every tier
    with its burst in one all-or-nothing check; BucketAsyncWrapper + try_acquire_async so that
    waiting is an asyncio.sleep, as its asyncio section says.

    buffer_ms (a documented Limiter parameter, "a small slack to absorb clock drift") is set
    to 5 instead of its default 50: a waiter that misses sleeps the wait plus buffer_ms and then
    competes again, and with the default the limiter delivered about 16 of the configured
    100 r/s in a trial, which no user would keep."""
    from pyrate_limiter import (
        BucketAsyncWrapper,
        Limiter,
        Rate,
        StateBucket,
        TokenBucket,
    )

    rates = [Rate(t["limit"], t["period_ms"], burst=t["burst"]) for t in tiers]
    limiter = Limiter(BucketAsyncWrapper(StateBucket(rates, algorithm=TokenBucket())), buffer_ms=5)

    async def gate():
        await limiter.try_acquire_async("api")

    return gate


def headway_limiter(spec):
    """Headway's Python package as its README shows it: the tiers (each with its burst) as
    quota strings, none when the rate is not told (learned from the headers), the concurrency
    cap and the retries; the margin on, as the Rust client has it by default. Retries of 429
    and 503 happen inside, after Retry-After, pausing the origin for every waiter."""
    import headway

    quotas = [f"{t['limit']}/{t['period_ms']}ms burst {t['burst']}" for t in spec["tiers"]]
    return headway.Limiter(
        quotas or None,
        concurrency=spec["concurrency"],
        max_retries=spec["retries"],
        margin=True,
    )


async def run_headway(spec, http, tally, go):
    """Every URL through `headway.map` (completion order), the body read to the end; the
    429s seen and the requests sent are the limiter's own counts."""
    import headway

    async def one(url):
        status, _ = await http.get(url)
        return status

    await go()
    async for result in headway.map(one, spec["urls"], concurrency=spec["concurrency"], ordered=False):
        if isinstance(result, int) and 200 <= result < 300:
            tally.ok += 1
        else:
            tally.failed += 1
    stats = http.limiter.stats()
    tally.seen_429 = stats["rate_limited"]
    tally.attempts = stats["sent"]


async def run(spec, http, tally, go):
    peer = spec["peer"]
    urls = spec["urls"]
    conc = spec["concurrency"]
    retries = spec["retries"]
    tiers = spec["tiers"]

    if peer == "headway":
        await run_headway(spec, http, tally, go)
        return

    if peer == "aiometer":
        # aiometer: max_at_once for the concurrency, max_per_second for the rate (it allows no
        # burst and one rate only: with tiers, the lowest sustained rate, so that no tier is
        # exceeded in the long run). Without a known rate: max_at_once alone. The retry
        # happens inside the task, as aiometer schedules task starts, not attempts.
        import aiometer

        kwargs = {"max_at_once": conc}
        if tiers:
            kwargs["max_per_second"] = min(t["limit"] * 1000.0 / t["period_ms"] for t in tiers)
        await go()
        await aiometer.run_on_each(lambda u: fetch(http, u, retries, tally), urls, **kwargs)
        return

    makers = {
        "aiolimiter": gate_aiolimiter,
        "asynciolimiter": gate_asynciolimiter,
        "pyrate-limiter": gate_pyrate,
    }
    if peer not in makers:
        raise SystemExit(f"py_peer: unknown peer {peer!r}")
    gate = makers[peer](tiers) if tiers else None
    await go()
    # A plain pool of `concurrency` workers; each attempt waits for the limiter.
    await worker_pool(urls, conc, lambda u: fetch(http, u, retries, tally, gate))


async def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    with open(spec["urls"]) as f:
        spec["urls"] = [line.strip() for line in f if line.strip()]
    spec.setdefault("concurrency", 10)
    spec.setdefault("retries", 5)
    spec["tiers"] = spec.get("tiers") or []

    http_kind = spec.get("http", "aiohttp")
    limiter = headway_limiter(spec) if spec["peer"] == "headway" else None
    http = (HttpxClient if http_kind == "httpx" else AiohttpClient)(spec["concurrency"], limiter)
    await http.open()
    tally = Tally()
    started = {}

    async def go():
        # Everything is built: tell the harness, wait for its go-ahead, start the clocks.
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started["wall"] = time.monotonic()
        started["cpu"] = cpu_ms()

    await run(spec, http, tally, go)
    wall = (time.monotonic() - started["wall"]) * 1000.0
    cpu = cpu_ms() - started["cpu"]
    await http.close()
    print(
        json.dumps(
            {
                "ok": tally.ok,
                "failed": tally.failed,
                "seen_429": tally.seen_429,
                "attempts": tally.attempts,
                "wall_ms": wall,
                "cpu_ms": cpu,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
