"""Unit tests for text normalisation, sentence splits and augmentation output format.

Run: cd models/recipe && PYTHONPATH=. .venv/bin/python -m unittest corpus.test_corpus
"""
import os
import tempfile
import unittest

import numpy as np
import soundfile as sf

from pathlib import Path

from .augment import augment
from .build import EXTRA_IDX0, plan_jobs
from .normalize import normalize, number_to_words, ordinal_words, year_words
from .texts import collect, template_sentences
from .voices import TEST_VOICES, all_voices


class NormalizeTest(unittest.TestCase):
    def test_numbers(self):
        self.assertEqual(number_to_words(0), "zero")
        self.assertEqual(number_to_words(115), "one hundred fifteen")
        self.assertEqual(number_to_words(2_000_042), "two million forty two")
        self.assertEqual(ordinal_words(23), "twenty third")
        self.assertEqual(ordinal_words(40), "fortieth")
        self.assertEqual(year_words(1984), "nineteen eighty four")
        self.assertEqual(year_words(1905), "nineteen oh five")
        self.assertEqual(year_words(2007), "two thousand seven")

    def test_normalize_spells_and_filters(self):
        self.assertEqual(normalize("It's 3.5% off, 21st May!"),
                         "it's three point five percent off twenty first may")
        self.assertIsNone(normalize("mail me at a@b.org today"))
        self.assertIsNone(normalize("too short"))
        self.assertIsNone(normalize(" ".join(["word"] * 26)))
        self.assertEqual(normalize("'Quoted' words here"), "quoted words here")

    def test_templates_are_valid_transcripts(self):
        for s in template_sentences(500, seed=3):
            n = normalize(s)
            if n is not None:
                self.assertRegex(n, r"^[a-z' ]+$")


class SplitTest(unittest.TestCase):
    def test_test_sentences_not_in_train(self):
        train, test = collect(seed=7, n_test=200)
        self.assertEqual(len(test), 200)
        self.assertFalse(set(train) & set(test))

    def test_held_out_voices_cover_two_engines(self):
        test = [v for v in all_voices() if v.split == "test"]
        self.assertEqual({v.name for v in test}, TEST_VOICES)
        self.assertGreaterEqual(len({v.engine for v in test}), 2)


class ExtensionTest(unittest.TestCase):
    def test_extension_keeps_the_first_corpus_and_adds_new_sentences(self):
        train = [f"train sentence {i}" for i in range(3000)]
        test = [f"test sentence {i}" for i in range(30)]
        plan = lambda extra: {j["id"]: j for j in plan_jobs(train, test, 400, 10, 5, Path("/a"), extra)}
        first, grown = plan(0), plan(300)
        self.assertEqual(len(grown), len(first) + 300)
        for uid, job in first.items():
            g = grown[uid]
            self.assertEqual((g["text"], g["seed"], g["voice"], g["path"]),
                             (job["text"], job["seed"], job["voice"], job["path"]))
        added = [j for uid, j in grown.items() if uid not in first]
        self.assertTrue(all(j["split"] == "train" and j["idx"] >= EXTRA_IDX0 for j in added))
        first_texts = {j["text"] for j in first.values()}
        self.assertFalse({j["text"] for j in added} & first_texts)
        self.assertEqual(len({j["text"] for j in added}), 300)
        self.assertFalse({j["text"] for j in added} & set(test))


class AugmentTest(unittest.TestCase):
    def test_output_is_16k_mono_pcm16(self):
        with tempfile.TemporaryDirectory() as d:
            t = np.arange(16000) / 16000
            src = os.path.join(d, "a.wav")
            sf.write(src, 0.5 * np.sin(2 * np.pi * 440 * t), 16000, subtype="PCM_16")
            for seed in range(8):
                dst = os.path.join(d, f"b{seed}.wav")
                dur, desc = augment(src, dst, seed, [src])
                info = sf.info(dst)
                self.assertEqual((info.samplerate, info.channels, info.subtype),
                                 (16000, 1, "PCM_16"))
                self.assertAlmostEqual(dur, info.duration, places=3)
                self.assertGreater(dur, 0.85)
                self.assertLess(dur, 1.2)
                self.assertIn("gain", desc)


if __name__ == "__main__":
    unittest.main()
