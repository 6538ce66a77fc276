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
from .check import MAX_CER, check_many, check_text
from .dev import build_dev
from .synth import synthesize
from .texts import collect
from .voices import TRAIN_SHARE, all_voices

log = logging.getLogger("corpus")


def _safe(name: str) -> str:
    return name.replace("+", "_")


# Utterance index where the extension's ids start (ids stay unique per voice).
EXTRA_IDX0 = 50_000
# ... and where Kokoro's training ids start (corpus v2).
KOKORO_IDX0 = 100_000


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


def _kokoro_jobs(train: list[str], test: list[str], used: set[str], n_kokoro: int,
                 seed: int) -> list[dict]:
    """Kokoro's jobs: its held-out voices read disjoint slices of the test sentences; its
    training voices read n_kokoro sentences that no other engine reads.

    The training draw is a prefix of one seeded shuffle, so a larger n_kokoro grows the
    corpus without changing the utterances already made.
    """
    kvoices = [v for v in all_voices() if v.engine == "kokoro"]
    tests = [v for v in kvoices if v.split == "test"]
    per_voice = len(test) // max(1, len(tests))
    jobs = [dict(split="test", voice=v, text=test[k * per_voice + i], idx=i)
            for k, v in enumerate(tests) for i in range(per_voice)]
    krng = random.Random(seed + 3)
    pool = [s for s in train if s not in used]
    krng.shuffle(pool)
    speakers = [v for v in kvoices if v.split == "train"]
    order = list(range(len(speakers)))
    krng.shuffle(order)
    jobs += [dict(split="train", voice=speakers[order[i % len(order)]], text=text,
                  idx=KOKORO_IDX0 + i) for i, text in enumerate(pool[:n_kokoro])]
    return jobs


def sentence_pool(text_dir: Path, seed: int, n_test: int) -> tuple[list[str], list[str]]:
    """The corpus's (train, test) sentences: drawn once per cache and kept in text_dir.

    Why kept: part of the pool comes from /usr/share/doc, which changes whenever a package
    is installed; redrawing it would give existing WAVs (found by id) other sentences.
    """
    train_file, test_file = text_dir / "train.txt", text_dir / "test.txt"
    if train_file.exists() and test_file.exists():
        read = lambda f: [line for line in f.read_text().split("\n") if line]
        return read(train_file), read(test_file)
    train, test = collect(seed, n_test=n_test)
    text_dir.mkdir(parents=True, exist_ok=True)
    test_file.write_text("\n".join(test) + "\n")
    train_file.write_text("\n".join(train) + "\n")
    return train, test


def plan_jobs(train: list[str], test: list[str], n_train: int, n_test_per_voice: int,
              seed: int, audio_dir: Path, n_extra: int = 0, n_kokoro: int = 0,
              train_start: int = 0, first_idx: int = 0,
              first_engines: tuple[str, ...] = ()) -> list[dict]:
    """Assign sentences to voices. Returns synthesis jobs in a seeded random order.

    n_extra adds that many more training sentences (disjoint from the first n_train) drawn
    by a generator of their own: the first n_train jobs, their ids, seeds and files are the
    same with or without the extension, so an existing corpus grows without re-synthesis.
    n_kokoro (corpus v2) adds Kokoro's held-out voices and that many Kokoro training
    sentences, disjoint from both draws; the jobs above keep their ids and seeds.
    train_start rotates the training jobs so that synthesis starts at that one (and wraps
    around): the same jobs, ids and seeds, in another order. Why: a new machine's empty cache
    rebuilt the same first jobs each time; a build cut by its deadline that starts where the
    shipped model's corpus ended gives a model trained on from that one new utterances.
    first_idx (0 = off) then moves the training jobs whose idx is at least first_idx to the
    front, in that order: after growing a draw (n_kokoro 8000 -> 16000, say, whose new jobs
    have idx >= KOKORO_IDX0 + 8000) a deadline-cut build makes the utterances no shipped
    model has heard first, though the global shuffle scatters them among the old ones.
    first_engines then moves those engines' training jobs to the very front: cheap replay
    of the older engines beside new Kokoro speech.
    """
    rng = random.Random(seed)
    jobs = []
    test_voices = [v for v in all_voices() if v.split == "test" and v.engine != "kokoro"]
    test_iter = iter(test)
    for v in test_voices:
        for i in range(n_test_per_voice):
            jobs.append(dict(split="test", voice=v, text=next(test_iter), idx=i))
    sentences = rng.sample(train, n_train)
    jobs += _assign_voices(sentences, rng, 0)
    used = set(sentences)
    if n_extra:
        xrng = random.Random(seed + 2)
        extra = xrng.sample([s for s in train if s not in used], n_extra)
        used.update(extra)
        jobs += _assign_voices(extra, xrng, EXTRA_IDX0)
    if n_kokoro:
        jobs += _kokoro_jobs(train, test, used, n_kokoro, seed)
    for j, job in enumerate(jobs):
        name = _safe(job["voice"].name)
        job["id"] = f"{name}-{job['idx']:05d}"
        job["path"] = str(audio_dir / job["split"] / name / f"{job['id']}.wav")
        job["seed"] = seed * 1_000_003 + j
    rng.shuffle(jobs)
    # Test sets first: a build cut short by its deadline still has complete evaluation sets.
    jobs.sort(key=lambda job: job["split"] != "test")
    n_test = sum(job["split"] == "test" for job in jobs)
    k = n_test + train_start % max(1, len(jobs) - n_test)
    train_jobs = jobs[k:] + jobs[n_test:k]
    # Stable sorts on a yes/no key: the chosen jobs move to the front, each part in order.
    if first_idx:
        train_jobs.sort(key=lambda job: job["idx"] < first_idx)
    if first_engines:
        train_jobs.sort(key=lambda job: job["voice"].engine not in first_engines)
    return jobs[:n_test] + train_jobs


# Synthesis jobs a worker takes at once: their Whisper check reads them in packs (check.py).
PACK_JOBS = 6


def _synth_pack(jobs: list[dict]) -> list[tuple[dict, float | None, str, dict | None]]:
    """Synthesize each job (unless its WAV exists), then have Whisper check the pack
    (verdicts already cached are reused)."""
    made = []  # (job, duration, error)
    for job in jobs:
        try:
            if os.path.exists(job["path"]) and os.path.getsize(job["path"]) > 1000 and \
                    check_text(job["path"]) in (None, job["text"]):
                dur = sf.info(job["path"]).duration
            else:
                v = job["voice"]
                dur = synthesize(v.engine, v.arg, job["text"], job["path"], job["seed"])
            made.append((job, dur, ""))
        except Exception as exc:  # one bad sentence must not kill the corpus
            made.append((job, None, repr(exc)))
    ok = [(job["path"], job["text"]) for job, dur, _ in made if dur is not None]
    try:
        verdicts = iter(check_many(ok))
    except Exception as exc:
        return [(job, None, err or repr(exc), None) for job, _, err in made]
    return [(job, dur, err, next(verdicts) if dur is not None else None)
            for job, dur, err in made]


def _aug_job(args: tuple) -> tuple[dict, float | None, str, str]:
    job, dst, seed, others = args
    try:
        if os.path.exists(dst) and os.path.getsize(dst) > 1000:
            return job, sf.info(dst).duration, "reused", dst
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = dst + ".part.wav"  # renamed when complete: a killed build leaves no torn copy
        dur, desc = augment(job["path"], tmp, seed, others)
        os.replace(tmp, dst)
        return job, dur, desc, dst
    except Exception as exc:
        return job, None, repr(exc), dst


def _run_pool(fn, items, workers: int, label: str, deadline: float | None, per_call: int = 1):
    """Map fn over items, `per_call` items to a call of fn (which returns a list of results),
    with progress logs; stop submitting new work after deadline."""
    calls = [items[i:i + per_call] for i in range(0, len(items), per_call)]
    one = per_call == 1
    results, t0, audio_s, logged = [], time.time(), 0.0, 0
    with mp.Pool(workers) as pool:
        it = pool.imap(fn, [c[0] for c in calls] if one else calls, chunksize=4 if one else 1)
        for out in it:
            for res in [out] if one else out:
                results.append(res)
                if isinstance(res[1], float):
                    audio_s += res[1]
            k = len(results)
            if k - logged >= 100 or k == len(items):
                logged = k
                rate = k / (time.time() - t0)
                log.info("%s %d/%d  %.2f h audio  %.2f/s  eta %.0f min", label, k, len(items),
                         audio_s / 3600, rate, (len(items) - k) / rate / 60)
            if deadline and time.time() > deadline and k < len(items):
                log.warning("%s: deadline reached, cutting %d remaining jobs", label,
                            len(items) - k)
                pool.terminate()
                break
    return results


def _report_checks(res: list[tuple], path: Path) -> None:
    """Log and write how many utterances Whisper dropped, per engine and split."""
    stats = collections.defaultdict(lambda: [0, 0, 0.0])
    with open(path.with_name("dropped.tsv"), "w", encoding="utf-8") as f:
        f.write("id\tcer\ttext\twhisper\n")
        for j, _, _, verdict in sorted(res, key=lambda r: r[0]["id"]):
            if verdict is None:
                continue
            s = stats[(j["voice"].engine, j["split"])]
            s[0] += 1
            s[2] += verdict["cer"]
            if not verdict["ok"]:
                s[1] += 1
                f.write(f"{j['id']}\t{verdict['cer']:.3f}\t{j['text']}\t{verdict['hyp']}\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write("engine\tsplit\tchecked\tdropped\tdropped_pct\tmean_cer\n")
        for (engine, split), (n, bad, total) in sorted(stats.items()):
            f.write(f"{engine}\t{split}\t{n}\t{bad}\t{100 * bad / n:.2f}\t{total / n:.4f}\n")
            log.info("whisper check %s/%s: %d checked, %d dropped (%.1f %%, CER > %.2f), "
                     "mean CER %.3f", engine, split, n, bad, 100 * bad / n, MAX_CER, total / n)


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
    ap.add_argument("--kokoro-train-utts", type=int, default=0,
                    help="Kokoro training sentences (corpus v2; 0 = the v1 corpus)")
    ap.add_argument("--test-utts-per-voice", type=int, default=150)
    ap.add_argument("--train-start", type=int, default=0,
                    help="training job synthesis starts at (test jobs always come first)")
    ap.add_argument("--first-idx", type=int, default=0,
                    help="training jobs with an idx at least this come first (0 = off)")
    ap.add_argument("--first-engines", default="",
                    help="comma-separated engines whose training jobs come first of all")
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

    train_text, test_text = sentence_pool(work / "text", a.seed, 3 * a.test_utts_per_voice + 50)
    log.info("text: %d train sentences, %d test sentences (disjoint)",
             len(train_text), len(test_text))

    jobs = plan_jobs(train_text, test_text, a.train_utts, a.test_utts_per_voice, a.seed,
                     work / "audio", a.extra_train_utts, a.kokoro_train_utts, a.train_start,
                     a.first_idx, tuple(filter(None, a.first_engines.split(","))))
    # Training jobs already made come first: a build whose order changed (other flags) and
    # is cut by its deadline still holds everything the cache has.
    jobs.sort(key=lambda job: job["split"] == "train" and not os.path.exists(job["path"]))
    res = _run_pool(_synth_pack, jobs, a.workers, "synth", a.synth_deadline or None,
                    PACK_JOBS)
    for j, d, err, _ in res:
        if err:
            log.warning("synth failed %s: %s", j["id"], err)
    done = [(j, d) for j, d, err, verdict in res if verdict and verdict["ok"]]
    t_synth = time.time() - t_start
    log.info("synthesis: %d/%d utterances in %.0fs", len(res), len(jobs), t_synth)
    _report_checks(res, man / "checks.tsv")

    rel = lambda p: os.path.relpath(p, man)
    train_rows = [(j["id"], rel(j["path"]), d, j["text"]) for j, d in done if j["split"] == "train"]
    test_rows = [(j["id"], rel(j["path"]), d, j["text"]) for j, d in done
                 if j["split"] == "test" and j["voice"].engine != "kokoro"]
    kokoro_test_rows = [(j["id"], rel(j["path"]), d, j["text"]) for j, d in done
                        if j["split"] == "test" and j["voice"].engine == "kokoro"]

    # Each copy's seed comes from its utterance's, so the Whisper check dropping one
    # utterance changes no other copy.
    rng = random.Random(a.seed + 1)
    clean_train = sorted((j for j, _ in done if j["split"] == "train"), key=lambda j: j["id"])
    babble_src = [j["path"] for j in rng.sample(clean_train, min(300, len(clean_train)))]
    aug_items = [(j, str(work / "audio" / "train_aug" / _safe(j["voice"].name) /
                         f"{j['id']}-aug.wav"), j["seed"] * 7919 + 1, babble_src)
                 for j in clean_train]
    aug_res = _run_pool(_aug_job, aug_items, a.workers, "augment", None)
    for j, d, desc, dst in aug_res:
        if d is None:
            log.warning("augment failed %s: %s", j["id"], desc)
        else:
            train_rows.append((j["id"] + "-aug", rel(dst), d, j["text"]))

    _write_tsv(man / "train.tsv", train_rows)
    _write_tsv(man / "test.tsv", test_rows)
    _write_tsv(man / "test_kokoro.tsv", kokoro_test_rows)
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
    log.info("train: %d rows %.2f h (clean by engine: %s); test: %d rows %.2f h; "
             "test_kokoro: %d rows %.2f h", len(train_rows), hours(train_rows),
             ", ".join(f"{k} {v:.2f} h" for k, v in sorted(by_engine.items())),
             len(test_rows), hours(test_rows), len(kokoro_test_rows), hours(kokoro_test_rows))
    log.info("dev (real speech): %d rows %.3f h", len(dev_rows), hours(dev_rows))
    log.info("total time %.0fs", time.time() - t_start)
    if len(res) < len(jobs):
        # Manifests of what exists (to look at), but no READY: training waits for the rest.
        # (A job that failed was tried and is logged above; it does not hold READY back.)
        log.warning("corpus incomplete: %d of %d jobs tried; run again to resume",
                    len(res), len(jobs))
        return
    (man / "READY").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))


if __name__ == "__main__":
    main()
