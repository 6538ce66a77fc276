#!/usr/bin/env python3
"""Tunes the beam search's LM weight (alpha) and word bonus (beta) without touching the test set.

Why this set: the held-out-voice test set and the real-speech dev set are for measuring, so
the weights are chosen on the training sentences train.py holds out of training (150 of the
first corpus and 1 in 80 of corpus v2's Kokoro sentences: seen voices, unseen sentences),
decoded with an LM rebuilt WITHOUT those sentences (the shipped LM was built from all
training text, so it would know them word for word). With --write the best cell goes into
the model's [decoder] table, the decoding `compact-asr serve` uses unless told otherwise
(run_v2.sh's tune stage does this for the v2 models).

Usage (from models/recipe/, after the corpus, features and a trained model exist):
    CARGO_TARGET_DIR=/work/target-release cargo build --release --example decode_eval
    .venv/bin/python tune_decoder.py --decode-eval /work/target-release/release/examples/decode_eval \\
        --model ../hybrid/model.toml
"""

import argparse
import itertools
import subprocess
import sys
from pathlib import Path

from export_onnx import with_decoder_weights
from features import read_manifest
from train import held_out_ids

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--decode-eval", type=Path, required=True, help="the built decode_eval example")
    p.add_argument("--model", type=Path, required=True, help="model.toml to decode with")
    p.add_argument("--train-cache", type=Path, default=HERE / "work/feats2/train")
    p.add_argument("--manifest", type=Path, default=HERE / "work/manifests/train.tsv")
    p.add_argument("--text", type=Path, default=HERE / "work/text/train.txt")
    p.add_argument("--holdout", type=int, default=150, help="as train.py --holdout")
    p.add_argument("--seed", type=int, default=1234, help="as train.py --seed")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.9])
    p.add_argument("--betas", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    p.add_argument("--out", type=Path, default=HERE / "work/tune")
    p.add_argument("--write", action="store_true",
                   help="record the best cell in --model's [decoder] table (serve's default)")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)

    held = held_out_ids(a.train_cache, a.holdout, a.seed)
    # read_manifest joins each path to the manifest's folder; absolute, they hold from work/tune.
    rows = [r for r in read_manifest(a.manifest.resolve()) if r["id"] in held]
    manifest = a.out / "heldout.tsv"
    manifest.write_text("id\tpath\tduration\ttext\n" + "".join(
        f"{r['id']}\t{r['path']}\t{r['duration']}\t{r['text']}\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} held-out utterances -> {manifest}", flush=True)

    lm = a.out / "lm_without_heldout.arpa"
    subprocess.run([sys.executable, str(HERE / "make_lm.py"), "--train", str(a.text),
                    "--exclude", str(manifest), str(HERE / "work/text/test.txt"),
                    str(HERE / "work/manifests/test.tsv"), str(HERE / "work/manifests/dev.tsv"),
                    "--order", "3", "--cutoffs", "1", "2", "2", "--out", str(lm)], check=True)

    results = {}
    for alpha, beta in itertools.product(a.alphas, a.betas):
        out = subprocess.run([str(a.decode_eval.resolve()), "--model", str(a.model.resolve()), "--lm", str(lm.resolve()),
                              "--manifest", str(manifest.resolve()), "--alpha", str(alpha), "--beta", str(beta)],
                             check=True, capture_output=True, text=True, cwd=HERE.parent.parent).stdout
        row = next(l for l in out.splitlines() if l.startswith("| beam + LM |"))
        results[alpha, beta] = float(row.split("|")[2].strip().rstrip("%"))
        print(f"alpha {alpha} beta {beta}: beam + LM WER {results[alpha, beta]:.2f} %", flush=True)

    print("\n| alpha \\ beta | " + " | ".join(f"{b:g}" for b in a.betas) + " |")
    print("|---" * (len(a.betas) + 1) + "|")
    for alpha in a.alphas:
        print(f"| {alpha:g} | " + " | ".join(f"{results[alpha, b]:.2f}" for b in a.betas) + " |")
    best = min(results, key=results.get)
    print(f"\nbest: alpha {best[0]:g}, beta {best[1]:g} ({results[best]:.2f} % WER)")
    if a.write:
        a.model.write_text(with_decoder_weights(a.model.read_text(), *best))
        print(f"wrote lm_weight {best[0]:g}, word_bonus {best[1]:g} into {a.model}")


if __name__ == "__main__":
    main()
