#!/usr/bin/env bash
# Installs everything the test suite needs, idempotently: Rust targets, Debian packages
# (chromium, chromium-driver, binaryen, faketime, curl, redis-server), wasm-bindgen-cli at the version Cargo.lock pins,
# and the npm package's dev dependencies. Safe to run again: it skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[install] $*" >&2; }

# Rust targets: the no_std core is built for wasm32 and a Cortex-M4F; the npm package for wasm32.
for target in wasm32-unknown-unknown thumbv7em-none-eabihf; do
  if ! rustup target list --installed | grep -qx "$target"; then
    log "rustup target add $target"
    rustup target add "$target"
  fi
done

# Debian packages: a real browser and its driver for browser tests, wasm-opt for the package.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v wasm-opt >/dev/null 2>&1 || missing+=(binaryen)
command -v faketime >/dev/null 2>&1 || missing+=(faketime)
# The Python package's tests build a virtual environment (python/test.sh).
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# curl for README.md's shell quick start (scripts/readme-shell.sh runs it as written).
command -v curl >/dev/null 2>&1 || missing+=(curl)
# redis-server for the shared-quota tests (each test starts its own on a free loopback port).
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# wasm-bindgen-cli must match the wasm-bindgen crate version in Cargo.lock exactly.
if [ -f Cargo.lock ] && grep -q '^name = "wasm-bindgen"$' Cargo.lock; then
  want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p' | head -1)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    log "cargo install wasm-bindgen-cli --version $want (have: ${have:-none})"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
fi

# npm dev dependencies of the package's tests (playwright-core drives Debian's chromium;
# it never downloads a browser).
if [ -f wasm/package.json ]; then
  if [ ! -d wasm/node_modules ]; then
    log "npm install in wasm/"
    (cd wasm && npm install --no-audit --no-fund --loglevel=error)
  fi
fi
# cargo-fuzz for the fuzz smoke run (scripts/fuzz.sh): a couple of minutes to build, once.
# If it cannot be installed, test-all.sh says it skipped the fuzz targets and goes on.
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz 0.13.2"
  cargo install cargo-fuzz --version 0.13.2 --locked \
    || log "cargo-fuzz could not be installed: the fuzz smoke run will be skipped"
fi
log "done"
