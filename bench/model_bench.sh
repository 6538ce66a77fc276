#!/usr/bin/env bash
# Model-level benchmarks, one command: per-frame cost in tract vs onnxruntime (same ONNX,
# one thread, unbatched and batched) and FLOPs per audio second vs this machine's sgemm peak.
# Usage: bench/model_bench.sh [MODEL.toml ...]   (default models/hybrid/model.toml)
# Env: CHUNK_FRAMES (default 4 = 120 ms), BATCHES (default 1,8,32,64).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=models/recipe/.venv/bin/python
CHUNK_FRAMES=${CHUNK_FRAMES:-4}
BATCHES=${BATCHES:-1,8,32,64}
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(models/hybrid/model.toml)

cargo build --release --example model_bench >&2
for toml in "${models[@]}"; do
    target/release/examples/model_bench "$toml" "$CHUNK_FRAMES" "$BATCHES"
    OMP_NUM_THREADS=1 "$PY" bench/ort_bench.py "$toml" "$CHUNK_FRAMES" "$BATCHES"
    for threads in 1 "$(nproc)"; do
        OPENBLAS_NUM_THREADS=$threads "$PY" bench/flops.py "$toml"
    done
done
