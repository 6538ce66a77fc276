#!/usr/bin/env bash
# Build the synthetic English speech corpus into models/recipe/work/ (one command).
# Text -> TTS synthesis (espeak-ng, flite, festival, piper) -> augmentation -> manifests,
# then work/manifests/READY. Re-running reuses existing WAVs (resumable).
# Env: TRAIN_UTTS (default 4500), EXTRA_TRAIN_UTTS (4500: a second draw of sentences, added
#      in session 5; 0 gives the session-1 corpus), TEST_UTTS_PER_VOICE (150), WORKERS (2), SEED (1234),
#      SYNTH_DEADLINE (unix time after which synthesis is cut; 0 = never).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p work/logs
LOG="work/logs/make_corpus-$(date -u +%Y%m%dT%H%M%S).log"
echo "logging to models/recipe/$LOG"
PYTHONPATH=. nice -n 10 .venv/bin/python -m corpus.build \
  --work work \
  --seed "${SEED:-1234}" \
  --train-utts "${TRAIN_UTTS:-4500}" \
  --extra-train-utts "${EXTRA_TRAIN_UTTS:-4500}" \
  --test-utts-per-voice "${TEST_UTTS_PER_VOICE:-150}" \
  --workers "${WORKERS:-2}" \
  --synth-deadline "${SYNTH_DEADLINE:-0}" 2>&1 | tee "$LOG"
