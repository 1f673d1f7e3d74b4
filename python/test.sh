#!/usr/bin/env bash
# The Python package's suite: style and lints of its Rust crate, a virtual environment
# (created once, reused), the package built and installed with `pip install`, the mock API
# built, then pytest against it over loopback and mypy --strict on the examples.
#
#   bash python/test.sh
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../target}"

step() { echo; echo "=== python: $* ==="; }

step "cargo fmt --check, cargo clippy (its own workspace)"
cargo fmt --manifest-path Cargo.toml -- --check
cargo clippy --manifest-path Cargo.toml --all-targets -- -D warnings

step "virtual environment"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
want=(maturin pytest pytest-asyncio httpx "aiohttp>=3.12" mypy)
if ! "$py" -c 'import maturin, pytest, pytest_asyncio, httpx, aiohttp, mypy' 2>/dev/null; then
  "$py" -m pip install -q --upgrade pip
  "$py" -m pip install -q "${want[@]}"
fi

step "pip install ./python"
"$py" -m pip install -q --force-reinstall --no-deps "$here"
# The installed package, not the source folder, is what the tests import.
(cd / && "$py" -c 'import headway, headway.httpx, headway.aiohttp, sys; print("headway from", headway.__file__)')

step "headway-mock"
(cd .. && cargo build --release -p headway-mock)

step "pytest"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
(cd tests && "$py" -m pytest -p no:cacheprovider -q -rs -c ../pyproject.toml --rootdir .. . 2>&1) | tee "$log"
if grep -Eq '[0-9]+ (skipped|xfailed|deselected)' "$log"; then
  echo "skipped tests reported above; a skipped test is not a pass" >&2
  exit 1
fi

step "mypy --strict on the examples"
"$py" -m mypy --strict --no-incremental examples/
