#!/usr/bin/env bash
# Install what the training recipe needs on a fresh Debian machine (run as root).
# Idempotent: apt skips installed packages, the venv is created only if missing and pip
# only installs what requirements.txt pins and is absent.
set -euo pipefail
cd "$(dirname "$0")"

APT_PKGS=(
  python3 python3-venv python3-pip
  sox libsox-fmt-all                       # resampling, speed/reverb/telephone augmentation
  espeak-ng flite                          # formant / diphone TTS engines
  festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
  fortune-mod fortunes fortunes-min wamerican   # sentence sources
  pocketsphinx-testdata                    # real human speech with transcripts (dev set)
)
# MBROLA voices live in Debian's contrib/non-free; optional, skipped when unavailable.
OPTIONAL_PKGS=(mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1)

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
for p in "${OPTIONAL_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || \
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$p" >/dev/null 2>&1 || \
    echo "note: optional package $p not available, skipping"
done

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet -r requirements.txt
echo "setup done: $(.venv/bin/python --version), $(espeak-ng --version | head -1)"
