"""Word and character error rates, shared by training-time validation and evaluate.py.

Why one module: the number printed each epoch and the number in the model card must be
computed the same way.
"""
from __future__ import annotations


def edit_distance(ref: list, hyp: list) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


class ErrorRate:
    """Accumulates word and character errors over (reference, hypothesis) pairs."""

    def __init__(self) -> None:
        self.word_errors = self.words = self.char_errors = self.chars = 0

    def add(self, ref: str, hyp: str) -> None:
        self.word_errors += edit_distance(ref.split(), hyp.split())
        self.words += len(ref.split())
        self.char_errors += edit_distance(list(ref), list(hyp))
        self.chars += len(ref)

    @property
    def wer(self) -> float:
        return self.word_errors / max(self.words, 1)

    @property
    def cer(self) -> float:
        return self.char_errors / max(self.chars, 1)
