"""Unit tests for text normalisation, sentence splits and augmentation output format.

Run: cd models/recipe && PYTHONPATH=. .venv/bin/python -m unittest corpus.test_corpus
"""
import json
import os
import tempfile
import unittest

import numpy as np
import soundfile as sf

from pathlib import Path

from .augment import augment
from .build import EXTRA_IDX0, KOKORO_IDX0, plan_jobs, sentence_pool
from . import check as check_mod
from .check import check_many, check_text, split_reading, verdict
from .normalize import normalize, number_to_words, ordinal_words, year_words
from .texts import collect, template_sentences
from . import kokoro
from .voices import KOKORO_TEST, TEST_VOICES, all_voices


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
        self.assertEqual({v.name for v in test},
                         TEST_VOICES | {f"kokoro_{n}" for n in KOKORO_TEST})
        self.assertGreaterEqual(len({v.engine for v in test}), 2)

    def test_kokoro_held_out_voices_are_in_no_blend(self):
        voices = all_voices()
        kokoro_train = [v for v in voices if v.engine == "kokoro" and v.split == "train"]
        self.assertGreaterEqual(len(kokoro_train), 150)
        self.assertEqual(len({v.arg for v in kokoro_train}), len(kokoro_train))
        for v in kokoro_train:
            names = {n for n, _ in kokoro.parse_voice(v.arg)[0]}
            self.assertFalse(names & set(KOKORO_TEST), v)
        # both accents and both sexes are held out
        self.assertEqual({n[:2] for n in KOKORO_TEST}, {"af", "am", "bf", "bm"})

    def test_kokoro_phonemes_are_in_its_vocabulary(self):
        vocab = kokoro.vocab()
        for lang in ("en-us", "en-gb"):
            ph = kokoro.phonemize("i think the weather in boston is nice today", lang)
            self.assertTrue(all(c in vocab for c in ph), ph)
            self.assertTrue(ph.startswith("ˈI "), ph)  # the pronoun keeps its stress
        self.assertEqual(kokoro.ipa_to_kokoro("nˈa^ɪs tədˈe^ɪ", "en-us"), "nˈIs tədˈA")
        self.assertEqual(kokoro.ipa_to_kokoro("ɡˈo^ʊ", "en-us"), "ɡˈO")
        self.assertEqual(kokoro.ipa_to_kokoro("ɡˈə^ʊ", "en-gb"), "ɡˈQ")


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

    def test_kokoro_draw_is_disjoint_and_grows_as_a_prefix(self):
        train = [f"train sentence {i}" for i in range(3000)]
        test = [f"test sentence {i}" for i in range(40)]
        plan = lambda n: {j["id"]: j for j in plan_jobs(train, test, 400, 10, 5, Path("/a"),
                                                         100, n)}
        base, small, big = plan(0), plan(200), plan(500)
        kokoro_small = {u: j for u, j in small.items() if u not in base}
        for uid, job in kokoro_small.items():  # growing keeps every utterance as it was
            self.assertEqual((big[uid]["text"], big[uid]["voice"], big[uid]["seed"]),
                             (job["text"], job["voice"], job["seed"]))
        k_train = [j for j in big.values() if j["voice"].engine == "kokoro" and
                   j["split"] == "train"]
        k_test = [j for j in big.values() if j["voice"].engine == "kokoro" and
                  j["split"] == "test"]
        self.assertEqual(len(k_train), 500)
        self.assertEqual(len({j["text"] for j in k_test}), len(k_test))  # disjoint slices
        self.assertTrue({j["text"] for j in k_test} <= set(test))
        others = {j["text"] for j in base.values()}
        self.assertFalse({j["text"] for j in k_train} & (others | set(test)))
        order = [j["split"] for j in plan_jobs(train, test, 400, 10, 5, Path("/a"), 100, 500)]
        self.assertEqual(order, sorted(order, key=lambda s: s != "test"))  # test sets first
        # train_start: the same jobs, test sets still first, training from the given one on
        plain = plan_jobs(train, test, 400, 10, 5, Path("/a"), 100, 500)
        moved = plan_jobs(train, test, 400, 10, 5, Path("/a"), 100, 500, train_start=7)
        n_test = order.count("test")
        self.assertEqual(sorted(j["id"] for j in moved), sorted(j["id"] for j in plain))
        self.assertEqual(moved[:n_test], plain[:n_test])
        self.assertEqual(moved[n_test:], plain[n_test + 7:] + plain[n_test:n_test + 7])
        # first_idx: the grown draw's new jobs first, in order, then the rest as before
        first = plan_jobs(train, test, 400, 10, 5, Path("/a"), 100, 500, train_start=7,
                          first_idx=KOKORO_IDX0 + 200)
        new = [j for j in moved[n_test:] if j["idx"] >= KOKORO_IDX0 + 200]
        self.assertEqual(len(new), 300)
        self.assertEqual(first[:n_test], moved[:n_test])
        self.assertEqual(first[n_test:], new + [j for j in moved[n_test:] if j not in new])
        # first_engines: those engines' jobs before all others, order kept within each part
        both = plan_jobs(train, test, 400, 10, 5, Path("/a"), 100, 500, train_start=7,
                         first_idx=KOKORO_IDX0 + 200, first_engines=("espeak", "flite"))
        cheap = [j for j in first[n_test:] if j["voice"].engine in ("espeak", "flite")]
        self.assertTrue(cheap)
        self.assertEqual(both[n_test:], cheap + [j for j in first[n_test:] if j not in cheap])


class PoolTest(unittest.TestCase):
    def test_the_sentence_pool_is_drawn_once_and_kept(self):
        with tempfile.TemporaryDirectory() as d:
            first = sentence_pool(Path(d), seed=3, n_test=20)
            (Path(d) / "train.txt").write_text("kept sentence one\nkept sentence two\n")
            again = sentence_pool(Path(d), seed=3, n_test=20)
            self.assertEqual(again[0], ["kept sentence one", "kept sentence two"])
            self.assertEqual(again[1], first[1])

    def test_a_wav_is_reused_only_for_the_text_it_was_checked_against(self):
        with tempfile.TemporaryDirectory() as d:
            wav = os.path.join(d, "a.wav")
            self.assertIsNone(check_text(wav))
            with open(wav + ".check", "w") as f:
                f.write('{"raw": "Hello there.", "text": "hello there"}\n')
            self.assertEqual(check_text(wav), "hello there")


class CheckTest(unittest.TestCase):
    def test_whisper_number_styles_are_no_misreading_but_garbles_are(self):
        ok = lambda text, raw: verdict(text, raw)["ok"]
        self.assertTrue(ok("set an alarm for seven thirty in the morning",
                           "Set an alarm for 7.30 in the morning."))
        self.assertTrue(ok("cancel my alarm for two ten", "Cancel my alarm for 210."))
        self.assertTrue(ok("the total comes to one thousand dollars and twenty cents",
                           "The total comes to $1,000.20."))
        self.assertTrue(ok("every one of them", "Everyone of them."))
        self.assertFalse(ok("i gave up smoking and drinking entirely today",
                            "thelet tape property depth glossary"))
        self.assertFalse(ok("call john tomorrow at nine", ""))


class PackedCheckTest(unittest.TestCase):
    TEXTS = ["set an alarm for seven thirty", "call john tomorrow at nine",
             "the total comes to five dollars"]

    def test_a_reading_of_a_pack_splits_back_onto_its_utterances(self):
        raw = "Set an alarm for 7.30. Call John tomorrow at 9. The total comes to $5."
        self.assertEqual(split_reading(self.TEXTS, raw),
                         ["Set an alarm for 7.30.", "Call John tomorrow at 9.",
                          "The total comes to $5."])
        ok = [verdict(t, r)["ok"] for t, r in zip(self.TEXTS, split_reading(self.TEXTS, raw))]
        self.assertEqual(ok, [True, True, True])

    def test_a_skipped_or_garbled_utterance_is_dropped_and_only_it(self):
        skipped = split_reading(self.TEXTS, "Set an alarm for 7.30. The total comes to $5.")
        self.assertEqual(skipped[1], "")
        garbled = split_reading(self.TEXTS, "Well, uh, set an alarm for 7.30. Colder "
                                "Tamarind Tomas Sine. The total comes to $5.")
        self.assertEqual(garbled[0], "Well, uh, set an alarm for 7.30.")
        for parts in (skipped, garbled):
            self.assertEqual([verdict(t, r)["ok"] for t, r in zip(self.TEXTS, parts)],
                             [True, False, True])

    def test_packs_hold_at_most_pack_seconds_and_drops_are_read_again_alone(self):
        calls = []

        def fake_transcribe(audio):  # reads the second utterance only when it is alone
            calls.append(len(audio) / 16000)
            if len(audio) / 16000 < 3:
                return "call john tomorrow at nine"
            return "set an alarm for seven thirty" if len(audio) / 16000 < 10 else \
                "set an alarm for seven thirty the total comes to five dollars"

        with tempfile.TemporaryDirectory() as d:
            items = []
            for k, (text, secs) in enumerate(zip(self.TEXTS, [5.0, 2.0, 4.0])):
                wav = os.path.join(d, f"{k}.wav")
                sf.write(wav, np.zeros(int(secs * 16000), np.float32), 16000)
                items.append((wav, text))
            saved = check_mod.transcribe, check_mod.PACK_SECONDS
            check_mod.transcribe, check_mod.PACK_SECONDS = fake_transcribe, 14.0
            try:
                first = check_many(items)
                n_calls = len(calls)
                again = check_many(items)
            finally:
                check_mod.transcribe, check_mod.PACK_SECONDS = saved
            # One window of 5 + 1 + 2 + 1 + 4 s (the 14 s budget), then utterance 1 alone.
            self.assertEqual(calls, [13.0, 2.0])
            self.assertEqual([v["ok"] for v in first], [True, True, True])
            self.assertEqual(n_calls, len(calls), "cached verdicts are not read again")
            self.assertEqual(first, again)
            packs = [json.loads(open(w + ".check").read())["pack"] for w, _ in items]
            self.assertEqual(packs, [3, 1, 3])


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
