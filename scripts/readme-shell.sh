#!/usr/bin/env bash
# Runs the shell quick starts of README.md as written, read from the Markdown (editing a
# block changes what runs here):
#
# 1. The `cargo run ... demo` line of the first block (the one after the title), without
#    `--release`: the same program, without minutes of release build on a CI machine. The
#    block's other line, scripts/test-all.sh, is what runs this script.
# 2. The block under "The mock API on its own": its first line (the mock) in the background,
#    from the checkout, on a free port in place of 8080 (other programs may hold 8080), then
#    the other lines in order, in a scratch directory, with the workspace's `headway` on PATH as
#    `cargo install --path cli` would put it. Every line must succeed, and every line of the
#    output file the block writes must be a 200.
#
#   bash scripts/readme-shell.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The fenced `sh` block that follows the line matching $1 (a regex; "^# " for the first).
block_after() {
  awk -v after="$1" '
    found == 0 && $0 ~ after { found = 1; next }
    found == 1 && /^```sh$/ { found = 2; next }
    found == 2 && /^```$/ { exit }
    found == 2 { print }
  ' README.md
}

cargo build -q -p headway-mock -p headway-cli
export PATH="${CARGO_TARGET_DIR:-$root/target}/debug:$PATH"
scratch="$(mktemp -d)"
mock_pid=""
cleanup() {
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

demo="$(block_after '^# Headway$' | grep -E '^cargo run .* demo( |$)' | sed 's/ --release//')"
[ -n "$demo" ] || { echo "README.md: no 'cargo run ... demo' line in the first sh block" >&2; exit 1; }
echo "+ $demo"
bash -euo pipefail -c "$demo" > "$scratch/demo.out"
tail -n 3 "$scratch/demo.out"

mock_block="$(block_after '^\*\*The mock API on its own\*\*')"
[ -n "$mock_block" ] || { echo "README.md: no sh block after 'The mock API on its own'" >&2; exit 1; }
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mock_block="${mock_block//8080/$port}"
server="$(head -n 1 <<<"$mock_block")"
case "$server" in
  *headway-mock*) ;;
  *) echo "README.md: the mock block does not start with the mock: $server" >&2; exit 1 ;;
esac
echo "+ $server &"
bash -c "exec $server" > "$scratch/mock.out" 2>&1 &
mock_pid=$!
for _ in $(seq 1 600); do
  grep -q 'listening on' "$scratch/mock.out" && break
  kill -0 "$mock_pid" 2>/dev/null || { cat "$scratch/mock.out" >&2; exit 1; }
  sleep 0.1
done
grep -q 'listening on' "$scratch/mock.out" || { echo "the mock did not start" >&2; exit 1; }
while IFS= read -r line; do
  [ -n "$line" ] || continue
  echo "+ $line"
  (cd "$scratch" && bash -euo pipefail -c "$line")
  echo
done < <(tail -n +2 <<<"$mock_block")

# Every output file the block wrote holds only 200s, at least one.
shopt -s nullglob
outputs=("$scratch"/*.jsonl)
[ "${#outputs[@]}" -gt 0 ] || { echo "the block wrote no .jsonl output" >&2; exit 1; }
for out in "${outputs[@]}"; do
  lines="$(wc -l < "$out")"
  ok="$(grep -c '"status":200,' "$out" || true)"
  echo "$(basename "$out"): $ok of $lines lines answered 200"
  [ "$lines" -gt 0 ] && [ "$ok" -eq "$lines" ] || { cat "$out" >&2; exit 1; }
done
echo "README shell quick starts: ok"
