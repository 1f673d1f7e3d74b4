#!/usr/bin/env bash
# Builds headway-limiter and runs every test of the web side; exits non-zero on any failure.
#
#   bash wasm/test.sh
#
# 1. wasm/build.sh (the npm package in wasm/pkg)
# 2. node:test: the shared conformance JSON through the JS API, the Limiter, throttled fetch
#    against the mock server, a Chromium end-to-end run (playwright-core, system Chromium),
#    and the JavaScript quick starts of README.md and wasm/README.md and the "after" snippets
#    of docs/coming-from.md, read from the Markdown and run against the mock
# 3. tsc --strict: index.d.ts, and test/types.ts written against it (with @ts-expect-error
#    lines for mistakes the types must catch)
# 4. wasm-bindgen-test of headway-web in Node and in headless Chromium (chromedriver)
#
# Nothing skipped counts as a pass: a node:test run that reports a skipped, todo or
# cancelled test, or runs none, fails; so does a wasm-bindgen-test run that reports an
# ignored test or runs none; so does a missing Chromium or chromedriver.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
failed=()

step() {
  local name="$1"
  shift
  echo "==> $name"
  if "$@"; then
    echo "<== $name: ok"
  else
    echo "<== $name: FAILED"
    failed+=("$name")
  fi
}

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# node:test's summary (TAP, in $1): at least one test, and none skipped, todo or cancelled.
node_summary_clean() {
  local tap="$1" kind n bad=0
  n="$(sed -n 's/^# tests \([0-9][0-9]*\)$/\1/p' "$tap" | tail -n 1)"
  if [ -z "$n" ] || [ "$n" -eq 0 ]; then
    echo "node:test ran no test (or printed no summary)"
    return 1
  fi
  for kind in skipped todo cancelled; do
    n="$(sed -n "s/^# $kind \([0-9][0-9]*\)\$/\1/p" "$tap" | tail -n 1)"
    if [ "${n:-}" != 0 ]; then
      echo "node:test reported ${n:-an unknown number of} $kind test(s); a skip is not a pass:"
      grep -E '# (SKIP|TODO)|^not ok' "$tap" || true
      bad=1
    fi
  done
  return "$bad"
}

node_tests() {
  local tap="$logs/node.tap"
  node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    test/*.test.mjs || return 1
  node_summary_clean "$tap"
}

# A cargo / wasm-bindgen-test log (in $1): at least one "test result:" line, none with a
# non-zero "N ignored", and at least one test passed.
cargo_summary_clean() {
  local log="$1"
  if ! grep -q '^test result: ' "$log"; then
    echo "no \"test result:\" line: no test ran"
    return 1
  fi
  if grep -E '^test result: .*[^0-9][1-9][0-9]* ignored' "$log"; then
    echo "ignored tests reported above; an ignored test is not a pass"
    return 1
  fi
  if ! grep -qE '^test result: .*[^0-9][1-9][0-9]* passed' "$log"; then
    echo "no test passed"
    return 1
  fi
}

# Runs a cargo test command, its output teed to a log, then checks the log.
cargo_tests() {
  local log
  log="$(mktemp "$logs/cargo.XXXXXX")"
  "$@" 2>&1 | tee "$log"
  # With pipefail the pipeline fails when cargo does (tee hardly ever fails).
  local rc="${PIPESTATUS[0]}"
  [ "$rc" -eq 0 ] || return "$rc"
  cargo_summary_clean "$log"
}

cd "$root"
bash "$here/build.sh" || { echo "build failed"; exit 1; }
cargo build -p headway-mock || { echo "mock build failed"; exit 1; }

cd "$here"
if [ ! -d node_modules/playwright-core ] || [ ! -x node_modules/.bin/tsc ]; then
  npm install --no-audit --no-fund || { echo "npm install failed"; exit 1; }
fi

step "node tests (conformance, limiter, fetch vs mock, chromium e2e)" node_tests

step "tsc --strict (the package's index.d.ts and test/types.ts)" \
  node_modules/.bin/tsc --strict --noEmit --target es2022 --module nodenext \
  --moduleResolution nodenext --lib es2022,esnext.disposable,dom test/types.ts

cd "$root"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
step "wasm-bindgen-test in node" \
  cargo_tests cargo test -p headway-web --target wasm32-unknown-unknown --test node

chromedriver="${CHROMEDRIVER:-/usr/bin/chromedriver}"
if [ -x "$chromedriver" ]; then
  step "wasm-bindgen-test in headless chromium" \
    cargo_tests env CHROMEDRIVER="$chromedriver" cargo test -p headway-web --target wasm32-unknown-unknown --test browser
else
  echo "chromedriver not found at $chromedriver (apt-get install chromium chromium-driver)"
  failed+=("wasm-bindgen-test in headless chromium (no chromedriver)")
fi

if [ "${#failed[@]}" -ne 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all web tests passed"
