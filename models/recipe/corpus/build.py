"""Build the whole corpus: text -> synthesis -> augmentation -> manifests -> READY marker.

Why: one reproducible entry point (fixed seeds) that the trainer can rely on; it is
resumable (existing WAVs are reused) and can cut synthesis at a wall-clock deadline so the
training run is never blocked by a slow machine.
"""
import argparse
import collections
import logging
import multiprocessing as mp
import os
import random
import time
from pathlib import Path

import soundfile as sf

from .augment import augment
from .dev import build_dev
from .synth import synthesize
from .texts import collect
from .voices import TRAIN_SHARE, all_voices

log = logging.getLogger("corpus")


def _safe(name: str) -> str:
    return name.replace("+", "_")


# Utterance index where the extension's ids start (ids stay unique per voice).
EXTRA_IDX0 = 50_000


def _assign_voices(sentences: list[str], rng: random.Random, idx0: int) -> list[dict]:
    """Training jobs for sentences, split over engines by TRAIN_SHARE."""
    voices = [v for v in all_voices() if v.split == "train"]
    jobs, pos, n = [], 0, len(sentences)
    for engine, share in TRAIN_SHARE.items():
        pool = [v for v in voices if v.engine == engine]
        count = round(n * share) if engine != "festival" else n - pos
        for i in range(count):
            jobs.append(dict(split="train", voice=pool[i % len(pool)] if len(pool) > 1 and
                             engine == "espeak" else rng.choice(pool),
                             text=sentences[pos], idx=idx0 + i))
            pos += 1
    return jobs


def plan_jobs(train: list[str], test: list[str], n_train: int, n_test_per_voice: int,
              seed: int, audio_dir: Path, n_extra: int = 0) -> list[dict]:
    """Assign sentences to voices. Returns synthesis jobs in a seeded random order.

    n_extra adds that many more training sentences (disjoint from the first n_train) drawn
    by a generator of their own: the first n_train jobs, their ids, seeds and files are the
    same with or without the extension, so an existing corpus grows without re-synthesis.
    """
    rng = random.Random(seed)
    jobs = []
    test_voices = [v for v in all_voices() if v.split == "test"]
    test_iter = iter(test)
    for v in test_voices:
        for i in range(n_test_per_voice):
            jobs.append(dict(split="test", voice=v, text=next(test_iter), idx=i))
    sentences = rng.sample(train, n_train)
    jobs += _assign_voices(sentences, rng, 0)
    if n_extra:
        xrng = random.Random(seed + 2)
        used = set(sentences)
        extra = xrng.sample([s for s in train if s not in used], n_extra)
        jobs += _assign_voices(extra, xrng, EXTRA_IDX0)
    for j, job in enumerate(jobs):
        name = _safe(job["voice"].name)
        job["id"] = f"{name}-{job['idx']:05d}"
        job["path"] = str(audio_dir / job["split"] / name / f"{job['id']}.wav")
        job["seed"] = seed * 1_000_003 + j
    rng.shuffle(jobs)
    return jobs


def _synth_job(job: dict) -> tuple[dict, float | None, str]:
    try:
        if os.path.exists(job["path"]) and os.path.getsize(job["path"]) > 1000:
            return job, sf.info(job["path"]).duration, ""
        v = job["voice"]
        return job, synthesize(v.engine, v.arg, job["text"], job["path"], job["seed"]), ""
    except Exception as exc:  # one bad sentence must not kill the corpus
        return job, None, repr(exc)


def _aug_job(args: tuple) -> tuple[dict, float | None, str, str]:
    job, dst, seed, others = args
    try:
        if os.path.exists(dst) and os.path.getsize(dst) > 1000:
            return job, sf.info(dst).duration, "reused", dst
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        dur, desc = augment(job["path"], dst, seed, others)
        return job, dur, desc, dst
    except Exception as exc:
        return job, None, repr(exc), dst


def _run_pool(fn, items, workers: int, label: str, deadline: float | None):
    """Map fn over items with progress logs; stop submitting new work after deadline."""
    results, t0 = [], time.time()
    with mp.Pool(workers) as pool:
        it = pool.imap(fn, items, chunksize=4)
        for k, res in enumerate(it, 1):
            results.append(res)
            if k % 250 == 0 or k == len(items):
                rate = k / (time.time() - t0)
                log.info("%s %d/%d  %.1f/s  eta %.0fs", label, k, len(items), rate,
                         (len(items) - k) / rate)
            if deadline and time.time() > deadline and k < len(items):
                log.warning("%s: deadline reached, cutting %d remaining jobs", label,
                            len(items) - k)
                pool.terminate()
                break
    return results


def _write_tsv(path: Path, rows: list[tuple]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("id\tpath\tduration\ttext\n")
        for r in sorted(rows):
            f.write(f"{r[0]}\t{r[1]}\t{r[2]:.3f}\t{r[3]}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", default="models/recipe/work")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--train-utts", type=int, default=5500)
    ap.add_argument("--extra-train-utts", type=int, default=0,
                    help="more training sentences on top of --train-utts (grows a corpus "
                         "without changing its first part)")
    ap.add_argument("--test-utts-per-voice", type=int, default=150)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--synth-deadline", type=float, default=0,
                    help="unix time after which no more synthesis jobs start (0 = none)")
    a = ap.parse_args()
    work = Path(a.work).resolve()
    man = work / "manifests"
    man.mkdir(parents=True, exist_ok=True)
    (man / "READY").unlink(missing_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    t_start = time.time()

    train_text, test_text = collect(a.seed, n_test=3 * a.test_utts_per_voice + 50)
    (work / "text").mkdir(exist_ok=True)
    (work / "text" / "train.txt").write_text("\n".join(train_text) + "\n")
    (work / "text" / "test.txt").write_text("\n".join(test_text) + "\n")
    log.info("text: %d train sentences, %d test sentences (disjoint)",
             len(train_text), len(test_text))

    jobs = plan_jobs(train_text, test_text, a.train_utts, a.test_utts_per_voice, a.seed,
                     work / "audio", a.extra_train_utts)
    res = _run_pool(_synth_job, jobs, a.workers, "synth", a.synth_deadline or None)
    done = [(j, d) for j, d, err in res if d is not None]
    for j, d, err in res:
        if err:
            log.warning("synth failed %s: %s", j["id"], err)
    t_synth = time.time() - t_start
    log.info("synthesis: %d/%d utterances in %.0fs", len(done), len(jobs), t_synth)

    rel = lambda p: os.path.relpath(p, man)
    train_rows = [(j["id"], rel(j["path"]), d, j["text"]) for j, d in done if j["split"] == "train"]
    test_rows = [(j["id"], rel(j["path"]), d, j["text"]) for j, d in done if j["split"] == "test"]

    # The extension's copies are planned after the first corpus's, so those keep their seeds.
    rng = random.Random(a.seed + 1)
    clean = sorted((j for j, _ in done if j["split"] == "train"), key=lambda j: j["id"])
    clean_train = [j for j in clean if j["idx"] < EXTRA_IDX0]
    clean_train += [j for j in clean if j["idx"] >= EXTRA_IDX0]
    n_first = sum(j["idx"] < EXTRA_IDX0 for j in clean)
    babble_src = [j["path"] for j in rng.sample(clean_train[:n_first], min(300, n_first))]
    aug_items = [(j, str(work / "audio" / "train_aug" / _safe(j["voice"].name) /
                         f"{j['id']}-aug.wav"), a.seed * 7919 + i, babble_src)
                 for i, j in enumerate(clean_train)]
    aug_res = _run_pool(_aug_job, aug_items, a.workers, "augment", None)
    for j, d, desc, dst in aug_res:
        if d is None:
            log.warning("augment failed %s: %s", j["id"], desc)
        else:
            train_rows.append((j["id"] + "-aug", rel(dst), d, j["text"]))

    _write_tsv(man / "train.tsv", train_rows)
    _write_tsv(man / "test.tsv", test_rows)
    dev_rows = build_dev(work / "audio", man)
    _write_tsv(man / "dev.tsv", dev_rows)
    counts = collections.Counter((j["voice"].name, j["voice"].engine, j["split"]) for j, _ in done)
    with open(man / "voices.tsv", "w") as f:
        f.write("voice\tengine\tsplit\tutterances\n")
        for (name, engine, split), n in sorted(counts.items()):
            f.write(f"{name}\t{engine}\t{split}\t{n}\n")
    hours = lambda rows: sum(r[2] for r in rows) / 3600
    by_engine = collections.defaultdict(float)
    for j, d in done:
        if j["split"] == "train":
            by_engine[j["voice"].engine] += d / 3600
    log.info("train: %d rows %.2f h (clean by engine: %s); test: %d rows %.2f h",
             len(train_rows), hours(train_rows),
             ", ".join(f"{k} {v:.2f} h" for k, v in sorted(by_engine.items())),
             len(test_rows), hours(test_rows))
    log.info("dev (real speech): %d rows %.3f h", len(dev_rows), hours(dev_rows))
    log.info("total time %.0fs", time.time() - t_start)
    (man / "READY").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))


if __name__ == "__main__":
    main()
