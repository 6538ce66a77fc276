#!/usr/bin/env bash
# Server-level benchmark, one command: starts `compact-asr serve` (release build) on a
# loopback port with the given serve flags, runs `compact-asr loadtest` against it, stops it.
# Usage: bench/server_bench.sh [SERVE FLAGS...] -- [LOADTEST FLAGS...]
#   bench/server_bench.sh --model models/baseline/model.toml -- --streams 50 --duration 20
#   bench/server_bench.sh --max-batch 1 -- --find-max --streams 16 --duration 20
# Audio: tests/data (WAVs with .txt references) unless the loadtest flags give --audio.
set -euo pipefail
cd "$(dirname "$0")/.."
serve=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do serve+=("$1"); shift; done
[ $# -gt 0 ] && shift
load=("$@")
case " ${load[*]} " in *" --audio "*) ;; *) load+=(--audio tests/data) ;; esac

cargo build --release --bin compact-asr >&2
bin="${CARGO_TARGET_DIR:-target}/release/compact-asr"
port=$(( 20000 + RANDOM % 20000 ))
"$bin" serve --listen "127.0.0.1:$port" "${serve[@]}" 2>"${TMPDIR:-/tmp}/compact_asr_server_bench.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    "$bin" health --server "http://127.0.0.1:$port" >/dev/null 2>&1 && break
    sleep 0.2
done
"$bin" loadtest --server "http://127.0.0.1:$port" "${load[@]}"
