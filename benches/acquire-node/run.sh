#!/usr/bin/env bash
# Runs the acquire() benchmark on the npm package built from the current tree:
#
#   bash benches/acquire-node/run.sh [--ops N] [--rounds R] [--budget-ms MS]
#
# 1. builds headway-limiter from the tree (bash wasm/build.sh from the repository root), every
#    time: a wasm/pkg left by an earlier build is never measured;
# 2. installs the peers from package-lock.json (npm ci, which starts from an empty
#    node_modules), then the package just built, packed and installed as a user installs it;
# 3. records the tree that build came from (node_modules/.headway-limiter-build.json) and runs
#    bench.mjs, which prints it with the results.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# The tree the package is built from: commit and whether it has uncommitted changes
# (read-only: no optional locks).
commit="$(git -C "$root" --no-optional-locks rev-parse HEAD 2>/dev/null || echo unknown)"
dirty=false
[ -z "$(git -C "$root" --no-optional-locks status --porcelain 2>/dev/null)" ] || dirty=true
built_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

(cd "$root" && bash wasm/build.sh)

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npm pack "$root/wasm/pkg" --pack-destination "$tmp" --silent >/dev/null
npm install --no-save --no-audit --no-fund --loglevel=error "$tmp"/headway-limiter-*.tgz
printf '{"commit": "%s", "dirty": %s, "built_at": "%s", "built_by": "benches/acquire-node/run.sh"}\n' \
  "$commit" "$dirty" "$built_at" > node_modules/.headway-limiter-build.json

node bench.mjs "$@"
