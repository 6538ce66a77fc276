"""The voice inventory: which engine/voice speaks which split, and how much of the corpus.

Why: test voices must never be heard in training. Kokoro (the most human-like engine) gets
the largest share of training audio, spread over its 24 training voices and hundreds of
blends of them; its four held-out voices (both accents, both sexes) appear in no blend.
"""
from dataclasses import dataclass

from . import kokoro


@dataclass(frozen=True)
class Voice:
    name: str      # unique id used in utterance ids and voices.tsv
    engine: str    # espeak | flite | festival | piper
    arg: str       # engine-specific voice argument
    split: str     # train | test


ESPEAK_BASES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                "en-gb-x-gbcwmd", "en-029"]
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2"]
# Held out: one ordinary US espeak voice, one flite and one festival voice (both US male).
TEST_VOICES = {"espeak_en-us+f2", "flite_rms", "festival_ked_diphone"}


def all_voices() -> list[Voice]:
    voices = []
    for base in ESPEAK_BASES:
        for var in ESPEAK_VARIANTS:
            voices.append(Voice(f"espeak_{base}+{var}", "espeak", f"{base}+{var}", "train"))
    for v in ["kal", "kal16", "awb", "rms", "slt"]:  # awb_time is a clock-only voice
        voices.append(Voice(f"flite_{v}", "flite", v, "train"))
    for v in ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]:
        voices.append(Voice(f"festival_{v}", "festival", v, "train"))
    voices.append(Voice("piper_joe", "piper", "joe", "train"))
    voices = [Voice(v.name, v.engine, v.arg, "test" if v.name in TEST_VOICES else "train")
              for v in voices]
    return voices + kokoro_voices()


# Held-out Kokoro voices: American and British, female and male.
KOKORO_TEST = ["af_sarah", "am_michael", "bf_isabella", "bm_george"]
KOKORO_BLENDS = 200
KOKORO_BLEND_SEED = 4242


def kokoro_voices() -> list[Voice]:
    """The 28 English Kokoro voices (4 held out) and KOKORO_BLENDS blends of the other 24."""
    pool = [n for n in kokoro.ENGLISH if n not in KOKORO_TEST]
    voices = [Voice(f"kokoro_{n}", "kokoro", kokoro.voice_arg([(n, 1.0)], kokoro.accent(n)),
                    "test" if n in KOKORO_TEST else "train") for n in kokoro.ENGLISH]
    for i, arg in enumerate(kokoro.make_blends(KOKORO_BLENDS, pool, KOKORO_BLEND_SEED)):
        voices.append(Voice(f"kokoro_mix{i:03d}", "kokoro", arg, "train"))
    return voices


# Fraction of clean TRAINING utterances per engine (Piper largest: most natural speech).
TRAIN_SHARE = {"piper": 0.38, "espeak": 0.32, "flite": 0.18, "festival": 0.12}
