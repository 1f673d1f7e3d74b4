#!/usr/bin/env bash
# Produces benches/RESULTS.md: Headway (Rust client, `headway fetch`, the npm package, the
# Python package with aiohttp and with httpx) against governor, leaky-bucket, aiolimiter,
# aiometer, asynciolimiter, pyrate-limiter, bottleneck, p-queue and limiter, on the same
# rate-limited mock API on 127.0.0.1.
#
#   bash benches/compare.sh            # install, build, run everything (about 15 minutes)
#   bash benches/compare.sh --quick    # about five times fewer requests: a smoke test
#   bash benches/compare.sh --only strict-100,outage    # some workloads only
#
# Environment:
#   COMPARE_SKIP_CORE=1   skip the core micro-benchmarks (cargo bench -p headway-benches)
#
# Every run builds what it measures from the current tree: the mock and the CLI (cargo build
# --release), the npm package (wasm/build.sh), the Python package (pip install ./python) and
# the Rust clients (benches/compare/rust, which builds headway-tokio from the tree by path).
# A component whose build fails is reported as not available, never measured from an older
# build. The build id, the state of the tree before and after the builds and the
# per-component notes go to benches/.scratch/status.json; the harness measures only when that
# build id is the one this script hands it.
#
# Needs: cargo, python3 (3.10+, with venv), node (20+) and npm. Everything it installs goes to
# benches/.scratch (git-ignored): a Python venv, an npm project, the Rust peers' target
# directory, per-run files and raw results with their provenance (results.json). Arguments are
# passed on to the harness (benches/compare/harness.py). All traffic stays on 127.0.0.1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
scratch="$here/.scratch"
compare="$here/compare"
status="$scratch/status.json"
mkdir -p "$scratch"
cd "$root"
# Whatever an earlier run built or noted is not this run's.
rm -f "$status"

say() { printf '\n== %s\n' "$*"; }

# The tree as JSON: commit, uncommitted changes or not, and a digest of `git status
# --porcelain` followed by `git diff HEAD` (harness.py computes the same digest, so a change
# between the builds and the measurements shows). Read-only: no optional locks.
tree_json() {
  local commit porcelain digest dirty=false
  commit="$(git --no-optional-locks rev-parse HEAD 2>/dev/null)" || { echo null; return; }
  porcelain="$(git --no-optional-locks status --porcelain)"
  [ -z "$porcelain" ] || dirty=true
  digest="$({ git --no-optional-locks status --porcelain
              git --no-optional-locks diff --no-color --no-ext-diff HEAD; } | sha256sum | cut -c1-16)"
  printf '{"commit": "%s", "dirty": %s, "digest": "%s"}' "$commit" "$dirty" "$digest"
}
utc_now() { date -u +%Y-%m-%dT%H:%M:%S+00:00; }

build_id="$(date -u +%Y%m%dT%H%M%SZ)-$$"
builds_started="$(utc_now)"
tree_before="$(tree_json)"

# Build notes for RESULTS.md: "component": "ok" or why it is not available.
declare -A notes=()
write_status() {
  {
    printf '{\n  "build_id": "%s",\n  "built_by": "benches/compare.sh",\n' "$build_id"
    printf '  "started": "%s",\n  "finished": "%s",\n' "$builds_started" "$(utc_now)"
    printf '  "tree_before": %s,\n  "tree_after": %s,\n' "$tree_before" "$(tree_json)"
    echo '  "components": {'
    local first=1
    for k in "${!notes[@]}"; do
      [ $first -eq 1 ] || echo ","
      first=0
      printf '    "%s": "%s"' "$k" "${notes[$k]}"
    done
    echo
    echo "  }"
    echo "}"
  } > "$status"
}

for tool in cargo python3 node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "compare.sh: $tool is required" >&2; exit 1; }
done

say "Python peers (venv in benches/.scratch/venv)"
if [ ! -x "$scratch/venv/bin/python" ]; then
  python3 -m venv "$scratch/venv"
fi
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$compare/requirements.txt"

say "Headway's Python package (pip install ./python into that venv)"
# Built from the tree on every run (maturin, release); --no-deps: aiohttp and httpx are pinned
# in requirements.txt above.
if "$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
     --force-reinstall --no-deps "$root/python"; then
  notes[headway-python]="ok"
else
  notes[headway-python]="pip install ./python failed: the Headway Python columns are not available"
fi

say "Node peers (npm project in benches/.scratch/node)"
mkdir -p "$scratch/node"
cp "$compare/node/package.json" "$compare/node/package-lock.json" "$scratch/node/"
(cd "$scratch/node" && npm ci --no-audit --no-fund --loglevel=error)
# The peer script must sit next to node_modules for its imports to resolve.
cp "$compare/node_peer.mjs" "$scratch/node/node_peer.mjs"

say "Mock server and headway CLI (cargo build --release)"
cargo build --release -p headway-mock
# A failed build leaves other people's files alone; the harness reads the note instead.
if cargo build --release -p headway-cli; then
  notes[headway-cli]="ok"
else
  notes[headway-cli]="cargo build --release -p headway-cli failed: the CLI column is not available"
fi

say "npm package headway-limiter (wasm/build.sh)"
if [ -f "$root/wasm/build.sh" ]; then
  if bash "$root/wasm/build.sh"; then
    notes[headway-limiter]="ok"
  else
    notes[headway-limiter]="bash wasm/build.sh failed: the npm column is not available"
  fi
else
  notes[headway-limiter]="wasm/build.sh does not exist: the npm column is not available"
fi

say "Rust peers and the Headway Rust client (benches/compare/rust)"
if CARGO_TARGET_DIR="$scratch/rust-target" cargo build --release \
     --manifest-path "$compare/rust/Cargo.toml"; then
  notes[rust-peers]="ok"
else
  notes[rust-peers]="benches/compare/rust failed to build: the Rust columns are not available"
fi

rm -f "$scratch/core-ratios.txt"
if [ "${COMPARE_SKIP_CORE:-0}" != 1 ] && [ -f "$here/benches/core.rs" ]; then
  say "Core micro-benchmarks against governor (cargo bench -p headway-benches --bench core)"
  if cargo bench -p headway-benches --bench core; then
    cargo run --quiet --release -p headway-benches --bin ratios > "$scratch/core-ratios.txt" \
      || rm -f "$scratch/core-ratios.txt"
  fi
fi

write_status
say "Workloads (benches/compare/harness.py)"
COMPARE_BUILD_ID="$build_id" "$scratch/venv/bin/python" "$compare/harness.py" "$@"
