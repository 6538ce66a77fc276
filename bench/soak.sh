#!/usr/bin/env bash
# Soak test (not in CI): N real-time streams for M minutes against one server while its RSS
# is sampled, then three verdicts: memory flat, zero errors, every final delivered.
#
# Usage: bench/soak.sh [--streams N] [--minutes M] [--server URL --pid PID] [--model TOML]
#                      [--audio DIR] [--out DIR] [--sample-secs S] [--rss-tolerance PCT]
#   bench/soak.sh --streams 20 --minutes 3
#   bench/soak.sh --server http://10.0.0.5:50051 --minutes 60      # no RSS without --pid
# Environment: COMPACT_ASR_BIN (default: build and use target/release/compact-asr).
#
# Without --server it starts `compact-asr serve` (release build) on a loopback port with
# --model (default models/hybrid/model.toml). Audio: --audio, else up to 40 WAVs of
# models/recipe/work/manifests/test.tsv (with their transcripts), else tests/data.
# Writes rss.csv (elapsed_s,rss_kib), loadtest.json and server.log to --out
# (default: target/soak/DATE) and exits non-zero if a verdict fails.
#
# "Flat": after a warm-up (the first 10% of the samples, at least 30 s), the mean RSS of the
# last quarter of the samples is within --rss-tolerance percent (default 10) of the first
# quarter's. A leak of a few KiB per stream shows up as steady growth between the quarters;
# allocator caching settles during the warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."

streams=20 minutes=3 server="" pid="" model=models/hybrid/model.toml audio=""
out="target/soak/$(date -u +%Y%m%dT%H%M%SZ)" sample_secs=5 tolerance=10
while [ $# -gt 0 ]; do
    case "$1" in
        --streams) streams=$2 ;;
        --minutes) minutes=$2 ;;
        --server) server=$2 ;;
        --pid) pid=$2 ;;
        --model) model=$2 ;;
        --audio) audio=$2 ;;
        --out) out=$2 ;;
        --sample-secs) sample_secs=$2 ;;
        --rss-tolerance) tolerance=$2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift 2
done
mkdir -p "$out"
started="" sampler=""
cleanup() {
    [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
    if [ -n "$started" ]; then
        kill "$started" 2>/dev/null || true
        wait "$started" 2>/dev/null || true
    fi
}
trap cleanup EXIT

bin=${COMPACT_ASR_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --bin compact-asr >&2
    bin=target/release/compact-asr
fi

# The audio folder: WAVs with NAME.txt references, as `loadtest --audio` reads them.
if [ -z "$audio" ]; then
    manifest=models/recipe/work/manifests/test.tsv
    if [ -f "$manifest" ]; then
        audio="$out/audio"
        mkdir -p "$audio"
        tail -n +2 "$manifest" | head -n 40 | while IFS=$'\t' read -r id path _ text; do
            ln -sf "$(realpath "$(dirname "$manifest")/$path")" "$audio/$id.wav"
            printf '%s\n' "$text" >"$audio/$id.txt"
        done
    else
        audio=tests/data
    fi
fi

if [ -z "$server" ]; then
    COMPACT_ASR_METRICS_LISTEN=127.0.0.1:0 COMPACT_ASR_WS_LISTEN=127.0.0.1:0 "$bin" serve --listen 127.0.0.1:0 --model "$model" \
        >/dev/null 2>"$out/server.log" &
    pid=$! started=$!
    for _ in $(seq 600); do
        addr=$(grep -a 'listening' "$out/server.log" | grep -o 'addr=[0-9.:]*' | head -n 1 || true)
        [ -n "$addr" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
        sleep 0.2
    done
    [ -n "$addr" ] || { echo "server did not start" >&2; exit 1; }
    server="http://${addr#addr=}"
fi
echo "soak: $streams streams for $minutes min against $server (pid ${pid:-unknown}), audio $audio" >&2

# RSS sampler: one line every sample_secs while the server lives.
echo "elapsed_s,rss_kib" >"$out/rss.csv"
if [ -n "$pid" ]; then
    (
        start=$(date +%s)
        while rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$rss" ]; do
            echo "$(( $(date +%s) - start )),$rss" >>"$out/rss.csv"
            sleep "$sample_secs"
        done
    ) &
    sampler=$!
fi

"$bin" loadtest --server "$server" --streams "$streams" --duration $(( minutes * 60 )) \
    --audio "$audio" --json >"$out/loadtest.json"
[ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
sampler=""

python3 - "$out" "$tolerance" "$sample_secs" <<'EOF'
import csv, json, sys
out, tolerance, sample_secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
summary = json.load(open(f"{out}/loadtest.json"))
rows = [(int(r["elapsed_s"]), int(r["rss_kib"])) for r in csv.DictReader(open(f"{out}/rss.csv"))]
failures = []
errors = sum(summary["errors"].values())
print(f"recordings: {summary['utterances']} of {summary['attempts']} to their final, "
      f"{summary['finals']} finals, {summary['audio_seconds']:.0f} s of audio")
print(f"errors: {errors} {summary['errors'] or ''}")
print(f"chunk latency p95 {summary['chunk_latency_ms']['p95']} ms, "
      f"final latency p95 {summary['final_latency_ms']['p95']} ms, WER {summary['wer']}")
if errors:
    failures.append(f"{errors} errors")
if summary["utterances"] == 0 or summary["utterances"] != summary["attempts"]:
    failures.append("not every recording got its final")
if summary["finals"] < summary["utterances"]:
    failures.append("fewer finals than recordings")
warm = max(len(rows) // 10, int(30 / sample_secs))
steady = [kib for _, kib in rows[warm:]]
if len(steady) >= 8:
    quarter = len(steady) // 4
    first = sum(steady[:quarter]) / quarter
    last = sum(steady[-quarter:]) / quarter
    growth = (last - first) / first * 100
    print(f"RSS: {rows[0][1] / 1024:.1f} MiB at start, peak {max(k for _, k in rows) / 1024:.1f} MiB; "
          f"after warm-up first-quarter mean {first / 1024:.1f} MiB, "
          f"last-quarter mean {last / 1024:.1f} MiB ({growth:+.1f}%, bound {tolerance:+.0f}%)")
    if growth > tolerance:
        failures.append(f"RSS grew {growth:.1f}%")
else:
    print(f"RSS: only {len(rows)} samples, too few to judge (run longer or sample more often)")
    failures.append("too few RSS samples")
print("PASS" if not failures else "FAIL: " + "; ".join(failures))
sys.exit(1 if failures else 0)
EOF
