#!/usr/bin/env python3
"""Many processes sharing one strict quota through one Redis: Headway (`headway fetch
--redis`), bottleneck's Redis clustering and pyrate-limiter's Redis state store, one after
another against the same redis-server and the same mock API in one run.

    python bench.py [--processes 4] [--requests 500] [--rate 100] [--only headway,...]
                    [--results benches/RESULTS.md]
    python bench.py --from-json benches/.scratch/redis/results.json [--results ...]

Run by benches/redis.sh, which installs the peers and builds the tree first; it needs the
`redis` package (the peers' venv has it), `redis-server` on PATH, and the release builds of
headway-mock and headway-cli.

For each client:
1. FLUSHALL; its PROCESSES processes start, connect to Redis (and load their scripts), and
   print `ready`.
2. CONFIG RESETSTAT, the mock is reset, and every process is told to go at once.
3. When all have exited: the mock's counts (admitted, 429s, first and last admission),
   `INFO commandstats` (every command Redis ran, those inside scripts included), and the
   commands the clients sent themselves, counted by a MONITOR connection (a command a script
   runs shows there as `lua` and is not counted as sent). The driver's own commands are left
   out of both.

elapsed = last admission - first admission at the mock; ideal = (N - 1) / rate, what N
requests take at exactly the rate with no burst; elapsed / ideal below 1 is impossible
without 429s' worth of extra admissions. Commands per admitted request come from
commandstats; commands sent per admitted request are an upper bound on round trips (a
pipeline sends several in one).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCRATCH = ROOT / "benches" / ".scratch" / "redis"
MOCK_BIN = ROOT / "target" / "release" / "headway-mock"
HEADWAY_BIN = ROOT / "target" / "release" / "headway"
NODE_DIR = SCRATCH / "node"
VENV_PY = SCRATCH / "venv" / "bin" / "python"
CONCURRENCY = 10  # requests in flight per process, at most
RETRIES = 5  # retries of a 429 per request
SECTION = "## Many processes sharing one quota through Redis"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server on a free loopback port, no persistence."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="headway-redis-bench-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", os.path.join(self.dir, "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.conn = redis.Redis(port=self.port, single_connection_client=True)
        for _ in range(500):
            try:
                self.conn.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        else:
            raise SystemExit("bench: redis-server did not start")
        self.addr = self.conn.client_info()["addr"]
        self.version = self.conn.info("server")["redis_version"]

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Monitor:
    """Counts the commands clients send (not the driver's, not those run inside scripts)
    between a start and an end marker, on a MONITOR connection."""

    def __init__(self, server):
        self.server = server
        # No read timeout: between two clients the stream is idle for as long as they start.
        self.conn = redis.Redis(port=server.port, socket_timeout=None)
        self.ready = threading.Event()
        self.counts = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self):
        counting = None
        with self.conn.monitor() as m:
            self.ready.set()
            for cmd in m.listen():
                text = cmd.get("command", "")
                if cmd.get("client_address") and \
                        f"{cmd['client_address']}:{cmd['client_port']}" == self.server.addr:
                    if text.startswith("ECHO bench-start"):
                        counting = {}
                    elif text.startswith("ECHO bench-end"):
                        self.counts = counting or {}
                        counting = None
                    elif text.startswith("ECHO bench-quit"):
                        return
                    continue
                if counting is None or cmd.get("client_type") == "lua":
                    continue
                name = text.split(" ", 1)[0].lower()
                counting[name] = counting.get(name, 0) + 1

    def start(self):
        self.server.conn.echo("bench-start")

    def end(self):
        """The counts since start(); waits until the monitor has seen the end marker."""
        self.counts = None
        self.server.conn.echo("bench-end")
        for _ in range(1000):
            if self.counts is not None:
                return self.counts
            time.sleep(0.01)
        raise SystemExit("bench: the MONITOR connection fell behind")

    def quit(self):
        self.server.conn.echo("bench-quit")
        self.thread.join(5)


class Mock:
    """The headway-mock binary on an ephemeral port."""

    def __init__(self):
        self.proc = subprocess.Popen([str(MOCK_BIN), "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        m = re.match(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"bench: unexpected mock output: {line!r}")
        self.base = m.group(1)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def commands(args, port, urls_file, out_file):
    """The command of one process of client `args.client`."""
    rate = str(args.rate)
    if args.client == "headway":
        return [str(HEADWAY_BIN), "fetch", "--rate", f"{rate}/s", "--redis",
                f"redis://127.0.0.1:{port}", "--namespace", "redis-bench", "-j", str(CONCURRENCY),
                "--retries", str(RETRIES), "--output", str(out_file)]
    tail = [str(port), str(urls_file), rate, str(CONCURRENCY), str(RETRIES)]
    if args.client == "bottleneck":
        return ["node", str(NODE_DIR / "bottleneck_peer.mjs")] + tail
    return [str(VENV_PY), str(HERE / "pyrate_peer.py")] + tail


def run_client(args, server, monitor, mock, run_dir):
    """One client's PROCESSES processes, each with REQUESTS URLs of its own."""
    n = args.processes * args.requests
    server.conn.flushall()
    procs = []
    for p in range(args.processes):
        urls = "".join(f"{mock.base}/r/{args.client}/{p}/{i}\n" for i in range(args.requests))
        urls_file = run_dir / f"{args.client}-{p}.urls"
        urls_file.write_text(urls)
        out_file = run_dir / f"{args.client}-{p}.out"
        cmd = commands(args, server.port, urls_file, out_file)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=open(run_dir / f"{args.client}-{p}.stderr", "w"),
                                text=True, cwd=NODE_DIR if args.client == "bottleneck" else None)
        procs.append((proc, urls, out_file))
    for proc, _, _ in procs:
        if args.client != "headway":  # headway connects, then waits for its URLs on stdin
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise SystemExit(f"bench: {args.client} did not start: {line!r} "
                                 f"(see {run_dir}/*.stderr)")
    if args.client == "headway":
        time.sleep(1.0)  # its connection and SCRIPT LOAD, before the counts are reset
    server.conn.config_resetstat()
    mock.call("POST", "/__reset", {})
    monitor.start()
    started = time.monotonic()
    for proc, urls, _ in procs:
        proc.stdin.write(urls if args.client == "headway" else "go\n")
        proc.stdin.close()
        proc.stdin = None  # communicate() below only reads
    timeout_s = 3 * (n - 1) / args.rate + 30
    deadline = started + timeout_s
    ok, killed = 0, False
    for proc, _, out_file in procs:
        try:
            out, _ = proc.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            killed = True
            out, _ = proc.communicate()
        if args.client == "headway":
            lines = out_file.read_text().splitlines() if out_file.exists() else []
            ok += sum(1 for line in lines if json.loads(line).get("status") == 200)
        else:
            tally = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            ok += tally[-1]["ok"] if tally else 0
    wall = time.monotonic() - started
    stats = server.conn.info("commandstats")
    sent = monitor.end()
    route = mock.call("GET", "/__stats")["routes"].get("/r", {})
    # Every command Redis ran in the window, less the driver's CONFIG RESETSTAT.
    ran = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()
           if k != "cmdstat_config|resetstat"}
    admitted = route.get("admitted", 0)
    first, last = route.get("first_admitted_ms"), route.get("last_admitted_ms")
    elapsed = (last - first) / 1000 if first is not None and last is not None else None
    ideal = (n - 1) / args.rate
    return {
        "client": args.client, "n": n, "ok": ok, "admitted": admitted,
        "rejected": route.get("rejected", 0), "elapsed_s": elapsed, "ideal_s": ideal,
        "ratio": elapsed / ideal if elapsed else None, "wall_s": wall,
        "timeout_s": timeout_s, "killed": killed,
        "commands": sum(ran.values()), "commands_by_name": ran,
        "sent": sum(sent.values()), "sent_by_name": sent,
    }


def versions():
    out = {}
    try:
        lock = json.loads((NODE_DIR / "package-lock.json").read_text())
        for name in ("bottleneck", "ioredis"):
            out[name] = lock["packages"][f"node_modules/{name}"]["version"]
    except (OSError, KeyError, ValueError):
        pass
    try:
        freeze = subprocess.run([str(VENV_PY), "-m", "pip", "freeze"], capture_output=True,
                                text=True).stdout
        for line in freeze.splitlines():
            name, _, version = line.partition("==")
            if name.lower() in ("pyrate-limiter", "redis", "aiohttp"):
                out[name.lower()] = version
    except OSError:
        pass
    return out


def top(by_name, k=4):
    items = sorted(by_name.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{name} {calls}" for name, calls in items)


def table(results, args, meta):
    per = lambda r, key: f"{r[key] / r['admitted']:.2f}" if r["admitted"] else "-"
    L = [SECTION, "",
         f"{args.processes} processes x {args.requests} requests share one strict quota of "
         f"{args.rate} r/s (the mock API enforces GCRA {args.rate}/s, burst 1) through one "
         f"redis-server {meta['redis']}, one client after another in the same run; each "
         f"process has at most {CONCURRENCY} requests in flight and retries a 429 up to "
         f"{RETRIES} times after its Retry-After. Run of {meta['date']} on commit "
         f"{meta['commit'][:7]}{' (uncommitted changes)' if meta['dirty'] else ''}, "
         f"`bash benches/redis.sh`{(' ' + meta['argv']) if meta['argv'] else ''}.",
         "",
         "| client | elapsed (s) | elapsed / ideal | 429s | completed | Redis commands / admitted "
         "| commands sent / admitted | most run (commandstats) | most sent (MONITOR) |",
         "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        e = f"{r['elapsed_s']:.2f}" if r["elapsed_s"] else "-"
        ratio = f"{r['ratio']:.3f}x" if r["ratio"] else "-"
        if r["killed"]:
            e = f"killed at {r['timeout_s']:.0f} s"
            ratio = "-"
        L.append(f"| {r['client']} | {e} | {ratio} | {r['rejected']} | {r['ok']}/{r['n']} | "
                 f"{per(r, 'commands')} | {per(r, 'sent')} | {top(r['commands_by_name'])} | "
                 f"{top(r['sent_by_name'])} |")
    L += ["",
          f"ideal = {results[0]['ideal_s']:.2f} s: (N - 1) / rate for N = "
          f"{results[0]['n']} requests, first to last admission. elapsed: the mock's first to "
          "last admission over all processes; a client still running 3x ideal + 30 s after "
          "the start is killed. Redis commands: `INFO commandstats` after "
          "`CONFIG RESETSTAT` (commands inside scripts included, connection set-up and script "
          "loading before the start left out). Commands sent: what the clients sent "
          "themselves, counted on a MONITOR connection (commands run by a script are not "
          "sent), an upper bound on Redis round trips. Peers: "
          + ", ".join(f"{k} {v}" for k, v in sorted(meta["versions"].items())) + ".",
          ""]
    return "\n".join(L)


def write_section(path, text):
    """Replaces the section in `path` (or appends it)."""
    old = Path(path).read_text() if Path(path).exists() else ""
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n\n" + text
    else:
        rest = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + ("\n" + old[rest + 1:] if rest >= 0 else "")
    Path(path).write_text(new)


def git(*a):
    return subprocess.run(["git", "--no-optional-locks", *a], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--requests", type=int, default=500, help="per process")
    ap.add_argument("--rate", type=int, default=100, help="requests per second, shared")
    ap.add_argument("--only", default="headway,bottleneck,pyrate-limiter")
    ap.add_argument("--results", help="write the table as a section of this Markdown file")
    ap.add_argument("--from-json", metavar="FILE",
                    help="render the table of an earlier run's results.json instead of running")
    args = ap.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        text = table(saved["results"], argparse.Namespace(**saved["args"]), saved["meta"])
        print(text)
        if args.results:
            write_section(args.results, text)
        return
    for path in (MOCK_BIN, HEADWAY_BIN):
        if not path.exists():
            raise SystemExit(f"bench: {path} is missing (cargo build --release)")
    clients = [c.strip() for c in args.only.split(",") if c.strip()]
    for c in clients:
        if c not in ("headway", "bottleneck", "pyrate-limiter"):
            raise SystemExit(f"bench: unknown client {c!r}")
    run_dir = SCRATCH / "runs"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    server, mock = RedisServer(), Mock()
    monitor = Monitor(server)
    try:
        mock.call("POST", "/__config", {"routes": {"/r": {"policy": {"gcra": {
            "limit": args.rate, "period_ms": 1000, "burst": 1}}}}})
        results = []
        for c in clients:
            args.client = c
            print(f"== {c}: {args.processes} x {args.requests} at {args.rate} r/s", flush=True)
            r = run_client(args, server, monitor, mock, run_dir)
            print(json.dumps({k: v for k, v in r.items() if not k.endswith("_by_name")}),
                  flush=True)
            results.append(r)
        meta = {"redis": server.version, "versions": versions(),
                "date": time.strftime("%Y-%m-%d", time.gmtime()),
                "commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain")),
                "argv": " ".join(a for a in sys.argv[1:] if not a.startswith("--results")
                                 and a != args.results)}
        # Only the processes, requests and rate shape the table's text.
        text = table(results, args, meta)
        print()
        print(text)
        saved = {"meta": meta, "results": results,
                 "args": {k: getattr(args, k) for k in ("processes", "requests", "rate")}}
        (SCRATCH / "results.json").write_text(json.dumps(saved, indent=1))
        if args.results:
            write_section(args.results, text)
    finally:
        monitor.quit()
        mock.stop()
        server.stop()


if __name__ == "__main__":
    main()
