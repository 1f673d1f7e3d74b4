#!/usr/bin/env bash
# Many processes sharing one strict quota through one Redis: Headway (`headway fetch --redis`)
# against bottleneck's Redis clustering (npm, with ioredis) and pyrate-limiter's Redis state
# store (PyPI, with redis-py), in the same run against the same redis-server and the same mock
# API on 127.0.0.1: aggregate elapsed / ideal, 429s, Redis commands per admitted request.
#
#   bash benches/redis.sh                        # 4 processes x 500 requests at 100 r/s
#   bash benches/redis.sh --requests 100         # a smoke test
#   bash benches/redis.sh --results benches/RESULTS.md   # also (re)write its RESULTS.md section
#   bash benches/redis.sh --only headway,bottleneck
#
# Arguments go to benches/redis/bench.py (see its --help). Needs cargo, python3 (with venv),
# node (20+), npm and redis-server (scripts/install-deps.sh installs it). Everything it
# installs goes to benches/.scratch/redis (git-ignored): a Python venv, an npm project, the
# per-run files and results.json. The redis-server is the script's own, on a free loopback
# port, stopped at the end. It takes about a minute and a half after the builds.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
scratch="$here/.scratch/redis"
mkdir -p "$scratch"
cd "$root"

for tool in cargo python3 node npm redis-server; do
  command -v "$tool" >/dev/null 2>&1 || { echo "redis.sh: $tool is required" >&2; exit 1; }
done

echo "== Python peer (venv in benches/.scratch/redis/venv)"
[ -x "$scratch/venv/bin/python" ] || python3 -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$here/redis/requirements.txt"

echo "== Node peer (npm project in benches/.scratch/redis/node)"
mkdir -p "$scratch/node"
cp "$here/redis/package.json" "$here/redis/package-lock.json" "$scratch/node/"
(cd "$scratch/node" && npm ci --no-audit --no-fund --loglevel=error)
# The peer script must sit next to node_modules for its imports to resolve.
cp "$here/redis/bottleneck_peer.mjs" "$scratch/node/"

echo "== Mock server and headway CLI (cargo build --release)"
cargo build --release -p headway-mock -p headway-cli

echo "== Runs (benches/redis/bench.py)"
"$scratch/venv/bin/python" "$here/redis/bench.py" "$@"
