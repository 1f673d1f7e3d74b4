#!/usr/bin/env bash
# Builds the npm package if needed, installs the peers, and runs the acquire() benchmark.
set -euo pipefail
cd "$(dirname "$0")"
[ -f ../../wasm/pkg/index.js ] || bash ../../wasm/build.sh
[ -d node_modules ] || npm install --no-audit --no-fund --loglevel=error
node bench.mjs "$@"
