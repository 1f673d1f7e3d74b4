#!/usr/bin/env python3
"""Headway's rows across several compare runs, and their median.

    python3 benches/compare/runs.py RUN1.json RUN2.json RUN3.json [--peers a,b] [--md]

Each argument is a raw results file written by harness.py (`--raw FILE`). For every workload
and every Headway client (or the clients given with --peers) it prints each run's
elapsed/ideal ratio, 429s and completed items, then the median ratio and median 429s, so a
goal is judged on the median of three runs rather than on one. With --md the table is
Markdown, ready for benches/RESULTS.md. Standard library only; reads nothing but the files.
"""

import json
import statistics
import sys

DEFAULT_PEERS = ["headway-rust", "headway-cli", "headway-npm"]


def rows(raw, peers):
    """{(workload, peer): (ratio or None on a timeout, rejected, completed or admitted, n)}."""
    ideal = {w["id"]: w["ideal_s"] for w in raw["workloads"]}
    out = {}
    for wid, results in raw["results"].items():
        for r in results:
            if r.get("peer") not in peers or "unavailable" in r:
                continue
            e = r.get("elapsed_s")
            ratio = None if r.get("timeout") or not e or not ideal.get(wid) else e / ideal[wid]
            done = r.get("admitted", 0) if r.get("timeout") else r.get("ok", 0)
            out[(wid, r["peer"])] = (ratio, r.get("rejected", 0), done, r.get("n", 0))
    return out


def fmt(cell):
    ratio, rejected, ok, n = cell
    if ratio is None:
        return f"timeout, {rejected} 429s, {ok}/{n} admitted"
    return f"{ratio:.2f}x, {rejected} 429s, {ok}/{n}"


def main(argv):
    md = "--md" in argv
    argv = [a for a in argv if a != "--md"]
    peers = DEFAULT_PEERS
    if "--peers" in argv:
        i = argv.index("--peers")
        peers = argv[i + 1].split(",")
        argv = argv[:i] + argv[i + 2:]
    if not argv:
        sys.exit(__doc__)
    runs = [rows(json.load(open(path)), peers) for path in argv]
    commits = [json.load(open(p)).get("provenance", {}).get("tree_start") or {} for p in argv]
    keys = sorted({k for run in runs for k in run})
    header = ["workload", "client"] + [f"run {i + 1}" for i in range(len(runs))] + ["median"]
    lines = []
    for wid, peer in keys:
        cells = [run.get((wid, peer)) for run in runs]
        seen = [c for c in cells if c]
        ratios = [c[0] if c[0] is not None else float("inf") for c in seen]
        med_ratio = statistics.median(ratios) if ratios else None
        med_429 = statistics.median([c[1] for c in seen]) if seen else None
        med = ("timeout" if med_ratio == float("inf") else f"{med_ratio:.2f}x") + \
            f", {med_429:g} 429s" if seen else "n/a"
        lines.append([wid, peer] + [fmt(c) if c else "n/a" for c in cells] + [med])
    if md:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
        for line in [header] + lines:
            print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)))
    for path, tree in zip(argv, commits):
        if tree:
            print(f"\n{path}: commit {tree.get('commit', '?')[:12]}, dirty {tree.get('dirty')}",
                  end="")
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
