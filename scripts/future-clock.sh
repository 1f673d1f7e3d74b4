#!/usr/bin/env bash
# Runs every native test executable, and the npm package's node:test suites, with the wall
# clock set years ahead (libfaketime; the monotonic clock is left alone), so that no test can
# depend on today's date. The compilers themselves are not run under it: rustc deadlocks with
# libfaketime preloaded, so everything is built first with the real clock.
#
#   bash scripts/future-clock.sh [DATE]     # default: 2028-06-01 00:00:00 UTC
set -euo pipefail
cd "$(dirname "$0")/.."

when="${1:-2028-06-01 00:00:00}"
command -v faketime >/dev/null || { echo "faketime is missing: apt-get install faketime" >&2; exit 1; }
future() { FAKETIME_DONT_FAKE_MONOTONIC=1 faketime "$when" "$@"; }
if [ "$(future date -u +%Y)" != "${when:0:4}" ]; then
  echo "faketime did not move the wall clock to $when" >&2
  exit 1
fi

excludes=(--exclude headway-web --exclude headway-wasm)
# Each test executable with its crate's folder (cargo runs a test there), tab-separated.
mapfile -t executables < <(
  cargo test --workspace "${excludes[@]}" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"] + "\t" + os.path.dirname(m["manifest_path"]))'
)
if [ "${#executables[@]}" -eq 0 ]; then
  echo "no test executables found" >&2
  exit 1
fi

failed=0
for entry in "${executables[@]}"; do
  exe="${entry%%$'\t'*}"
  dir="${entry#*$'\t'}"
  echo "--- $(basename "$exe") at $when"
  if ! (cd "$dir" && future "$exe" -q); then
    failed=1
  fi
done

if [ -d wasm/pkg ] && [ -d wasm/node_modules ]; then
  echo "--- node:test suites of the npm package at $when"
  (cd wasm && future node --test --test-concurrency=1 test/*.test.mjs) || failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "some tests failed with the clock at $when" >&2
  exit 1
fi
echo "every test passed with the clock at $when"
