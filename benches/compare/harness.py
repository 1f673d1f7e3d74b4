#!/usr/bin/env python3
"""Runs Headway and the libraries people would otherwise use against the same mock API, and
writes benches/RESULTS.md.

    python harness.py [--quick] [--only WORKLOAD[,WORKLOAD]] [--out FILE]
    python harness.py --report-only [--raw FILE] [--out FILE]

Started by benches/compare.sh, which installs the peers and builds the current tree first; the
paths below are where compare.sh puts things. Standard library only. It refuses to measure
binaries that compare.sh did not build for this run (see --reuse-builds).

The raw results (benches/.scratch/results.json) carry their provenance: the commit and
whether the working tree had changes, the date, the machine (cores, memory, CPU model, load
average at the start and the end), the toolchains and every peer library's version.
`--report-only` renders the report from that record, never from the machine or the tree it
runs on; raw results stored without it are reported as of unknown provenance.

How a run goes, for every (workload, client) pair:

1. The mock (target/release/headway-mock) gets the workload's configuration (POST /__config).
2. The client process starts with a small JSON spec (its URLs, quota or none, concurrency),
   builds its limiter and HTTP client, prints `ready` and waits.
3. The harness resets the mock (POST /__reset: counts, limiter state, outage clock) and sends
   the client its go-ahead, so every client starts on the same server state and its start-up
   (interpreter, imports) is not measured. `headway fetch` has no such handshake: the mock is
   reset just before it starts (its start-up takes milliseconds).
4. The client is killed if it runs longer than 3x the ideal time (plus a few seconds of
   grace) and recorded as a timeout.
5. Elapsed time, admitted and rejected counts come from the server (GET /__stats): elapsed is
   the time between the first and the last admitted request on the server's clock. CPU time is
   the client process's user + system time (os.wait4), and the client's own measurement of
   the run alone (getrusage / process.cpuUsage), which leaves out interpreter start-up.

All traffic goes to 127.0.0.1.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCRATCH = ROOT / "benches" / ".scratch"
RUNS = SCRATCH / "runs"
MOCK_BIN = ROOT / "target" / "release" / "headway-mock"
CLI_BIN = ROOT / "target" / "release" / "headway"
RUST_BIN = SCRATCH / "rust-target" / "release" / "compare-rust"
VENV_PY = SCRATCH / "venv" / "bin" / "python"
NODE_DIR = SCRATCH / "node"
NODE_SCRIPT = NODE_DIR / "node_peer.mjs"
HEADWAY_PKG = ROOT / "wasm" / "pkg" / "index.js"
CORE_RATIOS = SCRATCH / "core-ratios.txt"
STATUS_FILE = SCRATCH / "status.json"
RAW_FILE = SCRATCH / "results.json"
RAW_FORMAT = 2  # 1 (no "format" key): results without provenance

# What compare.sh built for this run: its build id, the state of the tree before and after the
# builds, and per component "ok" or why it is not available.
BUILD_STATUS = json.loads(STATUS_FILE.read_text()) if STATUS_FILE.exists() else {}
BUILD_NOTES = BUILD_STATUS.get("components", {})

CONCURRENCY = 10
RETRIES = 5
GRACE_S = 3.0  # added to 3x the ideal time before a client is killed


# ---------------------------------------------------------------------------------------------
# The mock server


class Mock:
    """The headway-mock binary on an ephemeral port."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [str(MOCK_BIN), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        m = re.match(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"harness: unexpected mock output: {line!r}")
        self.base = m.group(1)

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def configure(self, config):
        self._call("POST", "/__config", config)

    def reset(self):
        self._call("POST", "/__reset", {})

    def stats(self):
        return self._call("GET", "/__stats")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------
# Ideal times: what a client that knew the server's policy exactly could achieve, for n
# requests sent as early as the policy allows (greedy), from the first admission.


def ideal_gcra(n, tiers, start=0.0, blackout=None):
    """Last admission time (s) of n greedy requests under all-or-nothing GCRA tiers
    [(limit, period_s, burst)], starting at `start`, with no admission in `blackout` [a, b)."""
    tat = [start] * len(tiers)
    t = start
    for _ in range(n):
        t = max([t] + [tat[i] - (p / l) * (b - 1) for i, (l, p, b) in enumerate(tiers)])
        if blackout and blackout[0] <= t < blackout[1]:
            t = blackout[1]
        for i, (l, p, _b) in enumerate(tiers):
            tat[i] = max(tat[i], t) + p / l
    return t


def ideal_fixed_window(n, limit, window_s, start=0.0):
    """Last admission of n greedy requests under fixed windows aligned at 0 (the mock's reset)."""
    t = start
    used = {}
    for _ in range(n):
        w = int(t // window_s)
        while used.get(w, 0) >= limit:
            w += 1
            t = w * window_s
        used[w] = used.get(w, 0) + 1
    return t


# ---------------------------------------------------------------------------------------------
# Clients


def rate_text(t):
    """A tier as `headway fetch --rate` reads it."""
    unit = {1000: "s", 60_000: "min", 3_600_000: "h"}.get(t["period_ms"], f"{t['period_ms']}ms")
    return f"{t['limit']}/{unit}"


def describe(peer, tiers):
    """The configuration a peer gets for `tiers`, as it appears in the code, for the tables."""
    def per_s(t):
        return t["limit"] * 1000 / t["period_ms"]

    def interval_ms(t):
        return t["period_ms"] / t["limit"]

    def num(x):
        return f"{x:g}"

    c = CONCURRENCY
    pid = peer["id"]
    if pid == "headway-rust-tasks":
        return describe(PEER_BY_ID["headway-rust"], tiers).replace("`execute_all`", "a task per `execute`")
    if pid == "headway-rust":
        if not tiers:
            return f"`.concurrency({c})`, no quota: follows the headers"
        q = "".join(f'.quota("{rate_text(t)} burst {t["burst"]}")' for t in tiers)
        return f"`{q}.concurrency({c})`, `execute_all`"
    if pid == "headway-cli":
        if not tiers:
            return f"`--concurrency {c}`, no `--rate`: follows the headers"
        if len(tiers) > 1:
            return f"`--concurrency {c}`, no `--rate` (one rate only): tiers learned from headers"
        t = tiers[0]
        return f"`--rate {rate_text(t)} --burst {t['burst']} --concurrency {c}`"
    if pid == "headway-npm":
        if not tiers:
            return f"`new Limiter({{concurrency: {c}}})`, no quota: follows the headers"
        if len(tiers) == 1:
            t = tiers[0]
            return f"`new Limiter({{limit: {t['limit']}, per: {t['period_ms']}, burst: {t['burst']}, concurrency: {c}}})`"
        ts = ", ".join(f"{{limit: {t['limit']}, per: {t['period_ms']}, burst: {t['burst']}}}" for t in tiers)
        return f"`new Limiter({{tiers: [{ts}], concurrency: {c}}})`"
    if pid.startswith("headway-py-"):
        http = peer.get("http", "aiohttp")
        wrap = ("`headway.httpx.Transport(limiter)`" if http == "httpx"
                else "`headway.aiohttp.middleware(limiter)`")
        if not tiers:
            q = "no quota: follows the headers"
        else:
            q = "`[" + ", ".join(f'"{t["limit"]}/{t["period_ms"]}ms burst {t["burst"]}"' for t in tiers) + "]`"
        return (f"`headway.Limiter({'quotas' if tiers else 'None'}, concurrency={c}, margin=True)` "
                f"({q}), {wrap}, `headway.map`")
    if pid == "governor":
        q = " then ".join(
            f"`Quota::with_period({num(interval_ms(t))} ms).allow_burst({t['burst']})`" for t in tiers
        )
        return f"{q}, `until_ready()` per attempt, {c} tasks"
    if pid == "leaky-bucket":
        q = " then ".join(
            f"`max({t['burst']}).initial({t['burst']}).refill(1).interval({num(interval_ms(t))} ms)`"
            for t in tiers
        )
        return f"{q}, `acquire_one()` per attempt, {c} tasks"
    if pid == "reqwest-plain":
        return f"no limiter (governor and leaky-bucket need a rate), {c} tasks, retry on 429"
    if pid == "aiolimiter":
        q = " nested in ".join(
            f"`AsyncLimiter({t['burst']}, {num(t['burst'] * interval_ms(t) / 1000)})`" for t in tiers
        )
        return f"{q}, {c} workers"
    if pid == "asynciolimiter":
        q = " then ".join(
            f"`StrictLimiter({num(per_s(t))})`" if t["burst"] <= 1
            else f"`LeakyBucketLimiter({num(per_s(t))}, capacity={t['burst']})`"
            for t in tiers
        )
        return f"{q}, {c} workers"
    if pid == "pyrate-limiter":
        r = ", ".join(f"Rate({t['limit']}, {t['period_ms']}, burst={t['burst']})" for t in tiers)
        return f"`StateBucket([{r}], TokenBucket())`, `buffer_ms=5`, `try_acquire_async`, {c} workers"
    if pid.startswith("aiometer"):
        http = " (httpx)" if peer.get("http") == "httpx" else ""
        if not tiers:
            return f"`max_at_once={c}` only{http}"
        return f"`max_at_once={c}, max_per_second={num(min(per_s(t) for t in tiers))}`{http}"
    if pid == "bottleneck":
        if not tiers:
            return f"`maxConcurrent: {c}` only, retry via `failed` event"
        short, *rest = sorted(tiers, key=lambda t: t["period_ms"])
        s = f"`maxConcurrent: {c}, minTime: {num(interval_ms(short))}"
        if rest:
            lt = rest[0]
            s += (f", reservoir: {lt['burst']}, reservoirIncreaseAmount: {num(per_s(lt))}, "
                  f"reservoirIncreaseInterval: 1000, reservoirIncreaseMaximum: {lt['burst']}")
        return s + "`, retry via `failed` event"
    if pid == "p-queue":
        if not tiers:
            return f"`concurrency: {c}` only"
        slow = min(tiers, key=per_s)
        if len(tiers) == 1 and slow["burst"] > 1:
            cap, iv = slow["burst"], slow["burst"] * interval_ms(slow)
        else:
            cap, iv = 1, interval_ms(slow)
        return f"`concurrency: {c}, intervalCap: {cap}, interval: {num(iv)}, strict: true`"
    if pid == "limiter":
        if len(tiers) == 1 and tiers[0]["burst"] <= 1:
            return f"`RateLimiter({{tokensPerInterval: 1, interval: {num(interval_ms(tiers[0]))}}})`, {c} workers"
        b = " under ".join(
            f"`TokenBucket({{bucketSize: {t['burst']}, tokensPerInterval: {t['limit']}, interval: {t['period_ms']}}})`"
            for t in sorted(tiers, key=lambda t: t["period_ms"])
        )
        return f"{b} (started full), {c} workers"
    return ""


# Every client: id, label, language, how to start it.
PEERS = [
    {"id": "headway-rust", "label": "**Headway** Rust (`headway_tokio::Client`)", "kind": "rust", "peer": "headway"},
    {"id": "headway-rust-tasks", "label": "**Headway** Rust, one task per request (`execute`)", "kind": "rust", "peer": "headway-tasks"},
    {"id": "headway-cli", "label": "**Headway** CLI (`headway fetch`)", "kind": "cli"},
    {"id": "headway-npm", "label": "**Headway** npm (`headway-limiter`, Node)", "kind": "node", "peer": "headway-limiter"},
    {"id": "headway-py-aiohttp", "label": "**Headway** Python + aiohttp (`headway`)", "kind": "py", "peer": "headway", "http": "aiohttp"},
    {"id": "headway-py-httpx", "label": "**Headway** Python + httpx (`headway`)", "kind": "py", "peer": "headway", "http": "httpx"},
    {"id": "governor", "label": "governor (Rust)", "kind": "rust", "peer": "governor"},
    {"id": "leaky-bucket", "label": "leaky-bucket (Rust)", "kind": "rust", "peer": "leaky-bucket"},
    {"id": "aiolimiter", "label": "aiolimiter (Python)", "kind": "py", "peer": "aiolimiter"},
    {"id": "aiometer", "label": "aiometer (Python)", "kind": "py", "peer": "aiometer"},
    {"id": "aiometer-httpx", "label": "aiometer + httpx (Python)", "kind": "py", "peer": "aiometer", "http": "httpx"},
    {"id": "asynciolimiter", "label": "asynciolimiter (Python)", "kind": "py", "peer": "asynciolimiter"},
    {"id": "pyrate-limiter", "label": "pyrate-limiter (Python)", "kind": "py", "peer": "pyrate-limiter"},
    {"id": "bottleneck", "label": "bottleneck (Node)", "kind": "node", "peer": "bottleneck"},
    {"id": "p-queue", "label": "p-queue (Node)", "kind": "node", "peer": "p-queue"},
    {"id": "limiter", "label": "limiter (Node)", "kind": "node", "peer": "limiter"},
    {"id": "reqwest-plain", "label": "reqwest loop, no limiter (Rust)", "kind": "rust", "peer": "plain"},
]
PEER_BY_ID = {p["id"]: p for p in PEERS}

# Which clients run where. Clients that need a rate to be configured cannot run a workload
# whose rate the client is not told; the concurrency-only peers stand in for "what you get
# without the number".
WITH_RATE = ["headway-rust", "headway-cli", "headway-npm", "headway-py-aiohttp",
             "headway-py-httpx", "governor", "leaky-bucket",
             "aiolimiter", "aiometer", "asynciolimiter", "pyrate-limiter",
             "bottleneck", "p-queue", "limiter"]
# aiometer + httpx only in the CPU workload, where the HTTP client's cost is the point.
_after_aiometer = WITH_RATE.index("aiometer") + 1
CPU_PEERS = WITH_RATE[:_after_aiometer] + ["aiometer-httpx"] + WITH_RATE[_after_aiometer:]
STRICT = WITH_RATE
UNKNOWN_RATE = ["headway-rust", "headway-cli", "headway-npm", "headway-py-aiohttp",
                "headway-py-httpx", "reqwest-plain",
                "aiometer", "bottleneck", "p-queue"]
NEEDS_A_RATE = ["governor", "leaky-bucket", "aiolimiter", "asynciolimiter", "pyrate-limiter", "limiter"]


def available(peer):
    """None if the client can run, else why not. compare.sh's build notes (status.json) come
    first: a component whose build failed is not available even if an older build exists."""
    kind = peer["kind"]
    note = {"rust": "rust-peers", "cli": "headway-cli"}.get(kind)
    if peer["id"] == "headway-npm":
        note = "headway-limiter"
    if peer.get("peer") == "headway" and kind == "py":
        note = "headway-python"
    if note and BUILD_NOTES.get(note, "ok") != "ok":
        return BUILD_NOTES[note]
    if kind == "rust" and not RUST_BIN.exists():
        return "benches/compare/rust did not build"
    if kind == "cli" and not CLI_BIN.exists():
        return "`headway` CLI not built (cargo build --release -p headway-cli failed)"
    if kind == "py" and not VENV_PY.exists():
        return "Python venv missing"
    if kind == "node":
        if not NODE_SCRIPT.exists():
            return "npm project missing"
        if peer["id"] == "headway-npm" and not HEADWAY_PKG.exists():
            return "npm package not available (wasm/build.sh failed or absent)"
    return None


def command(peer, spec_path, urls_path, out_path, tiers):
    kind = peer["kind"]
    if kind == "rust":
        return [str(RUST_BIN), str(spec_path)]
    if kind == "py":
        return [str(VENV_PY), str(HERE / "py_peer.py"), str(spec_path)]
    if kind == "node":
        return ["node", str(NODE_SCRIPT), str(spec_path)]
    cmd = [str(CLI_BIN), "fetch", "--concurrency", str(CONCURRENCY), "--retries", str(RETRIES),
           "--input", str(urls_path), "--output", str(out_path)]
    if len(tiers) == 1:
        cmd += ["--rate", rate_text(tiers[0]), "--burst", str(tiers[0]["burst"])]
    return cmd


class Running:
    """One client process: its stdout lines on a queue, reaped with its resource usage."""

    def __init__(self, peer, cmd, cwd):
        self.peer = peer
        self.lines = queue.Queue()
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(RUNS / f"{peer['id']}.stderr", "a"), text=True, start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.rusage = None
        self.exit = None
        self.timed_out = False

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line == "ready":
                return True
            if line is None:
                return False
        return False

    def go(self):
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def poll(self):
        """True once the process has ended (and been reaped)."""
        if self.exit is not None:
            return True
        pid, status, rusage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.exit = status
        self.rusage = rusage
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return True

    def kill(self):
        if self.poll():
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status, rusage = os.wait4(self.proc.pid, 0)
        self.exit, self.rusage = status, rusage
        self.proc.returncode = os.waitstatus_to_exitcode(status)

    def report(self):
        """The client's final JSON line, if any."""
        self.reader.join(timeout=2)
        last = None
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line and line.startswith("{"):
                last = line
        return json.loads(last) if last else None

    def process_cpu_ms(self):
        if not self.rusage:
            return None
        return (self.rusage.ru_utime + self.rusage.ru_stime) * 1000.0


def wait_all(running, deadline):
    """Polls until every process ended or the deadline passed; kills the late ones."""
    while time.monotonic() < deadline:
        if all(r.poll() for r in running):
            return
        time.sleep(0.02)
    for r in running:
        if not r.poll():
            r.timed_out = True
            r.kill()


class StatsPoller(threading.Thread):
    """Samples GET /__stats every 20 ms (server clock, admitted, rejected for one route)."""

    def __init__(self, mock, route):
        super().__init__(daemon=True)
        self.mock, self.route = mock, route
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                s = self.mock.stats()
                r = s["routes"].get(self.route, {})
                self.samples.append((s["elapsed_ms"], r.get("admitted", 0), r.get("rejected", 0)))
            except Exception:
                pass
            self.stop.wait(0.02)


def client_results(peer, running, route_stats, n, out_path):
    """What one client did: server counts plus its own report."""
    res = {
        "peer": peer["id"],
        "admitted": route_stats.get("admitted", 0),
        "rejected": route_stats.get("rejected", 0),
        "requests": route_stats.get("requests", 0),
        "first_ms": route_stats.get("first_admitted_ms"),
        "last_ms": route_stats.get("last_admitted_ms"),
        "timeout": running.timed_out,
        "process_cpu_ms": running.process_cpu_ms(),
        "n": n,
    }
    if peer["kind"] == "cli":
        ok = failed = 0
        if out_path.exists():
            for line in out_path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("status") and 200 <= rec["status"] < 300 and not rec.get("error"):
                    ok += 1
                else:
                    failed += 1
        res.update(ok=ok, failed=failed, run_cpu_ms=None)
    else:
        rep = running.report() or {}
        res.update(ok=rep.get("ok", 0), failed=rep.get("failed", 0),
                   run_cpu_ms=rep.get("cpu_ms"), seen_429=rep.get("seen_429"))
    if res["first_ms"] is not None and res["last_ms"] is not None:
        res["elapsed_s"] = (res["last_ms"] - res["first_ms"]) / 1000.0
    else:
        res["elapsed_s"] = None
    return res


def prepare(peer, wl, route, n, tiers, base):
    """Writes the URL list and the spec of one client; returns (spec, urls, out) paths."""
    urls = RUNS / f"{wl['id']}-{peer['id']}.urls"
    urls.write_text("".join(f"{base}{route}/{i}\n" for i in range(n)))
    spec = RUNS / f"{wl['id']}-{peer['id']}.json"
    spec.write_text(json.dumps({
        "peer": peer.get("peer"), "urls": str(urls), "concurrency": CONCURRENCY,
        "retries": RETRIES, "tiers": tiers, "http": peer.get("http", "aiohttp"),
        "headway_pkg": str(HEADWAY_PKG),
    }))
    out = RUNS / f"{wl['id']}-{peer['id']}.out"
    if out.exists():
        out.unlink()
    return spec, urls, out


def run_sequential(mock, wl, ids, log):
    """One client after another on route /w."""
    mock.configure({"routes": {"/w": wl["route"]}})
    results = []
    for pid in ids:
        peer = PEER_BY_ID[pid]
        why = available(peer)
        if why:
            results.append({"peer": pid, "unavailable": why})
            log(f"  {pid:16} not available: {why}")
            continue
        spec, urls, out = prepare(peer, wl, "/w", wl["n"], wl["tiers"], mock.base)
        cmd = command(peer, spec, urls, out, wl["tiers"])
        timeout_s = 3 * wl["ideal_s"] + GRACE_S
        if peer["kind"] == "cli":
            mock.reset()
            running = Running(peer, cmd, NODE_DIR)
        else:
            running = Running(peer, cmd, NODE_DIR)
            if not running.wait_ready(60):
                running.kill()
                results.append({"peer": pid, "unavailable": "did not start (see benches/.scratch/runs/*.stderr)"})
                log(f"  {pid:16} did not start")
                continue
            mock.reset()
            running.go()
        poller = None
        if wl.get("poll"):
            poller = StatsPoller(mock, "/w")
            poller.start()
        wait_all([running], time.monotonic() + timeout_s)
        if poller:
            poller.stop.set()
            poller.join()
        stats = mock.stats()["routes"].get("/w", {})
        res = client_results(peer, running, stats, wl["n"], out)
        res["configuration"] = describe(peer, wl["tiers"])
        res["timeout_s"] = timeout_s
        if poller:
            res["samples"] = poller.samples
        results.append(res)
        log(f"  {pid:16} " + summary_line(res, wl))
    return results


def run_parallel(mock, wl, ids, log):
    """All clients at once, each on its own route with its own copy of the policy."""
    routes = {f"/t-{pid}": wl["route"] for pid in ids}
    mock.configure({"routes": routes})
    started, results = [], []
    for pid in ids:
        peer = PEER_BY_ID[pid]
        why = available(peer)
        if why:
            results.append({"peer": pid, "unavailable": why})
            continue
        route = f"/t-{pid}"
        spec, urls, out = prepare(peer, wl, route, wl["n"], wl["tiers"], mock.base)
        started.append((peer, route, out, command(peer, spec, urls, out, wl["tiers"])))
    running = []
    for peer, route, out, cmd in started:
        if peer["kind"] != "cli":
            running.append((peer, route, out, Running(peer, cmd, NODE_DIR)))
    for peer, _, _, r in running:
        if not r.wait_ready(60):
            r.kill()
    mock.reset()
    for _, _, _, r in running:
        r.go()
    for peer, route, out, cmd in started:
        if peer["kind"] == "cli":
            running.append((peer, route, out, Running(peer, cmd, NODE_DIR)))
    timeout_s = 3 * wl["ideal_s"] + GRACE_S
    wait_all([r for *_, r in running], time.monotonic() + timeout_s)
    stats = mock.stats()["routes"]
    for peer, route, out, r in running:
        res = client_results(peer, r, stats.get(route, {}), wl["n"], out)
        res["configuration"] = describe(peer, wl["tiers"])
        res["timeout_s"] = timeout_s
        results.append(res)
        log(f"  {peer['id']:16} " + summary_line(res, wl))
    order = {pid: i for i, pid in enumerate(ids)}
    results.sort(key=lambda x: order.get(x["peer"], 99))
    return results


def summary_line(res, wl):
    if res.get("timeout"):
        return f"TIMEOUT after {3 * wl['ideal_s'] + GRACE_S:.0f} s ({res['admitted']}/{res['n']} admitted, {res['rejected']} rejected)"
    e = res.get("elapsed_s")
    if not wl["ideal_s"]:
        return f"elapsed {e} s, rejected {res['rejected']}, ok {res['ok']}/{res['n']}"
    return (f"elapsed {e:.2f} s (ideal {wl['ideal_s']:.2f}), ratio {e / wl['ideal_s']:.2f}, "
            f"rejected {res['rejected']}, ok {res['ok']}/{res['n']}" if e else f"no admissions: {res}")


# ---------------------------------------------------------------------------------------------
# Workloads


def gcra_route(limit, period_ms=1000, burst=1, **extra):
    r = {"policy": {"gcra": {"limit": limit, "period_ms": period_ms, "burst": burst}}}
    r.update(extra)
    return r


def workloads(quick):
    """The workloads; `quick` shrinks request counts about five-fold for a smoke test."""
    def scale(n):
        return max(250, n // 5) if quick else n

    wls = []
    for rate, n in ((100, scale(1000)), (1000, scale(2000))):
        wls.append({
            "id": f"strict-{rate}", "title": f"Strict server, {rate:,} r/s (GCRA, burst 1)",
            "route": gcra_route(rate), "n": n,
            "tiers": [{"limit": rate, "period_ms": 1000, "burst": 1}],
            "ideal_s": ideal_gcra(n, [(rate, 1.0, 1)]), "peers": STRICT, "mode": "seq",
        })
    n = scale(2000)
    wls.append({
        "id": "cpu",
        "title": "Pacing and CPU at 1,000 r/s on a tolerant server (GCRA 1,000 r/s, burst 20)",
        "route": gcra_route(1000, burst=20), "n": n,
        "tiers": [{"limit": 1000, "period_ms": 1000, "burst": 1}],
        "ideal_s": ideal_gcra(n, [(1000, 1.0, 20)]), "peers": CPU_PEERS, "mode": "seq",
    })
    n = scale(300)
    wls.append({
        "id": "ietf08", "title": "Limit published only in IETF -08 headers (GCRA 100 r/s, burst 1)",
        "route": gcra_route(100, headers="ietf08"), "n": n, "tiers": [],
        "ideal_s": ideal_gcra(n, [(100, 1.0, 1)]), "peers": UNKNOWN_RATE, "mode": "seq",
    })
    wls.append({
        "id": "xrl-epoch",
        "title": "Limit published only in X-RateLimit headers, epoch reset (fixed window 100 / 2 s)",
        "route": {"policy": {"fixed_window": {"limit": 100, "window_ms": 2000}},
                  "headers": "x_ratelimit_epoch"},
        "n": n, "tiers": [], "ideal_s": ideal_fixed_window(n, 100, 2.0),
        "peers": UNKNOWN_RATE, "mode": "seq",
    })
    wls.append({
        "id": "bare-429",
        "title": "Bare 429s only: no rate-limit headers, no Retry-After (GCRA 100 r/s, burst 1)",
        "route": gcra_route(100, retry_after="none"), "n": n, "tiers": [],
        "ideal_s": ideal_gcra(n, [(100, 1.0, 1)]), "peers": UNKNOWN_RATE, "mode": "seq",
    })
    n = scale(600)
    wls.append({
        "id": "outage",
        "title": "Outage: 429 + Retry-After: 5 for 5 s, 2 s into the run (GCRA 100 r/s, burst 1)",
        "route": gcra_route(100, faults={"outage": {"start_after_ms": 2000, "duration_ms": 5000,
                                                    "retry_after_secs": 5}}),
        "n": n, "tiers": [{"limit": 100, "period_ms": 1000, "burst": 1}],
        "ideal_s": ideal_gcra(n, [(100, 1.0, 1)], blackout=(2.0, 7.0)),
        "outage": (2000.0, 7000.0), "poll": True, "peers": WITH_RATE, "mode": "seq",
    })
    n = scale(650)
    tiers = [{"limit": 10, "period_ms": 1000, "burst": 10}, {"limit": 300, "period_ms": 60_000, "burst": 300}]
    wls.append({
        "id": "tiered", "title": "Tiered server: 10 r/s (burst 10) and 300/min (burst 300)",
        "route": {"policy": {"tiered": [dict(t, name=name) for t, name in zip(tiers, ("second", "minute"))]},
                  "headers": "ietf08"},
        "n": n, "tiers": tiers,
        "ideal_s": ideal_gcra(n, [(10, 1.0, 10), (300, 60.0, 300)]),
        "peers": WITH_RATE, "mode": "par",
    })
    return wls


# ---------------------------------------------------------------------------------------------
# Provenance: which command measured, from which tree, with which builds, on what machine and
# toolchains. Recorded with the raw results, and the only source of these facts in the report.


def sh(cmd, cwd=ROOT):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def git(*args):
    """Bytes printed by a read-only git command in the repository, or None. Optional locks are
    off, so reading the state never rewrites the index."""
    try:
        p = subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def tree_state():
    """The commit checked out and whether the working tree differs from it, or None outside a
    git checkout. The digest is over `git status --porcelain` then `git diff HEAD`, computed the
    same way by compare.sh around its builds, so a change between the builds and the
    measurements shows."""
    head = git("rev-parse", "HEAD")
    if not head:
        return None
    status = git("status", "--porcelain") or b""
    diff = git("diff", "--no-color", "--no-ext-diff", "HEAD") or b""
    changed = status.decode(errors="replace").splitlines()
    return {"commit": head.decode().strip(), "dirty": bool(changed), "changed": len(changed),
            "changed_paths": [line[3:] for line in changed[:50]],
            "digest": hashlib.sha256(status + diff).hexdigest()[:16]}


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        nproc = os.cpu_count()
    return {"nproc": nproc, "cpus_online": os.cpu_count(), "cpu": model, "memory": mem,
            "kernel": platform.release(), "os": platform.platform(),
            "load_start": None, "load_end": None}


def toolchains():
    def first_line(cmd):
        out = sh(cmd)
        return out.splitlines()[0] if out else "not found"

    py = VENV_PY if VENV_PY.exists() else Path(sys.executable)
    return {"rustc": first_line(["rustc", "--version"]), "cargo": first_line(["cargo", "--version"]),
            "node": first_line(["node", "--version"]), "npm": first_line(["npm", "--version"]),
            "python": first_line([str(py), "-c", "import platform; print('Python', platform.python_version(), '(' + platform.python_implementation() + ')')"]),
            "wasm-bindgen": first_line(["wasm-bindgen", "--version"])}


PY_LIBS = ("aiolimiter", "aiometer", "asynciolimiter", "pyrate-limiter", "aiohttp", "httpx")
# Headway's Python package as installed in the venv (compare.sh: pip install ./python).
PY_HEADWAY = "headway"
NODE_LIBS = ("bottleneck", "p-queue", "limiter")
RUST_LIBS = ("governor", "leaky-bucket", "reqwest", "tokio")


def library_versions():
    """The version of every peer library as installed for the clients (the venv the Python
    clients run in, the npm project of the Node clients, the lock file the Rust clients were
    built with), and of Headway's own packages."""
    v = {}
    m = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M)
    v["headway"] = m.group(1) if m else "unknown"
    try:
        v["headway-limiter (wasm/pkg)"] = json.loads((HEADWAY_PKG.parent / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        v["headway-limiter (wasm/pkg)"] = "not built"
    py = VENV_PY if VENV_PY.exists() else Path(sys.executable)
    probe = ("import json, sys\nfrom importlib.metadata import version\nout = {}\n"
             "for p in sys.argv[1:]:\n    try:\n        out[p] = version(p)\n"
             "    except Exception:\n        out[p] = 'not installed'\nprint(json.dumps(out))")
    try:
        found = json.loads(sh([str(py), "-c", probe, *PY_LIBS, PY_HEADWAY]) or "{}")
    except ValueError:
        found = {}
    for p in PY_LIBS:
        v[p] = found.get(p, "unknown")
    v["headway (Python, venv)"] = found.get(PY_HEADWAY, "unknown")
    for p in NODE_LIBS:
        try:
            v[p] = json.loads((NODE_DIR / "node_modules" / p / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            v[p] = "not installed"
    lock = HERE / "rust" / "Cargo.lock"
    text = lock.read_text() if lock.exists() else ""
    for p in RUST_LIBS:
        m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(p), text)
        v[p] = m.group(1) if m else "unknown"
    return v


def provenance_at_start():
    """Everything known before the first workload; `finish_provenance` adds the end state."""
    build_id = BUILD_STATUS.get("build_id")
    built_here = bool(build_id) and os.environ.get("COMPARE_BUILD_ID") == build_id
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    cmd = "bash benches/compare.sh" if built_here else "python benches/compare/harness.py"
    mach = machine()
    mach["load_start"] = load_average()
    return {
        "command": cmd + (" " + argv if argv else ""),
        "tree_start": tree_state(),
        "tree_end": None,
        "builds": {
            "by_this_run": built_here,
            "build_id": build_id,
            "started": BUILD_STATUS.get("started"),
            "finished": BUILD_STATUS.get("finished"),
            "tree_before": BUILD_STATUS.get("tree_before"),
            "tree_after": BUILD_STATUS.get("tree_after"),
            "components": BUILD_NOTES,
        },
        "machine": mach,
        "toolchains": toolchains(),
        "versions": library_versions(),
    }


def finish_provenance(prov):
    prov["tree_end"] = tree_state()
    prov["machine"]["load_end"] = load_average()
    return prov


# ---------------------------------------------------------------------------------------------
# The report. Every figure and every statement about this run comes from the raw results and
# the provenance stored with them; the fixed text explains mechanisms and configurations only.


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def ratio(res, wl):
    e = res.get("elapsed_s")
    return None if e is None or wl["ideal_s"] <= 0 else e / wl["ideal_s"]


def label(pid):
    return PEER_BY_ID[pid]["label"] if pid in PEER_BY_ID else pid


def ran(results):
    """The results of clients that ran (available, started)."""
    return [r for r in results if "unavailable" not in r]


def completed(results):
    """Clients that completed every URL within the time allowed."""
    return [r for r in ran(results) if not r.get("timeout") and r.get("elapsed_s")
            and r["ok"] == r["n"]]


def span(values, digits=0, unit=""):
    """'a' or 'a to b' for a list of numbers."""
    lo, hi = min(values), max(values)
    a, b = f"{lo:.{digits}f}{unit}", f"{hi:.{digits}f}{unit}"
    return a if a == b else f"{a} to {b}"


def between(values, digits=0, unit=""):
    """'a each' when all values are equal, else 'between a and b'."""
    lo, hi = min(values), max(values)
    a, b = f"{lo:.{digits}f}{unit}", f"{hi:.{digits}f}{unit}"
    return f"{a} each" if a == b else f"between {a} and {b}"


def plural(n, one, many=None):
    return f"{n} {one if n == 1 else (many or one + 's')}"


def join(items):
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def median(xs):
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def timeout_of(res, wl, settings):
    return res.get("timeout_s") or 3 * wl["ideal_s"] + settings["grace_s"]


def outcome_cells(res, wl, settings):
    """elapsed, ratio, 429s, completed: the cells every table shares."""
    if "unavailable" in res:
        return ["not available", "", "", ""]
    done = f"{res['ok']}/{res['n']}"
    if res.get("timeout"):
        return [f"timeout ({timeout_of(res, wl, settings):.0f} s)", "> 3", str(res["rejected"]),
                f"{res['admitted']}/{res['n']} admitted"]
    if res["ok"] < res["n"]:
        # Some URLs gave up after their retries: the span covers fewer requests, no ratio.
        return [fmt(res.get("elapsed_s")), "– (incomplete)", str(res["rejected"]), done]
    return [fmt(res.get("elapsed_s")), fmt(ratio(res, wl)), str(res["rejected"]), done]


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def outage_metrics(res, wl):
    """(rejected during the outage, first admission after it in s) from the 20 ms samples."""
    samples = res.get("samples") or []
    start, end = wl["outage"]
    before = [s for s in samples if s[0] <= start]
    after = [s for s in samples if s[0] >= end]
    if not before or not after:
        return None, None
    rej_during = after[0][2] - before[-1][2]
    base_admitted = after[0][1]
    recover = None
    for t, adm, _ in after:
        if adm > base_admitted:
            recover = (t - end) / 1000.0
            break
    return rej_during, recover


def configuration(res, peer, tiers):
    """The configuration recorded with the result; results that predate that record get the
    current harness's description, and the table says so."""
    if "unavailable" in res:
        return "", False
    if "configuration" in res:
        return res["configuration"], False
    return describe(peer, tiers), True


def tolerant_note(wl, results):
    """The paragraph above the tolerant-server table, from its configuration and its 429s."""
    t = wl["tiers"][0] if wl["tiers"] else None
    burst = wl.get("route", {}).get("policy", {}).get("gcra", {}).get("burst")
    if not t or burst is None:
        return []
    hit = [r for r in ran(results) if r["rejected"] > 0]
    if hit:
        seen = (f"In this run {plural(len(hit), 'client')} still got 429s here: "
                + join(f"{label(r['peer'])} ({r['rejected']})" for r in hit) + ".")
    else:
        seen = "In this run no client got a 429 here."
    return [f"Every client is configured exactly as for the strict server ({t['limit']:,} r/s, "
            f"burst {t['burst']}), but this server tolerates a burst of {burst}, so a request that "
            f"leaves a little early is not rejected, and pacing and cost can be compared apart "
            f"from 429s. {seen} The CPU table below comes from this run.", ""]


def workload_section(wl, results, settings):
    lines = [f"### {wl['title']}", ""]
    tiers = wl["tiers"]
    lines.append(
        f"{wl['n']:,} requests, {settings['concurrency']} in flight at most, ideal elapsed "
        f"{wl['ideal_s']:.2f} s (first to last admission for a client that knew the policy exactly)."
    )
    lines.append("")
    if wl["id"] == "cpu":
        lines += tolerant_note(wl, results)
    if wl["id"] == "outage":
        header = ["client", "configuration", "elapsed (s)", "elapsed / ideal", "429s in the outage",
                  "first admission after it (s)", "429s in all", "completed"]
        rows = []
        for res in results:
            peer = PEER_BY_ID[res["peer"]]
            cells = outcome_cells(res, wl, settings)
            if "unavailable" in res:
                rows.append([peer["label"], "", cells[0], "", "", "", "", ""])
                continue
            conf, _ = configuration(res, peer, tiers)
            during, recover = outage_metrics(res, wl)
            rows.append([peer["label"], conf, cells[0], cells[1],
                         "–" if during is None else str(during), fmt(recover), cells[2], cells[3]])
    else:
        header = ["client", "configuration", "elapsed (s)", "elapsed / ideal", "429s (server)", "completed"]
        rows = []
        for res in results:
            peer = PEER_BY_ID[res["peer"]]
            conf, _ = configuration(res, peer, tiers)
            rows.append([peer["label"], conf] + outcome_cells(res, wl, settings))
    lines.append(table(header, rows))
    lines.append("")
    return lines


def cpu_section(all_results, wls):
    wl = next((w for w in wls if w["id"] == "cpu"), None)
    if wl is None or "cpu" not in all_results:
        return []
    results = all_results["cpu"]
    hit = [r for r in ran(results) if r["rejected"] > 0]
    if hit:
        rejections = (f"In this run {plural(len(hit), 'client')} got 429s there, and the CPU of "
                      "their retries is included: "
                      + join(f"{label(r['peer'])} {r['rejected']}" for r in hit) + ".")
    else:
        rejections = "In this run no client got a 429 there."
    # Start-up cost as measured: the process figure minus the client's own figure of the run.
    startup = {}
    for r in completed(results):
        if r.get("run_cpu_ms") is not None and r.get("process_cpu_ms") is not None:
            kind = {"py": "Python", "node": "Node", "rust": "Rust"}.get(PEER_BY_ID[r["peer"]]["kind"])
            if kind:
                startup.setdefault(kind, []).append(r["process_cpu_ms"] - r["run_cpu_ms"])
    if startup:
        startup_text = (" (process minus run, in this run: "
                        + "; ".join(f"{k} clients {span(v, 0, ' ms')}" for k, v in startup.items())
                        + ")")
    else:
        startup_text = ""
    lines = ["## CPU time per 1,000 requests", "",
             "User + system CPU of the client process divided by the requests it completed, "
             f"times 1,000, in the tolerant-server workload above, where every client had the "
             f"same work to do. {rejections} *Run* is the client's own measurement from the go-ahead to "
             "the end (getrusage / process.cpuUsage); *process* is the whole process from "
             f"os.wait4, including interpreter start-up and imports{startup_text}; `headway fetch` "
             "has only the process figure. CPU spent in the mock server is not counted.", ""]
    header = ["client", "run: ms CPU per 1,000 requests", "process: ms CPU per 1,000 requests"]
    rows = []
    order = {pid: i for i, pid in enumerate(CPU_PEERS)}
    for res in sorted(results, key=lambda r: order.get(r["peer"], 99)):
        row = [label(res["peer"])]
        if "unavailable" in res:
            row += ["–", "–"]
        elif res.get("timeout") or res["ok"] < res["n"]:
            row += ["– (did not finish)", "–"]
        else:
            k = 1000.0 / max(1, res["ok"])
            row += [fmt(res["run_cpu_ms"] * k if res.get("run_cpu_ms") is not None else None, 0),
                    fmt(res["process_cpu_ms"] * k if res.get("process_cpu_ms") is not None else None, 0)]
        rows.append(row)
    lines += [table(header, rows), ""]
    return lines


def highlights(wl, results):
    """Plain facts from the numbers: who came closest to ideal with the fewest 429s."""
    done = completed(results)
    if not done:
        return []
    best_ratio = min(done, key=lambda r: ratio(r, wl))
    fewest = min(done, key=lambda r: (r["rejected"], ratio(r, wl)))
    hw = [r for r in ran(results) if r["peer"].startswith("headway")]
    out = [f"- Closest to ideal among clients that completed everything: "
           f"{label(best_ratio['peer'])} ({ratio(best_ratio, wl):.2f}x, "
           f"{plural(best_ratio['rejected'], '429')}).",
           f"- Fewest 429s: {label(fewest['peer'])} ({fewest['rejected']}, "
           f"{ratio(fewest, wl):.2f}x)."]
    for r in hw:
        if r.get("timeout"):
            out.append(f"- {label(r['peer'])}: timeout.")
        elif r.get("elapsed_s"):
            shown = f"{ratio(r, wl):.2f}x" if r["ok"] == r["n"] else "incomplete"
            out.append(f"- {label(r['peer'])}: {shown}, {plural(r['rejected'], '429')}, "
                       f"{r['ok']}/{r['n']} completed.")
    timeouts = [label(r["peer"]) for r in results if r.get("timeout")]
    if timeouts:
        out.append(f"- Killed at 3x ideal: {', '.join(timeouts)}.")
    return out + [""]


def not_run_note(results):
    present = {r["peer"] for r in results}
    missing = [p for p in NEEDS_A_RATE if p not in present]
    if not missing:
        return []
    return [f"Not run here because they need a rate to be configured and none of them reads "
            f"response headers: {', '.join(label(p) for p in missing)}. Without the number, their "
            f"users are left with the concurrency-only rows.", ""]


def when(iso):
    try:
        return datetime.datetime.fromisoformat(iso) if iso else None
    except ValueError:
        return None


def tree_text(t):
    if not t:
        return "unknown (no git checkout was found)"
    s = f"commit `{t['commit'][:12]}`"
    if not t.get("dirty"):
        return s + ", no uncommitted changes"
    n = t.get("changed", len(t.get("changed_paths", [])))
    paths = t.get("changed_paths", [])[:6]
    more = ", …" if n > len(paths) else ""
    return (s + f" with uncommitted changes in {plural(n, 'path')} ("
            + ", ".join(f"`{p}`" for p in paths) + more + f"; tree digest `{t['digest']}`)")


def tree_continuity(prov):
    """One sentence on whether the tree stayed the same from the builds to the end."""
    b = prov.get("builds", {})
    points = []
    if b.get("by_this_run"):
        points += [("the start of the builds", b.get("tree_before")),
                   ("the end of the builds", b.get("tree_after"))]
    points += [("the start of the workloads", prov.get("tree_start")),
               ("the end of the workloads", prov.get("tree_end"))]
    points = [(name, t) for name, t in points if t]
    if len(points) < 2:
        return ""
    key = lambda t: (t["commit"], t.get("digest"))
    changes = [f"between {a} and {c}" for (a, ta), (c, tc) in zip(points, points[1:]) if key(ta) != key(tc)]
    if not changes:
        return f"The tree was the same from {points[0][0]} to {points[-1][0]}."
    return ("**The tree changed " + join(changes) + f"** (at the end: {tree_text(points[-1][1])}), "
            "so what was measured may not match the tree named above in every detail.")


def provenance_lines(raw):
    """The header bullets: when, by which command, from which tree and builds, on what."""
    started, finished = when(raw.get("started")), when(raw.get("finished"))
    if started and finished:
        end = f"{finished:%H:%M}" if finished.date() == started.date() else f"{finished:%Y-%m-%d %H:%M}"
        date = (f"- Measured: {started:%Y-%m-%d %H:%M} to {end} UTC (the workloads took "
                f"{(finished - started).total_seconds() / 60:.1f} min)")
    else:
        date = "- Measured: date unknown"
    prov = raw.get("provenance")
    if not prov:
        return [date,
                "- **Provenance unknown.** These raw results were stored without the commit, the "
                "builds, the machine, the toolchains and the library versions that produced them, "
                "so the report cannot say; nothing here is filled in from the machine or the tree "
                "that rendered it."]
    m, tc, v = prov.get("machine", {}), prov.get("toolchains", {}), prov.get("versions", {})
    b = prov.get("builds", {})
    out = [date, f"- Produced by: `{prov.get('command', 'unknown')}`",
           f"- Source, at the start of the workloads: Headway {v.get('headway', 'unknown')}, "
           f"{tree_text(prov.get('tree_start'))}"]
    if b.get("by_this_run"):
        built = ("- Builds: made by this run of compare.sh from the tree above (`cargo build "
                 "--release` of `headway-mock`, `headway-cli` and `benches/compare/rust`, and "
                 "`wasm/build.sh` for the npm package)")
        bs = when(b.get("started"))
        if bs:
            built += f", starting {bs:%Y-%m-%d %H:%M} UTC"
    else:
        built = ("- Builds: **not made by this run** (`--reuse-builds`): the binaries in `target/` "
                 "and `benches/.scratch` and the npm package in `wasm/pkg` were measured as they "
                 "were, and may not match the tree above")
    continuity = tree_continuity(prov)
    out.append(built + (". " + continuity if continuity else ""))
    load = lambda x: ", ".join(f"{a:.2f}" for a in x) if x else "unknown"
    cores = f"{m.get('nproc', '?')} cores"
    if m.get("cpus_online") and m.get("cpus_online") != m.get("nproc"):
        cores += f" available of {m['cpus_online']}"
    out.append(f"- Machine: {cores}, {m.get('cpu', 'unknown CPU')}, {m.get('memory', 'unknown')} "
               f"memory, Linux {m.get('kernel', '?')}; load average (1, 5, 15 min) "
               f"{load(m.get('load_start'))} at the start of the workloads, "
               f"{load(m.get('load_end'))} at the end")
    shown = {"node": "Node", "npm": "npm"}
    out.append("- Toolchains: " + ", ".join(
        tc[k] if tc[k].lower().startswith(k) else f"{shown.get(k, k)} {tc[k]}" for k in tc if tc[k]))
    out.append("- Library versions: the Versions table at the end")
    return out


def settings_of(raw):
    s = raw.get("settings")
    if s:
        return s, False
    return {"concurrency": CONCURRENCY, "retries": RETRIES, "grace_s": GRACE_S}, True


def write_report(path, raw, rendered_from=None):
    """The report for `raw` (as stored in results.json). `rendered_from` is the raw file when
    the report is rendered again later (--report-only)."""
    all_results, wls = raw["results"], raw["workloads"]
    prov = raw.get("provenance")
    settings, settings_unknown = settings_of(raw)
    L = ["# Headway beside the libraries people use today", ""]
    L += ["Generated by `benches/compare/harness.py` — do not edit by hand; rerun "
          "`bash benches/compare.sh`.", ""]
    if rendered_from is not None:
        now = tree_state()
        at = (f" at commit `{now['commit'][:12]}`" + (" with uncommitted changes" if now["dirty"] else "")
              if now else "")
        L += [f"Rendered again by `harness.py --report-only` from `{rendered_from}`{at}. The "
              "figures and their provenance below are those recorded with the raw results, not "
              "the renderer's; only the explanatory text is the renderer's.", ""]
    L += provenance_lines(raw)
    if raw.get("quick"):
        L.append("- **Quick mode** (`--quick`): request counts cut about five-fold; the numbers are a "
                 "smoke test, not the published results.")
    m = (prov or {}).get("machine", {})
    cores = f"the same {m['nproc']} cores" if m.get("nproc") else "the same machine"
    L += ["",
          f"The mock server, each client and its runtime all ran on {cores}. Timing at 1 ms "
          "spacing is at the mercy of the scheduler (on the strict server, one late packet is one "
          "429). Each figure is a single run: run-to-run variation is not measured here.", ""]

    L += ["## Reproduce", "", "```sh", "bash benches/compare.sh            # everything",
          "bash benches/compare.sh --quick    # smaller request counts, a smoke test", "```", "",
          "It installs the peers into `benches/.scratch` (a Python venv, an npm project, a Rust crate "
          "with its own target directory), builds the current tree's `headway-mock`, `headway` CLI, "
          "npm package and Rust clients, runs the core micro-benchmarks, then every workload below, "
          "and writes this file. Raw per-run data and its provenance: "
          "`benches/.scratch/results.json`.", ""]

    if prov:
        builds = prov.get("builds", {})
        notes = [f"- {k}: {v}" for k, v in builds.get("components", {}).items() if v != "ok"]
        if notes:
            heading = ("Build notes from this run:" if builds.get("by_this_run") else
                       "Build notes left by the earlier compare.sh build whose outputs were reused:")
            L += [heading, ""] + notes + [""]

    c = settings
    together = [w["id"] for w in wls if w.get("mode") == "par" and w["id"] in all_results]
    at_once = (f" (except in {join(f'`{w}`' for w in together)}, where all clients run at once, "
               "each on its own route with its own copy of the policy)") if together else ""
    L += ["## How it is measured", "",
          "- One mock API (`headway-mock`, this repository's test server) on 127.0.0.1; each "
          f"client runs in its own process against it, one after another{at_once}.",
          "- Before each client, the mock is reset (counts, limiter state, outage clock) after the "
          "client has built its limiter and HTTP client and said it is ready, so start-up is "
          "not measured and every client meets the same fresh server.",
          "- **elapsed**: from the first to the last admitted request, on the server's clock. "
          "**ideal**: the same for a client that sends every request at the earliest instant the "
          "server's policy admits it (computed by simulating the policy). **elapsed / ideal** of "
          "1.00 is perfect; below 1.00 is impossible without 429s.",
          "- **429s**: requests the server rejected, from its own counts (`GET /__stats`), "
          "retries included.",
          f"- **completed**: URLs that ended in a 2xx for the client. A client still running at "
          f"3x the ideal time plus {c['grace_s']:g} s is killed and shown as a timeout.",
          f"- Every client: {c['concurrency']} requests in flight at most, bodies read to the end, at "
          f"most {c['retries']} retries per URL."]
    if settings_unknown:
        L.append("- These raw results did not record these settings: the values above are the "
                 "current harness's.")
    if any("configuration" not in r for rs in all_results.values() for r in ran(rs)):
        L.append("- These raw results did not record their clients' configurations: the "
                 "configuration columns show how the current harness configures each client, "
                 "which may differ from the run.")
    L.append("")

    L += ["## Results", ""]
    for wl in wls:
        res = all_results.get(wl["id"])
        if res is None:
            continue
        L += workload_section(wl, res, settings)
        L += highlights(wl, res)
        if wl["id"] in ("ietf08", "xrl-epoch", "bare-429"):
            L += not_run_note(res)
    L += cpu_section(all_results, wls)

    L += reading_notes(all_results, wls)
    L += config_notes(settings)
    L += core_section(raw)
    L += versions_section(prov)
    Path(path).write_text("\n".join(L) + "\n")


def reading_notes(all_results, wls):
    """Mechanisms behind the differences, as the code of each client stands, each followed by
    what this run measured where it bears on it. Keep the mechanisms in step with Headway's
    behaviour (engine: what a 429 does to a key; core: burst of learned quotas)."""
    by_id = {w["id"]: w for w in wls if w["id"] in all_results}
    res = {wid: all_results[wid] for wid in by_id}
    L = ["## Reading the tables", ""]

    # The strict servers: how many clients got 429s, and which did not.
    strict = [wid for wid in ("strict-100", "strict-1000") if wid in by_id]
    measured = []
    for wid in strict:
        rs = ran(res[wid])
        if not rs:
            continue
        hit = [r for r in rs if r["rejected"] > 0]
        clean = [label(r["peer"]) for r in rs if r["rejected"] == 0]
        rate = f"{by_id[wid]['tiers'][0]['limit']:,} r/s"
        s = f"at {rate}, {len(hit)} of the {plural(len(rs), 'client')} that ran got at least one 429"
        if hit:
            s += f" ({between([r['rejected'] for r in hit])})"
        if clean:
            s += f" and {join(clean)} got none"
        measured.append(s)
    text = ("- **A strict server rejects jitter.** With burst 1 the server admits a request only if "
            "it arrives at least one emission interval after the previous admission, as the server "
            "sees it. A limiter decides when a request may go; the request reaches the socket a "
            "little later, and that little varies (task scheduling, connection checkout, other "
            "processes on the same cores). A client that spaces its decisions exactly one interval "
            "apart can therefore put some requests on the wire slightly less than one interval "
            "apart, and the server rejects those; a limiter whose waits run longer than the "
            "interval leaves a margin, at the cost of speed.")
    if measured:
        text += " In this run, " + "; ".join(measured) + "."
    L.append(text)

    # What a 429 costs, and the outage.
    text = ("- **What a 429 costs.** A peer's 429 delays only that request: it sleeps the "
            "`Retry-After` and retries while the other workers go on. Headway applies `Retry-After` "
            "to the whole origin: every queued request waits it out, plus jitter, so that a server "
            "that says \"wait\" gets a pause rather than more requests. The mock, like most "
            "servers, gives `Retry-After` in whole seconds rounded up (at least 1), so on the "
            "strict server each 429 stops Headway for about a second, and a peer only one request. "
            "In an outage the same rule holds Headway's queued requests back after the first 429, "
            "where each worker of a pool meets its own 429, and queue-based clients whose sleeping "
            "retries hold no slot can keep sending new requests into it.")
    outage = by_id.get("outage")
    during = {}
    if outage:
        for r in ran(res["outage"]):
            d, _ = outage_metrics(r, outage)
            if d is not None:
                during[r["peer"]] = d
    hw = {p: d for p, d in during.items() if p.startswith("headway")}
    others = [d for p, d in during.items() if not p.startswith("headway")]
    if hw:
        text += (" In this run's outage, 429s during the outage: "
                 + ", ".join(f"{label(p)} {d}" for p, d in hw.items()))
        if others:
            text += f"; the other {plural(len(others), 'client')} {between(others)}"
        text += "."
    L.append(text)

    # Coming back after the pause.
    text = ("- **Coming back after a pause.** Peers retry the instant `Retry-After` ends; Headway "
            "adds up to a 32nd of the pause in jitter, at most 25 ms, so that many clients paused "
            "together do not return in the same instant; with one client this is a short delay.")
    back = {}
    if outage:
        for r in ran(res["outage"]):
            _, rec = outage_metrics(r, outage)
            if rec is not None:
                back[r["peer"]] = rec
    hw_back = [v for p, v in back.items() if p.startswith("headway")]
    other_back = [v for p, v in back.items() if not p.startswith("headway")]
    if hw_back:
        text += (f" In this run, the first admission after the outage came {span(hw_back, 2, ' s')} "
                 f"after its end for Headway's clients")
        if other_back:
            text += f", {span(other_back, 2, ' s')} for the others"
        text += "."
    L.append(text)

    # Retries outside the limiter.
    text = ("- **Retries that skip the limiter** can multiply 429s on a strict server: bottleneck's "
            "`failed`-event retries skip `minTime` (as its README warns), and aiometer meters task "
            "starts, not the retries inside a task.")
    parts = []
    for wid in strict:
        rs = ran(res[wid])
        rate = f"{by_id[wid]['tiers'][0]['limit']:,} r/s"
        named = [f"{label(r['peer'])} {r['rejected']}" for r in rs if r["peer"] in ("bottleneck", "aiometer")]
        rest = [r["rejected"] for r in rs if r["peer"] not in ("bottleneck", "aiometer")]
        if named:
            s = f"at {rate}, {join(named)}"
            if rest:
                s += f", the median of the other clients {median(rest):g}"
            parts.append(s)
    if parts:
        text += " 429s in this run: " + "; ".join(parts) + "."
    L.append(text)

    # Fixed windows.
    text = ("- **Fixed windows reward bursts.** On a fixed window, sending everything at once and "
            "retrying when told can reach the ideal at the price of 429s at every window; Headway "
            "spreads the advertised `remaining` over the advertised reset (whole epoch seconds, "
            "rounded up by the server), which aims at no 429 and is slower for it.")
    fw = by_id.get("xrl-epoch")
    if fw:
        groups = []
        for name, pick in (("Headway's clients", lambda p: p.startswith("headway")),
                           ("the others", lambda p: not p.startswith("headway"))):
            rs = [r for r in ran(res["xrl-epoch"]) if pick(r["peer"])]
            if not rs:
                continue
            done = completed(rs)
            if len(rs) == 1:
                name = label(rs[0]["peer"]) if name.startswith("Headway") else "the other client"
            s = f"{name} got {span([r['rejected'] for r in rs])} 429s"
            if done:
                s += f" and took {span([ratio(r, fw) for r in done], 2, 'x')} the ideal"
            if len(done) < len(rs):
                s += f" ({len(rs) - len(done)} did not complete)"
            groups.append(s)
        if groups:
            text += " In this run, " + "; ".join(groups) + "."
    L.append(text)

    # Learned quotas.
    text = ("- **Learned quotas are evenly spaced.** A quota learned from `RateLimit-Policy` gets "
            "burst 1, as the header does not say which burst the server tolerates; a learned "
            "300/min tier then paces at 5/s from the first request, where a configured burst of "
            "300 would not.")
    tiered = by_id.get("tiered")
    if tiered:
        cli = next((r for r in completed(res["tiered"]) if r["peer"] == "headway-cli"), None)
        given = [ratio(r, tiered) for r in completed(res["tiered"])
                 if r["peer"] in ("headway-rust", "headway-npm")]
        if cli:
            text += (f" In this run the `headway` CLI, which learns the tiers, took "
                     f"{ratio(cli, tiered):.2f}x the ideal on the tiered server")
            if given:
                text += f", the Headway clients given both tiers {span(given, 2, 'x')}"
            text += "."
    L.append(text)
    return L + [""]


def config_notes(settings):
    return f"""## How each client is configured, and why that is fair

The rule: every client gets the server's policy in the terms its own documentation suggests,
the same concurrency cap ({settings['concurrency']}), the same retry allowance ({settings['retries']}), and the best-suited HTTP client of
its language, shared with Headway where possible (reqwest for Rust, aiohttp for Python, Node's
built-in fetch for Node). Where a library cannot express the policy, it gets the closest safe
setting, and the table says which.

- **Strict spacing (burst 1).** Each library's own advice for "no bursts": governor
  `allow_burst(1)`; leaky-bucket a bucket of one token; aiolimiter `AsyncLimiter(1, interval)`
  (its documentation: "to disable bursting ... set max_rate to 1 and time_period to your
  desired minimum interval"); asynciolimiter `StrictLimiter` ("there are no bursts");
  pyrate-limiter 4's GCRA `StateBucket` with `burst=1` ("a perfectly smooth drip"), with
  `buffer_ms=5` instead of its default 50 (a documented `Limiter` parameter: a waiter that
  misses sleeps the wait plus `buffer_ms` and competes again, and 50 ms is five times the
  10 ms interval of 100 r/s); aiometer `max_per_second` (no burst by design); bottleneck
  `minTime` ("minTime and maxConcurrent are enough for the majority of use cases"); p-queue
  `intervalCap: 1` per emission interval with `strict: true` (recommended "when interacting
  with APIs that enforce strict rate limits"); limiter `RateLimiter({{tokensPerInterval: 1,
  interval}})` (its "Pace work" example). Headway: the quota with burst 1, its default.
- **Tiers (10/s burst 10 and 300/min burst 300).** Libraries with tiers or parent buckets use
  them (pyrate-limiter's rate list, limiter's parent/child `TokenBucket`s, Headway's tiers);
  plain waiting primitives are chained (governor, leaky-bucket, aiolimiter, asynciolimiter:
  wait on the per-second limiter, then on the per-minute one, the usual pattern); bottleneck
  uses `minTime` plus a reservoir that grows at 5 per second; aiometer and p-queue take one
  rate only, and get the lowest sustained one (5/s), which the policy admits at any time. The
  `headway` CLI takes one `--rate` only, so it runs without one and learns both tiers from the
  server's `RateLimit-Policy` header (the tiered server publishes IETF -08 headers; no other
  client reads them).
- **Limit only in headers.** None of the peers reads rate-limit headers, so none can be given
  the number; their users keep a concurrency cap and retry 429s after `Retry-After`. Headway
  is given no quota either and learns it from the headers, as its documentation says.
- **429 handling.** Every peer retries a 429 after the `Retry-After` seconds it carries, per
  request, like a tenacity or p-retry loop; for limiters, each retry waits for the limiter
  again, and p-queue gets every attempt as its own task; aiometer retries inside the task (it
  schedules task starts, not attempts); bottleneck retries through its `failed` event as its
  README shows (such retries skip `minTime`, as its README warns). Headway retries itself,
  and a 429 pauses every waiting request of that origin for the `Retry-After`, plus up to a
  tenth of it in jitter (at most 1 s).
- **aiometer + httpx** is aiometer as its README shows it, with httpx; the plain aiometer row
  uses aiohttp like the other Python peers, so the two rows separate the limiter from the HTTP
  client.
""".splitlines() + [""]


def core_section(raw):
    L = ["## Core micro-benchmarks against governor", ""]
    if "core_ratios" not in raw:
        return L + ["Not recorded with these raw results.", ""]
    text = raw["core_ratios"]
    if text:
        L += ["`cargo bench -p headway-benches --bench core`, then "
              "`cargo run --release -p headway-benches --bin ratios` (median time per check; "
              "ratio below 1.00 means Headway is faster), in the same run of compare.sh, before "
              "the workloads. See `benches/README.md` for what each group measures and why it is "
              "fair.", "", "```", text.rstrip(), "```", ""]
    else:
        L += ["Not run in this run: the `core` bench of `headway-benches` was not present, failed "
              "or was skipped (`COMPARE_SKIP_CORE=1`), or the workloads ran without compare.sh.", ""]
    return L


def versions_section(prov):
    L = ["## Versions", ""]
    if not prov:
        return L + ["Not recorded with these raw results: unknown.", ""]
    rows = [[k, v] for k, v in prov.get("toolchains", {}).items()]
    rows += [[k, v] for k, v in prov.get("versions", {}).items()]
    tree = prov.get("tree_start")
    if tree:
        rows.append(["headway commit", tree["commit"] + (" with uncommitted changes" if tree.get("dirty") else "")])
    return L + [table(["component", "version"], rows), ""]


def core_ratios_of_this_run():
    """The core ratios compare.sh measured in this run, or None. A file left by an earlier
    compare.sh (or written without one) is not this run's."""
    if not BUILD_STATUS.get("build_id") or os.environ.get("COMPARE_BUILD_ID") != BUILD_STATUS["build_id"]:
        return None
    if CORE_RATIOS.exists() and CORE_RATIOS.read_text().strip():
        return CORE_RATIOS.read_text()
    return None


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--quick", action="store_true", help="about five times fewer requests")
    ap.add_argument("--only", help="comma-separated workload ids")
    ap.add_argument("--peers", help="comma-separated client ids (default: each workload's own list)")
    ap.add_argument("--report-only", action="store_true",
                    help="render the report from the raw results (--raw) without running anything; "
                         "it shows the provenance stored with them")
    ap.add_argument("--raw", default=str(RAW_FILE),
                    help="the raw results file written by a run, read by --report-only "
                         "(default: benches/.scratch/results.json)")
    ap.add_argument("--reuse-builds", action="store_true",
                    help="measure the binaries as they are in target/ and benches/.scratch even "
                         "though compare.sh did not build them for this run (the report says so)")
    ap.add_argument("--out", default=str(ROOT / "benches" / "RESULTS.md"))
    args = ap.parse_args()

    def log(msg):
        print(msg, flush=True)

    if args.report_only:
        # Render the report again from stored raw data (after a change to the text). Nothing
        # about this machine, tree or its builds goes into it: only what the raw file recorded.
        raw_path = Path(args.raw)
        raw = json.loads(raw_path.read_text())
        try:
            shown = raw_path.resolve().relative_to(ROOT)
        except ValueError:
            shown = raw_path
        write_report(args.out, raw, rendered_from=shown)
        log(f"wrote {args.out} from {raw_path}")
        return

    build_id = BUILD_STATUS.get("build_id")
    if not args.reuse_builds and (not build_id or os.environ.get("COMPARE_BUILD_ID") != build_id):
        raise SystemExit(
            "harness: the binaries were not built for this run. Run bash benches/compare.sh, "
            "which builds the current tree before measuring it, or pass --reuse-builds to measure "
            "what target/, benches/.scratch and wasm/pkg hold as they are (the report says so).")
    if not MOCK_BIN.exists():
        raise SystemExit("harness: target/release/headway-mock is missing (cargo build --release -p headway-mock)")
    RUNS.mkdir(parents=True, exist_ok=True)
    wls = workloads(args.quick)
    if args.only:
        keep = set(args.only.split(","))
        wls = [w for w in wls if w["id"] in keep]
    if args.peers:
        for w in wls:
            w["peers"] = args.peers.split(",")

    prov = provenance_at_start()
    started = datetime.datetime.now(datetime.timezone.utc)
    mock = Mock()
    all_results = {}
    try:
        for wl in wls:
            log(f"{wl['id']}: {wl['title']} — {wl['n']} requests, ideal {wl['ideal_s']:.2f} s")
            runner = run_parallel if wl["mode"] == "par" else run_sequential
            all_results[wl["id"]] = runner(mock, wl, wl["peers"], log)
    finally:
        mock.stop()
    finished = datetime.datetime.now(datetime.timezone.utc)
    finish_provenance(prov)

    raw = {"format": RAW_FORMAT, "started": started.isoformat(), "finished": finished.isoformat(),
           "quick": args.quick, "provenance": prov,
           "settings": {"concurrency": CONCURRENCY, "retries": RETRIES, "grace_s": GRACE_S},
           "workloads": [{k: v for k, v in w.items() if k != "peers"} for w in wls],
           "results": all_results, "core_ratios": core_ratios_of_this_run()}
    raw_path = Path(args.raw)
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw_path.write_text(json.dumps(raw, indent=1))
    write_report(args.out, raw)
    log(f"wrote {args.out} and {raw_path}")


if __name__ == "__main__":
    main()
