#!/usr/bin/env bash
# Builds headway-limiter and runs every test of the web side; exits non-zero on any failure.
#
#   bash wasm/test.sh
#
# 1. wasm/build.sh (the npm package in wasm/pkg)
# 2. node:test: the shared conformance JSON through the JS API, the Limiter, throttled fetch
#    against the mock server, and a Chromium end-to-end run (playwright-core, system Chromium)
# 3. wasm-bindgen-test of headway-web in Node and in headless Chromium (chromedriver)
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

cd "$root"
bash "$here/build.sh" || { echo "build failed"; exit 1; }
cargo build -p headway-mock || { echo "mock build failed"; exit 1; }

cd "$here"
if [ ! -d node_modules/playwright-core ]; then
  npm install --no-audit --no-fund || { echo "npm install failed"; exit 1; }
fi

step "node tests (conformance, limiter, fetch vs mock, chromium e2e)" \
  node --test --test-concurrency=1 test/*.test.mjs

cd "$root"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
step "wasm-bindgen-test in node" \
  cargo test -p headway-web --target wasm32-unknown-unknown --test node

chromedriver="${CHROMEDRIVER:-/usr/bin/chromedriver}"
if [ -x "$chromedriver" ]; then
  step "wasm-bindgen-test in headless chromium" \
    env CHROMEDRIVER="$chromedriver" cargo test -p headway-web --target wasm32-unknown-unknown --test browser
else
  echo "chromedriver not found at $chromedriver (apt-get install chromium chromium-driver)"
  failed+=("wasm-bindgen-test in headless chromium (no chromedriver)")
fi

if [ "${#failed[@]}" -ne 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all web tests passed"
