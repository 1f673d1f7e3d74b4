#!/usr/bin/env bash
# Runs each coverage-guided fuzz target of fuzz/ (cargo-fuzz, libFuzzer) for N seconds
# (default 60) and fails on the first crash, leaving the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [seconds] [target...]      targets: interpret parse key_machine
#
# cargo-fuzz needs nightly-only compiler flags (-Z sanitizer, coverage instrumentation).
# Where only a stable toolchain is installed, RUSTC_BOOTSTRAP=1 lets that stable compiler
# accept them; this script sets it. The targets are built without a sanitizer (the core
# forbids unsafe code) and with debug assertions and overflow checks on, so an arithmetic
# overflow is a crash.
#
# Each run starts from the committed seeds (fuzz/seeds/<target>/) plus whatever earlier
# runs found (fuzz/corpus/<target>/, not committed). To add what a long run found to the
# seeds: cargo fuzz cmin <target> fuzz/corpus/<target>, then copy into fuzz/seeds/<target>/.
#
# Exit status: 0 when every target ran clean, 1 on a crash or a build failure, 2 when
# cargo-fuzz is missing or cannot build here (the caller decides whether that is a skip).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(interpret parse key_machine)

export RUSTC_BOOTSTRAP=1
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
  exit 2
fi
if ! cargo fuzz build -s none "${targets[@]:0:1}" >/dev/null 2>"${TMPDIR:-/tmp}/fuzz-build.$$"; then
  cat "${TMPDIR:-/tmp}/fuzz-build.$$" >&2
  rm -f "${TMPDIR:-/tmp}/fuzz-build.$$"
  echo "fuzz: cargo fuzz build failed (RUSTC_BOOTSTRAP=1 with this toolchain)" >&2
  exit 2
fi
rm -f "${TMPDIR:-/tmp}/fuzz-build.$$"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "fuzz: $t for ${secs}s"
  rc=0
  cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || rc=$?
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|panicked|SUMMARY|Test unit written|^Failing input' "$log" \
    | sed "s/^/  $t: /" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz: $t failed (exit $rc); a crashing input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: every target ran ${secs}s with no crash"
