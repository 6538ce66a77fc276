#!/usr/bin/env bash
# Train the paper's compact variants at one budget and export each (issue 4's table).
#
# Every variant starts from the dense baseline's checkpoint, projected onto its structure
# (compress.py: truncated SVD for low-rank and shared factors, a least-squares fit of the
# generators for Toeplitz-like layers), then trains EPOCHS epochs on the same data with the
# same schedule. The dense control trains the baseline itself for the same EPOCHS, so every
# row of the table has had exactly the same data and the same number of updates.
#
# Run after run.sh (it needs work/feats and BASE). ~2.5 min per epoch per variant on 2 cores.
# With KD=W (e.g. 0.5) every run, the dense control included, also distils from BASE
# (train.py --teacher, frame-level KL of weight W).
# Env: EPOCHS (default 4), LR (peak, default 6e-4), BASE (default work/exp_long/best.pt),
#      KD (default: none), THREADS (default 2), OUT (default work/sweep),
#      ONLY (space-separated variant names to run, default all, in the order below).
# Output: OUT/NAME/{compressed.pt,finetune/,model/,eval.txt}, logs in work/sweep/NAME.log.
set -euo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python
EPOCHS="${EPOCHS:-4}"
LR="${LR:-6e-4}"
BASE="${BASE:-work/exp_long/best.pt}"
M=work/manifests
OUT="${OUT:-work/sweep}"
THREADS="${THREADS:-2}"
train_flags=(--threads "$THREADS")
[ -n "${KD:-}" ] && train_flags+=(--teacher "$BASE" --kd-weight "$KD")

# name | compress.py structure flags (empty: the dense control)
VARIANTS=(
  "hybrid_t1_s64|--arch hybrid --toeplitz-layers 1 --displacement-rank 4 --rank 64"
  "dense|"
  "shared_r48|--arch shared-lowrank --rank 48"
  "lowrank_r64|--arch lowrank --rank 64"
  "lowrank_r32|--arch lowrank --rank 32"
  "shared_r96|--arch shared-lowrank --rank 96"
  "toeplitz_r4|--arch toeplitz --displacement-rank 4"
  "hybrid_t2_s96|--arch hybrid --toeplitz-layers 2 --displacement-rank 4 --rank 96"
)

mkdir -p "$OUT"
for entry in "${VARIANTS[@]}"; do
  name="${entry%%|*}"
  flags="${entry#*|}"
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
  dir="$OUT/$name"
  if [ -f "$dir/eval.txt" ]; then echo "$name: done ($dir/eval.txt)"; continue; fi
  echo "== $name ($(date -u +%H:%M:%S))"
  {
    if [ -z "$flags" ]; then
      $PY train.py --train work/feats/train --dev work/feats/dev --exp "$dir/finetune" \
        --epochs "$EPOCHS" --init "$BASE" --lr "$LR" --warmup 50 "${train_flags[@]}"
    else
      # shellcheck disable=SC2086 # flags are words by design
      $PY compress.py "$BASE" $flags --out "$dir" --finetune-epochs "$EPOCHS" \
        --train work/feats/train --dev work/feats/dev --lr "$LR" "${train_flags[@]}"
    fi
    $PY export_onnx.py "$dir/finetune/best.pt" --out "$dir/model" --name "$name" \
      --reference-manifest "$M/test.tsv"
    $PY evaluate.py "$dir/model/model.onnx" "$M/test.tsv" "$M/dev.tsv" --show-errors 0 \
      | tee "$dir/eval.tmp"
    mv "$dir/eval.tmp" "$dir/eval.txt"
  } >"$dir.log" 2>&1
  tail -n 4 "$dir/eval.txt"
done
