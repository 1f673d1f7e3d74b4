#!/usr/bin/env bash
# Builds the npm package `headway-limiter` into wasm/pkg.
#
#   bash wasm/build.sh
#
# Needs the wasm32-unknown-unknown target (rustup target add wasm32-unknown-unknown). Installs
# the wasm-bindgen CLI matching Cargo.lock when it is missing or another version, runs
# wasm-opt when present (Debian package binaryen) and prints the gzipped .wasm size.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
pkg="$here/pkg"
cd "$root"
if [ ! -d "$here/node_modules/binaryen" ] && command -v npm >/dev/null 2>&1; then
  (cd "$here" && npm install --no-audit --no-fund) || true
fi

want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [ -z "$want" ]; then
  cargo generate-lockfile
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
fi
have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (found: ${have:-none})"
  cargo install wasm-bindgen-cli --version "$want"
fi

# Size-first settings for this build only; native release builds keep theirs.
CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
CARGO_PROFILE_RELEASE_LTO=true \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
CARGO_PROFILE_RELEASE_PANIC=abort \
CARGO_PROFILE_RELEASE_DEBUG=false \
CARGO_PROFILE_RELEASE_STRIP=false \
  cargo build -p headway-wasm --release --target wasm32-unknown-unknown

rm -rf "$pkg"
mkdir -p "$pkg"
wasm-bindgen --target web --out-dir "$pkg" --out-name headway_wasm \
  "$root/target/wasm32-unknown-unknown/release/headway_wasm.wasm"

wasm="$pkg/headway_wasm_bg.wasm"
# wasm-opt: the npm package binaryen (a devDependency here) or a system one; releases before
# 116 mishandle the externref table wasm-bindgen emits, so those are skipped.
wasm_opt=""
for candidate in "$here/node_modules/.bin/wasm-opt" "$(command -v wasm-opt || true)"; do
  [ -n "$candidate" ] && [ -x "$candidate" ] || continue
  v="$("$candidate" --version | sed -n 's/^wasm-opt version \([0-9]*\).*/\1/p')"
  if [ "${v:-0}" -ge 116 ]; then wasm_opt="$candidate"; break; fi
  echo "skipping $candidate: version ${v:-unknown} is older than 116"
done
if [ -n "$wasm_opt" ]; then
  # -Oz until nothing changes; the producers and target-features sections only describe
  # the build, and no engine reads them.
  "$wasm_opt" -Oz --converge --strip-producers --strip-target-features \
    --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    -o "$wasm.opt" "$wasm"
  mv "$wasm.opt" "$wasm"
else
  echo "no usable wasm-opt (npm install in wasm/, or binaryen >= 116): skipping the size pass"
fi

# errors.js sits beside headway_wasm.js, whose imports name it "./errors.js" (src/errors.rs).
cp "$here/js/index.js" "$here/js/errors.js" "$here/js/index.d.ts" "$pkg/"
cp "$here/README.md" "$pkg/README.md"
rm -f "$pkg/.gitignore" "$pkg/package.json"

version="$(awk -F'"' '/^version = / { print $2; exit }' "$root/Cargo.toml")"
cat > "$pkg/package.json" <<JSON
{
  "name": "headway-limiter",
  "version": "$version",
  "description": "Client-side HTTP rate limiting for browsers and Node: FIFO queues, multi-tier quotas, Retry-After and rate-limit headers, retries with backoff.",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "./index.js",
  "module": "./index.js",
  "types": "./index.d.ts",
  "exports": {
    ".": {
      "types": "./index.d.ts",
      "default": "./index.js"
    },
    "./headway_wasm_bg.wasm": "./headway_wasm_bg.wasm",
    "./package.json": "./package.json"
  },
  "files": [
    "index.js",
    "errors.js",
    "index.d.ts",
    "headway_wasm.js",
    "headway_wasm.d.ts",
    "headway_wasm_bg.wasm",
    "headway_wasm_bg.wasm.d.ts",
    "README.md"
  ],
  "sideEffects": [
    "./index.js",
    "./headway_wasm.js"
  ],
  "engines": {
    "node": ">=18"
  },
  "keywords": ["rate-limit", "throttle", "fetch", "retry-after", "gcra", "wasm"]
}
JSON

raw="$(wc -c < "$wasm")"
gz="$(gzip -9 -c "$wasm" | wc -c)"
echo "headway-limiter $version built in $pkg"
echo "wasm size: $raw bytes, gzipped: $gz bytes ($(( (gz + 1023) / 1024 )) KiB)"
