#!/usr/bin/env bash
# Where a loaded server's CPU goes: one fixed-size load-test trial against a server binary,
# with the CPU split into client, server-model and server-other (docs/benchmarks.md,
# "Server overhead"). Run it on an idle machine.
# Usage: bench/overhead.sh SERVER_BIN STREAMS [SERVE FLAGS...]
#   bench/overhead.sh target/release/compact-asr 320 --model models/hybrid/model.toml --decoder greedy
# Env: DURATION (15 s of stream starts), AUDIO (tests/data), CLIENT (the load-test client
#      binary: target/release/compact-asr, so every server meets the same client).
# Prints one JSON object: the load test's streams, chunk p95 and errors, and CPU seconds of
# the client, the server, and the server's model calls (the CPU of the batch worker threads,
# which run tract and gather batches), plus the model-only bound (streams the model alone could
# serve on this machine's cores at the measured model cost per stream-second).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 streams=$2
shift 2
client="${CLIENT:-target/release/compact-asr}"
. bench/start_server.sh
HEALTH_BIN=$client start_server "$bin" "${TMPDIR:-/tmp}/compact_asr_overhead_server.log" \
    --metrics-listen off "$@"
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# The batch workers' CPU (threads asr-batch-N: they run the model calls and nothing else but
# gathering the batch), in seconds.
model_seconds() {
    local total=0 t
    for t in /proc/$server/task/*; do
        [[ $(cat "$t/comm" 2>/dev/null) == asr-batch-* ]] || continue
        total=$(( total + $(awk '{ print $14 + $15 }' "$t/stat") ))
    done
    echo "$total $ticks" | awk '{ print $1 / $2 }'
}
s0=$(cpu $server) m0=$(model_seconds)
out=$(mktemp)
/usr/bin/time -f "%U %S" -o "$out.time" "$client" loadtest --server "http://127.0.0.1:$port" \
    --streams "$streams" --duration "${DURATION:-15}" --audio "${AUDIO:-tests/data}" --json >"$out"
s1=$(cpu $server) m1=$(model_seconds)
python3 - "$out" "$out.time" "$s0" "$s1" "$m0" "$m1" "$ticks" "$(nproc)" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
user, system = map(float, open(sys.argv[2]).read().split()[-2:])
s0, s1, m0, m1, ticks, cores = (float(x) for x in sys.argv[3:9])
server = (s1 - s0) / ticks
model = m1 - m0
stream_seconds = summary["audio_seconds"]
print(json.dumps({
    "streams": summary["streams"],
    "chunk_p95_ms": summary["chunk_latency_ms"]["p95"],
    "errors": sum(summary["errors"].values()),
    "audio_seconds": round(stream_seconds, 1),
    "client_cpu_s": round(user + system, 2),
    "server_cpu_s": round(server, 2),
    "server_model_s": round(model, 2),
    "server_other_s": round(server - model, 2),
    "other_per_model": round((server - model) / model, 2) if model else None,
    "model_only_bound_streams": round(cores * stream_seconds / model) if model else None,
}))
PY
rm -f "$out" "$out.time"
