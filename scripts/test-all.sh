#!/usr/bin/env bash
# The whole test suite: style, API docs (cargo doc with -D warnings), native tests (core,
# engine, tokio adapter against the mock API, CLI, conformance, headway-redis and the CLI
# against private redis-servers, and the Rust snippets of README.md and docs/coming-from.md
# in tests/readme), loom models, a fuzz smoke run of each cargo-fuzz target (skipped, saying
# so, without cargo-fuzz), no_std builds, README.md's shell quick starts
# (scripts/readme-shell.sh),
# the Python package (python/test.sh), and the wasm targets (Node, headless Chromium, the
# npm package's JS API, a real-browser end-to-end run), then every test executable and
# node:test suite again with the wall clock set to 2028, so that no test can
# depend on today's date.
#
# Nothing skipped counts as a pass: a cargo test run that reports an ignored test fails the
# script (there are no #[ignore]d tests in the workspace), and wasm/test.sh fails on skipped
# node:test tests and ignored wasm-bindgen tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { echo; echo "=== $* ==="; }

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# Runs a cargo test command with its output teed to a log; fails when cargo fails (pipefail),
# when no "test result:" line was printed, or when any of them has a non-zero "N ignored".
cargo_tests() {
  local log
  log="$(mktemp "$logs/cargo.XXXXXX")"
  "$@" 2>&1 | tee "$log"
  if ! grep -q '^test result: ' "$log"; then
    echo "no \"test result:\" line: no test ran" >&2
    return 1
  fi
  if grep -E '^test result: .*[^0-9][1-9][0-9]* ignored' "$log" >&2; then
    echo "ignored tests reported above; an ignored test is not a pass" >&2
    return 1
  fi
}

step "install prerequisites"
bash scripts/install-deps.sh

# Crates that only build for wasm32 are tested by wasm/test.sh.
native_excludes=()
for c in headway-web headway-wasm; do
  if cargo metadata --no-deps --format-version 1 2>/dev/null | grep -q "\"name\":\"$c\""; then
    native_excludes+=(--exclude "$c")
  fi
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace "${native_excludes[@]}" --all-targets -- -D warnings

step "cargo doc (no broken intra-doc links, every item documented as written)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace "${native_excludes[@]}" --no-deps

# The workspace's tests include headway-redis's and the CLI's against private redis-servers
# (each test starts its own on a free loopback port; install-deps.sh installs redis-server).
step "native tests"
cargo_tests cargo test --workspace "${native_excludes[@]}"

step "loom models"
loom_tests=()
for f in core/tests/loom_*.rs; do loom_tests+=(--test "$(basename "$f" .rs)"); done
cargo_tests env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p headway-core --release "${loom_tests[@]}"

step "fuzz smoke: each cargo-fuzz target of fuzz/ for 20 s (RUSTC_BOOTSTRAP=1 on the stable toolchain)"
# The property tests (proptest) run above everywhere; coverage-guided fuzzing needs
# cargo-fuzz and compiler flags only nightly accepts, which RUSTC_BOOTSTRAP=1 unlocks on a
# stable rustc. Where cargo-fuzz is missing or cannot build, say so plainly and go on.
fuzz_rc=0
bash scripts/fuzz.sh 20 || fuzz_rc=$?
case "$fuzz_rc" in
  0) ;;
  2) echo "SKIPPED: fuzz smoke (cargo-fuzz missing or unable to build here; see the message above)" ;;
  *) exit "$fuzz_rc" ;;
esac

step "no_std builds of the core"
cargo build -p headway-core --target wasm32-unknown-unknown
cargo build -p headway-core --target thumbv7em-none-eabihf

step "README.md's shell quick starts as written (the demo; the mock on its own, curl, headway fetch)"
bash scripts/readme-shell.sh

if [ -f python/test.sh ]; then
  step "python: the headway package (pip install ./python, pytest against the mock API, mypy)"
  bash python/test.sh
fi

if [ -f wasm/test.sh ]; then
  step "wasm: Node, headless Chromium, npm package, browser end-to-end"
  bash wasm/test.sh
fi

step "every test again with the wall clock in 2028 (libfaketime)"
bash scripts/future-clock.sh

echo
echo "all suites passed"
