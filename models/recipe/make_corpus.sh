#!/usr/bin/env bash
# Build the synthetic English speech corpus into work/ (= $COMPACT_ASR_WORK, see setup.sh).
# Text -> TTS synthesis (espeak-ng, flite, festival, Piper, Kokoro) -> Whisper tiny.en check
# of every utterance -> augmentation -> manifests, then work/manifests/READY.
# Resumable and idempotent: existing WAVs and Whisper verdicts (NAME.wav.check) are reused,
# so re-running after an interruption continues where it stopped.
# Env: TRAIN_UTTS (default 4500), EXTRA_TRAIN_UTTS (0; 4500 gives v1's second draw, added
#      in session 5), KOKORO_TRAIN_UTTS (8000: corpus v2's Kokoro sentences, a prefix of one
#      seeded shuffle, so raising it later grows the corpus without re-synthesis; 0 gives
#      the v1 corpus), TEST_UTTS_PER_VOICE (60: this cache drew 230 test sentences), WORKERS (2), SEED (1234),
#      SYNTH_DEADLINE (unix time after which synthesis is cut; 0 = never), TRAIN_START (0:
#      the training job synthesis starts at, wrapping around; 3318 starts after the 3,726
#      jobs, 408 of them test jobs, of the corpus the session-11 hybrid was trained on),
#      TRAIN_FIRST_IDX (0: off; 108000 puts the Kokoro jobs that KOKORO_TRAIN_UTTS=16000
#      adds to the default 8000 first, so a deadline-cut build is all new to the shipped model),
#      TRAIN_FIRST_ENGINES (empty; e.g. espeak,flite,festival,piper: those engines' training
#      jobs first of all, as cheap replay beside new Kokoro speech). Whatever the order,
#      training jobs whose WAV the cache already holds are tried before any new one.
set -euo pipefail
cd "$(dirname "$0")"
[ -L work ] || ./setup.sh
mkdir -p work/logs
LOG="work/logs/make_corpus-$(date -u +%Y%m%dT%H%M%S).log"
echo "logging to models/recipe/$LOG"
PYTHONPATH=. nice -n 10 .venv/bin/python -m corpus.build \
  --work work \
  --seed "${SEED:-1234}" \
  --train-utts "${TRAIN_UTTS:-4500}" \
  --extra-train-utts "${EXTRA_TRAIN_UTTS:-0}" \
  --kokoro-train-utts "${KOKORO_TRAIN_UTTS:-8000}" \
  --test-utts-per-voice "${TEST_UTTS_PER_VOICE:-60}" \
  --train-start "${TRAIN_START:-0}" \
  --first-idx "${TRAIN_FIRST_IDX:-0}" \
  --first-engines "${TRAIN_FIRST_ENGINES:-}" \
  --workers "${WORKERS:-2}" \
  --synth-deadline "${SYNTH_DEADLINE:-0}" 2>&1 | tee "$LOG"
