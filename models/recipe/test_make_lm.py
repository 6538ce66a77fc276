"""Unit tests for the n-gram LM builder.

Run: cd models/recipe && .venv/bin/python -m unittest test_make_lm
"""
import math
import tempfile
import unittest
from pathlib import Path

import make_lm

SENTENCES = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the cat ate",
    "the dog ate the bone",
] * 3 + ["one odd line"]


class MakeLmTest(unittest.TestCase):
    def test_every_context_is_a_distribution(self):
        for cutoffs in ([1, 1, 1], [1, 2, 4]):
            lm = make_lm.build(SENTENCES, 3, cutoffs)
            vocab = list(lm.prob[1])
            for h in [(), ("the",), ("the", "cat"), ("<s>",), ("odd", "mat")]:
                total = sum(lm.query(h + w) for w in vocab)
                self.assertAlmostEqual(total, 1.0, places=9, msg=(h, cutoffs))

    def test_cutoffs_prune_rare_ngrams_but_keep_their_prefixes(self):
        full = make_lm.build(SENTENCES, 3, [1, 1, 1])
        pruned = make_lm.build(SENTENCES, 3, [1, 2, 2])
        self.assertIn(("one", "odd", "line"), full.prob[3])
        self.assertNotIn(("one", "odd", "line"), pruned.prob[3])
        for gram in pruned.prob[3]:
            self.assertIn(gram[:2], pruned.prob[2])
        # Kneser-Ney: "francisco" is the more frequent word but only ever follows "san",
        # so as a unigram (continuation probability) it is the less likely.
        corpus = ["san francisco is foggy"] * 10 + [
            f"{w} glasses" for w in ["red", "blue", "old", "my", "new", "his"]
        ]
        kn = make_lm.build(corpus, 3, [1, 1, 1])
        self.assertLess(kn.query(("francisco",)), kn.query(("glasses",)))

    def test_held_out_sentences_never_reach_the_model(self):
        with tempfile.TemporaryDirectory() as tmp:
            train = Path(tmp, "train.txt")
            test = Path(tmp, "test.tsv")
            out = Path(tmp, "lm.arpa")
            train.write_text("\n".join(SENTENCES + ["zebras graze quietly"]) + "\n")
            test.write_text("id\tpath\tduration\ttext\nu1\tx.wav\t1.0\tZebras graze quietly\n")
            import sys
            argv = sys.argv
            sys.argv = ["make_lm.py", "--train", str(train), "--exclude", str(test),
                        "--out", str(out)]
            try:
                make_lm.main()
            finally:
                sys.argv = argv
            text = out.read_text()
            self.assertNotIn("zebras", text)
            self.assertTrue(text.startswith("\\data\\\nngram 1="))
            self.assertTrue(text.rstrip().endswith("\\end\\"))
            probs = [float(l.split("\t")[0]) for l in text.splitlines() if "\t" in l]
            self.assertTrue(all(p <= 0.0 and math.isfinite(p) for p in probs))


if __name__ == "__main__":
    unittest.main()
