#!/usr/bin/env python3
"""Builds a small word n-gram language model (ARPA) from the recipe's TRAINING text.

Why a hand-written builder: KenLM's `lmplz` is not installable here (no Debian package, the
PyPI `kenlm` wheel only queries models), and NLTK's `nltk.lm` cannot write ARPA. The model
is interpolated modified Kneser-Ney (Chen & Goodman 1998, three discounts per order, as in
KenLM), written as a backoff model; count cut-offs on the higher orders keep the file to a
few MB, and the backoff weights are renormalised after pruning so every context's
distribution still sums to one (as SRILM does).

Only `--train` text goes in. Sentences also found in any `--exclude` file (the test text,
held-out manifests) are dropped and counted, so the held-out sets can never leak into the
LM even if the corpus generator changes.

Usage (from models/recipe/):
    .venv/bin/python make_lm.py --train work/text/train.txt \
        --exclude work/text/test.txt work/manifests/test.tsv work/manifests/dev.tsv \
        --order 3 --cutoffs 1 2 2 --out ../baseline/lm.arpa
"""

import argparse
import math
import re
import sys
from collections import Counter, defaultdict

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
ALLOWED = re.compile(r"[^a-z' ]+")


def normalise(line):
    """Lower-case, keep the acoustic model's alphabet (a-z, apostrophe, space)."""
    return " ".join(ALLOWED.sub(" ", line.lower()).split())


def read_sentences(path):
    """One sentence per line; `.tsv` manifests give their `text` column."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if path.endswith(".tsv"):
        header = lines[0].split("\t")
        col = header.index("text")
        lines = [row.split("\t")[col] for row in lines[1:] if row.strip()]
    return [s for s in (normalise(l) for l in lines) if s]


def count_ngrams(sentences, order):
    counts = [None] + [Counter() for _ in range(order)]
    for s in sentences:
        words = [BOS] + s.split() + [EOS]
        for n in range(1, order + 1):
            c = counts[n]
            for i in range(len(words) - n + 1):
                gram = tuple(words[i : i + n])
                if n == 1 and gram[0] == BOS:
                    continue
                c[gram] += 1
    return counts


def adjusted_counts(counts, order):
    """KN counts: raw for the top order and for n-grams starting at <s>, otherwise the
    number of distinct words seen before the n-gram (continuation count)."""
    adj = [None] * (order + 1)
    adj[order] = dict(counts[order])
    for n in range(order - 1, 0, -1):
        cont = Counter()
        for gram in counts[n + 1]:
            cont[gram[1:]] += 1
        a = {}
        for gram, c in counts[n].items():
            a[gram] = c if gram[0] == BOS else cont.get(gram, c)
        adj[n] = a
    return adj


def discounts(adj_n):
    """Modified KN discounts D1, D2, D3+ from count-of-counts."""
    coc = Counter(min(c, 4) for c in adj_n.values())
    n1, n2, n3, n4 = (max(coc[i], 1) for i in (1, 2, 3, 4))
    y = n1 / (n1 + 2 * n2)
    d = [0.0, 1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3]
    return [0.0] + [min(max(x, 0.0), i) for i, x in enumerate(d[1:], start=1)]


def interpolated_probs(adj, order, vocab_size):
    """p_interp for every n-gram of every order (before pruning)."""
    probs = [None] * (order + 1)
    for n in range(1, order + 1):
        d = discounts(adj[n])
        ctx_total = defaultdict(float)
        ctx_mass = defaultdict(float)
        for gram, c in adj[n].items():
            h = gram[:-1]
            ctx_total[h] += c
            ctx_mass[h] += d[min(c, 3)]
        p = {}
        for gram, c in adj[n].items():
            h = gram[:-1]
            gamma = ctx_mass[h] / ctx_total[h]
            lower = 1.0 / vocab_size if n == 1 else probs[n - 1][gram[1:]]
            p[gram] = (c - d[min(c, 3)]) / ctx_total[h] + gamma * lower
        if n == 1:
            gamma = ctx_mass[()] / ctx_total[()]
            p[(UNK,)] = gamma / vocab_size
        probs[n] = p
    return probs


class Backoff:
    """The pruned backoff model being written, queried to renormalise backoff weights."""

    def __init__(self, order):
        self.prob = [None] + [dict() for _ in range(order)]
        self.bow = [None] + [dict() for _ in range(order)]

    def query(self, gram):
        n = len(gram)
        p = self.prob[n].get(gram)
        if p is not None:
            return p
        if n == 1:
            return self.prob[1][(UNK,)]
        return self.bow[n - 1].get(gram[:-1], 1.0) * self.query(gram[1:])


def build(sentences, order, cutoffs):
    counts = count_ngrams(sentences, order)
    adj = adjusted_counts(counts, order)
    vocab_size = len(counts[1]) + 1  # + <unk>
    probs = interpolated_probs(adj, order, vocab_size)
    lm = Backoff(order)
    lm.prob[1] = dict(probs[1])
    for n in range(2, order + 1):
        kept = {g: p for g, p in probs[n].items() if counts[n][g] >= cutoffs[n - 1]}
        lm.prob[n] = kept
        seen = defaultdict(float)
        seen_lower = defaultdict(float)
        for gram, p in kept.items():
            seen[gram[:-1]] += p
            seen_lower[gram[:-1]] += lm.query(gram[1:])
        for h in lm.prob[n - 1]:
            if h in seen:
                num = max(1.0 - seen[h], 1e-9)
                den = max(1.0 - seen_lower[h], 1e-9)
                lm.bow[n - 1][h] = num / den
            else:
                lm.bow[n - 1][h] = 1.0
        # <s> is only ever a context.
        if n == 2 and (BOS,) in seen:
            lm.bow[1][(BOS,)] = max(1.0 - seen[(BOS,)], 1e-9) / max(
                1.0 - seen_lower[(BOS,)], 1e-9
            )
    return lm


def write_arpa(lm, order, path):
    def log10(x):
        return math.log10(x) if x > 0 else -99.0

    with open(path, "w", encoding="utf-8") as f:
        unigrams = dict(lm.prob[1])
        f.write("\\data\\\n")
        f.write(f"ngram 1={len(unigrams) + 1}\n")
        for n in range(2, order + 1):
            f.write(f"ngram {n}={len(lm.prob[n])}\n")
        for n in range(1, order + 1):
            f.write(f"\n\\{n}-grams:\n")
            items = sorted(lm.prob[n].items())
            if n == 1:
                items = [((BOS,), 0.0)] + items
            for gram, p in items:
                lp = -99.0 if gram == (BOS,) else log10(p)
                line = f"{lp:.6f}\t{' '.join(gram)}"
                if n < order:
                    bow = lm.bow[n].get(gram)
                    if bow is not None:
                        line += f"\t{log10(bow):.6f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


def perplexity(lm, order, sentences):
    logp, words, oov = 0.0, 0, 0
    for s in sentences:
        toks = [BOS] + s.split() + [EOS]
        for i in range(1, len(toks)):
            w = toks[i]
            if (w,) not in lm.prob[1]:
                oov += 1
                w = UNK
            gram = tuple(toks[max(0, i - order + 1) : i]) + (w,)
            logp += math.log(lm.query(gram))
            words += 1
    return math.exp(-logp / max(words, 1)), oov


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, help="training text, one sentence a line")
    ap.add_argument("--exclude", nargs="*", default=[], help="held-out text/.tsv files")
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument(
        "--cutoffs",
        type=int,
        nargs="+",
        default=[1, 2, 2],
        help="minimum raw count to keep an n-gram, per order (unigrams always kept)",
    )
    ap.add_argument("--report", nargs="*", default=[], help="texts to report perplexity on")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if len(args.cutoffs) != args.order:
        sys.exit("--cutoffs needs one value per order")

    excluded = set()
    for path in args.exclude:
        excluded.update(read_sentences(path))
    train = read_sentences(args.train)
    kept = [s for s in train if s not in excluded]
    print(
        f"{len(train)} training sentences, {len(train) - len(kept)} dropped as held-out",
        file=sys.stderr,
    )
    lm = build(kept, args.order, args.cutoffs)
    write_arpa(lm, args.order, args.out)
    sizes = ", ".join(f"{n}-grams {len(lm.prob[n])}" for n in range(1, args.order + 1))
    print(f"wrote {args.out}: {sizes}", file=sys.stderr)
    for path in args.report:
        ppl, oov = perplexity(lm, args.order, read_sentences(path))
        print(f"perplexity on {path}: {ppl:.1f} ({oov} OOV words)", file=sys.stderr)


if __name__ == "__main__":
    main()
