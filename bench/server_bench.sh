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
. bench/start_server.sh
start_server "$bin" "${TMPDIR:-/tmp}/compact_asr_server_bench.log" "${serve[@]}"
"$bin" loadtest --server "http://127.0.0.1:$port" "${load[@]}"
