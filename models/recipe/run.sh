#!/usr/bin/env bash
# Reproduce models/baseline from nothing: setup -> corpus -> features -> train -> export -> eval.
#
# Run time on the reference machine (2 CPU cores, no GPU), measured 2026-11-29:
#   setup.sh ~1 min (venv present) · make_corpus.sh ~35 min (22.5 min for the first 4,500
#   sentences + 12 min for the second draw, EXTRA_TRAIN_UTTS) · features ~2 min
#   train ~130 min (28 epochs x ~4.6 min over 19 h of audio at 6-8k frames/s; the first-draw
#   corpus alone took ~2.3 min per epoch) · export 4 s · evaluate 8 s.
# Results and the exact history of the shipped run: models/README.md.
# Env: EPOCHS (default 28), EXP (default work/exp), OUT (default ../baseline).
# Training resumes from $EXP/last.pt when present; delete $EXP to start over.
set -euo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python
EPOCHS="${EPOCHS:-28}"
EXP="${EXP:-work/exp}"
OUT="${OUT:-../baseline}"
M=work/manifests

./setup.sh
[ -f "$M/READY" ] || ./make_corpus.sh

for set in train dev test; do
  [ -f "work/feats/$set/shard_00.tsv" ] && [ "work/feats/$set/shard_00.tsv" -nt "$M/$set.tsv" ] && continue
  $PY features.py "$M/$set.tsv" $([ "$set" = train ] && echo --stats)
done

$PY train.py --train work/feats/train --dev work/feats/dev --exp "$EXP" --epochs "$EPOCHS" \
  --batch-frames 4000 --batch-utts 32 --lr 1.6e-3 \
  2>&1 | tee -a work/train.log

$PY export_onnx.py "$EXP/best.pt" --out "$OUT" --name baseline --reference-manifest "$M/test.tsv"
$PY evaluate.py "$OUT/model.onnx" "$M/test.tsv" "$M/dev.tsv"
