#!/usr/bin/env bash
# Corpus v2 end to end: Kokoro-rich corpus -> features -> LM -> dense teacher -> the paper's
# hybrid (Toeplitz-like bottom, shared low-rank top) distilled from it -> export -> compare.
#
# Every stage is resumable and skips what is done, so the same command continues a run that
# a session end interrupted (run it under nohup; the log is work/logs/run_v2-*.log):
#   corpus    make_corpus.sh reuses WAVs and Whisper verdicts; READY marks it complete
#   features  a set's cache is rebuilt only when its manifest is newer
#   lm        rebuilt only when the training text is newer
#   teacher / hybrid   train.py resumes from EXP/last.pt and stops at its --epochs
#   tune      the LM weight and word bonus of each exported model, chosen on the held-out
#             training sentences (tune_decoder.py) and written into its model.toml
# Sizes measured on the 2-core machine (fwd+bwd, batches of 64 x 125 frames; models/README),
# fp32 / bf16 autocast (train.py --bf16, AMX): dense 4x384 ~3,650 / 8,970 frames/s,
# 4x512 ~2,630 / 5,670; hybrid 4x384 r96 ~3,900 / 8,260, 4x512 r128 - / 4,720. The v2 corpus
# is ~5.4 M frames, so with bf16 a 4x384 teacher epoch is ~10 min and its hybrid's ~11 min.
# Why 4x384 and not 4x512: the shipped hybrid must hold >= 200 streams with beam + LM on 2
# cores. Model CPU per stream-second, measured in the server (bench/overhead.sh, greedy):
# today's 4x256 hybrid 2.3 ms, a 4x384 r96 hybrid 3.7 ms, a 4x512 r128 hybrid 5.1 ms; beam
# + LM adds ~2.5 ms and the front end ~1.6 ms, so 4x512's hybrid would saturate near 260
# streams (about 200 held at p95 < 300 ms) and 4x384's near 330.
# Env: TEACHER_LAYERS (4), TEACHER_HIDDEN (384), TEACHER_EPOCHS (16), HYBRID_EPOCHS (10),
#      TEACHER_INIT (a shipped model.onnx, e.g. ../baseline/model.onnx or the hybrid's,
#      ../hybrid/model.onnx: the teacher starts from it, made dense and widened to
#      TEACHER_HIDDEN, by warm_start.py; or a train.py checkpoint
#      of the same shape, e.g. work/v2/teacher/best.pt, to go on on a grown corpus; empty =
#      from scratch), RUN_DIR (v2: the run's folder under work/; a new one starts new runs),
#      TEACHER_LR (1.6e-3; a warm start wants less, e.g. 8e-4), TEACHER_WARMUP (300 steps),
#      TEACHER_CKPT (work/$RUN_DIR/teacher/best.pt: the teacher the hybrid is compressed from,
#      distilled from and exported as; another run's, e.g. work/v2/teacher/best.pt, lets a
#      run skip the teacher stage; empty = no teacher: the hybrid trains on CTC alone and
#      only it is exported and compared), HYBRID_INIT (a hybrid checkpoint of the same
#      structure, e.g. work/v2/hybrid/best.pt, or a shipped hybrid's model.onnx, e.g.
#      ../hybrid/model.onnx, read back by warm_start.py, to go on from on a new or grown
#      corpus instead of compressing the teacher afresh), HYBRID_LR (8e-4),
#      RANK (96: shared low-rank rank; 4x384 r96 is 23.6 % of the teacher's LSTM),
#      DRANK (4: displacement rank), TOEPLITZ_LAYERS (1),
#      KD (0.5: distillation weight), THREADS (2), COMPARE_LIMIT (100 utterances a set),
#      STAGES (default all: "corpus features lm teacher hybrid export tune compare"), OUT_TEACHER (work/v2/teacher_model),
#      OUT_HYBRID (work/v2/hybrid_model; copy into ../hybrid only when its numbers improve).
set -euo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python
M=work/manifests
V2="work/${RUN_DIR:-v2}"
STAGES="${STAGES:-corpus features lm teacher hybrid export tune compare}"
THREADS="${THREADS:-2}"
L="${TEACHER_LAYERS:-4}"
H="${TEACHER_HIDDEN:-384}"
TEACHER_CKPT="${TEACHER_CKPT-$V2/teacher/best.pt}"
OUT_TEACHER="${OUT_TEACHER:-$V2/teacher_model}"
OUT_HYBRID="${OUT_HYBRID:-$V2/hybrid_model}"
want() { [[ " $STAGES " == *" $1 "* ]]; }
stamp() { echo "== $1 $(date -u +%FT%TZ)"; }

./setup.sh >/dev/null
mkdir -p "$V2" work/logs
exec > >(tee -a "work/logs/run_v2-$(date -u +%Y%m%dT%H%M%S).log") 2>&1

if want corpus && [ ! -f "$M/READY" ]; then
  stamp corpus
  ./make_corpus.sh
  [ -f "$M/READY" ] || { echo "corpus not complete yet; run again to resume"; exit 3; }
fi

if want features; then
  for set in train dev test test_kokoro; do
    out="work/feats_v2/$set"
    [ -f "$out/shard_00.tsv" ] && [ "$out/shard_00.tsv" -nt "$M/$set.tsv" ] && continue
    stamp "features $set"
    $PY features.py "$M/$set.tsv" --out "$out" $([ "$set" = train ] && echo --stats)
  done
fi

if want lm && { [ ! -f "$V2/lm.arpa" ] || [ work/text/train.txt -nt "$V2/lm.arpa" ]; }; then
  stamp lm
  $PY make_lm.py --train work/text/train.txt \
    --exclude work/text/test.txt "$M/test.tsv" "$M/test_kokoro.tsv" "$M/dev.tsv" \
    --order 3 --cutoffs 1 2 2 --out "$V2/lm.arpa"
fi

# A checkpoint read back from a shipped model.onnx, cached under a name that holds the
# ONNX's content hash and the feature stats it was normalised to, so a changed init or a
# regrown corpus never reuses a stale one. Prints the checkpoint's path.
from_onnx() {  # ONNX DIR, then warm_start.py flags
  local onnx=$1 dir=$2 stats=work/feats_v2/train/stats.npz key; shift 2
  key=$(cat "$onnx" "$stats" | sha256sum | cut -c1-12)
  local out="$dir/from-onnx-$key.pt"
  mkdir -p "$dir"
  [ -f "$out" ] || $PY warm_start.py "$onnx" --stats "$stats" "$@" --out "$out" >&2
  echo "$out"
}

train() {  # EXP, then train.py flags
  local exp=$1; shift
  $PY train.py --train work/feats_v2/train --dev work/feats_v2/dev --exp "$exp" \
    --threads "$THREADS" --batch-frames 8000 --batch-utts 64 --bf16 "$@" 2>&1 | tee -a "$exp.log"
}

if want teacher; then
  stamp "teacher ${L}x${H}"
  init=()
  if [ -n "${TEACHER_INIT:-}" ]; then
    if [[ "$TEACHER_INIT" == *.pt ]]; then
      init=(--init "$TEACHER_INIT")
    else
      init=(--init "$(from_onnx "$TEACHER_INIT" "$V2/teacher_init" --dense --hidden "$H")")
    fi
  fi
  train "$V2/teacher" --layers "$L" --hidden "$H" --epochs "${TEACHER_EPOCHS:-16}" \
    --lr "${TEACHER_LR:-1.6e-3}" --warmup "${TEACHER_WARMUP:-300}" "${init[@]}"
fi

if want hybrid; then
  stamp hybrid
  structure=(--arch hybrid --toeplitz-layers "${TOEPLITZ_LAYERS:-1}"
             --displacement-rank "${DRANK:-4}" --rank "${RANK:-96}")
  init="${HYBRID_INIT:-$V2/hybrid_init/compressed.pt}"
  if [[ "$init" == *.onnx ]]; then   # a shipped hybrid: read its weights back
    init=$(from_onnx "$init" "$V2/hybrid_init")
  elif [ -z "${HYBRID_INIT:-}" ] && [ ! -f "$init" ]; then
    $PY compress.py "$TEACHER_CKPT" "${structure[@]}" --out "$V2/hybrid_init"
  fi
  kd=()
  [ -n "$TEACHER_CKPT" ] && kd=(--teacher "$TEACHER_CKPT" --kd-weight "${KD:-0.5}")
  train "$V2/hybrid" --layers "$L" --hidden "$H" "${structure[@]}" \
    --init "$init" --epochs "${HYBRID_EPOCHS:-10}" \
    --lr "${HYBRID_LR:-8e-4}" --warmup 100 "${kd[@]}"
fi

if want export; then
  stamp export
  [ -z "$TEACHER_CKPT" ] || $PY export_onnx.py "$TEACHER_CKPT" --out "$OUT_TEACHER" --name teacher \
    --reference-manifest "$M/test.tsv" --lm "$V2/lm.arpa"
  $PY export_onnx.py "$V2/hybrid/best.pt" --out "$OUT_HYBRID" --name hybrid \
    --reference-manifest "$M/test.tsv" --lm "$V2/lm.arpa"
fi

if want tune; then
  stamp tune
  (cd ../.. && cargo build --release --quiet --example decode_eval)
  for out in $([ -z "$TEACHER_CKPT" ] || echo "$OUT_TEACHER") "$OUT_HYBRID"; do
    $PY tune_decoder.py --decode-eval "${CARGO_TARGET_DIR:-../../target}/release/examples/decode_eval" \
      --model "$out/model.toml" --train-cache work/feats_v2/train --manifest "$M/train.tsv" \
      --out "$V2/tune/$(basename "$out")" --write
  done
fi

if want compare; then
  stamp compare
  (cd ../.. && cargo build --release --quiet)
  out="$V2/compare"
  mkdir -p "$out"
  # A snapshot of the shipped default, so copying a new model into ../hybrid while this
  # runs cannot make later rows compare the new model with itself.
  rm -rf "$out/shipped" && cp -r ../hybrid "$out/shipped"
  teacher=()
  [ -z "$TEACHER_CKPT" ] || teacher=(--model "teacher=$(realpath "$OUT_TEACHER")/model.toml")
  $PY compare.py "${teacher[@]}" \
    --model "hybrid=$(realpath "$OUT_HYBRID")/model.toml" --model "shipped=$(realpath "$out/shipped")/model.toml" \
    --set kokoro="$M/test_kokoro.tsv" --set classic="$M/test.tsv" --set real="$M/dev.tsv" \
    --limit "${COMPARE_LIMIT:-100}" --out "$out" | tee "$out/table.md"
fi
stamp done
