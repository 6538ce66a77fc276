"""Manifest -> cached, stacked log-mel features.

Why: the acoustic model is trained for many epochs over the same audio; computing
Kaldi fbank once and caching it keeps the 2-core machine busy with training instead
of FFTs. The options below are exactly those of docs/model-contract.md, so the
server's Rust front end reproduces what the model saw in training.

Cache layout for a manifest `NAME.tsv` (under --out, default work/feats/NAME/):
  shard_K.npy      float16 [frames, stack*80], the utterances of shard K concatenated
  shard_K.tsv      id, offset, frames, text (one row per utterance of shard K)
  frames.json      {"stack": N, "subsample": M}: the stacking the cache was made with
  stats.npz        (train only, --stats) mean/std over all training model frames, float64

Usage:
  python features.py work/manifests/train.tsv --stats
  python features.py work/manifests/test.tsv
  python features.py work/manifests/train.tsv --stats --stack 3 --subsample 2 --out work/feats_s3m2/train
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from multiprocessing import Pool
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
NUM_MEL_BINS = 80
INPUT_SCALE = 32768.0
STACK = 3
SUBSAMPLE = 3

RECIPE_DIR = Path(__file__).resolve().parent


def fbank_options() -> knf.FbankOptions:
    """The contract's fbank settings, every one set explicitly (library defaults differ)."""
    opts = knf.FbankOptions()
    f = opts.frame_opts
    f.samp_freq = SAMPLE_RATE
    f.dither = 0.0
    f.window_type = "povey"
    f.frame_length_ms = 25.0
    f.frame_shift_ms = 10.0
    f.preemph_coeff = 0.97
    f.remove_dc_offset = True
    f.round_to_power_of_two = True
    f.snip_edges = True
    m = opts.mel_opts
    m.num_bins = NUM_MEL_BINS
    m.low_freq = 20.0
    m.high_freq = 0.0
    m.is_librosa = False
    m.htk_mode = False
    opts.use_energy = False
    opts.use_power = True
    opts.use_log_fbank = True
    opts.use_log_floor = True
    opts.eps = float(np.finfo(np.float32).eps)
    return opts


def read_audio(path: str | Path) -> np.ndarray:
    """Mono float32 in [-1, 1] at 16 kHz; the corpus is expected to be 16 kHz already."""
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {sr}, expected {SAMPLE_RATE}")
    return audio.mean(axis=1)


def fbank(audio: np.ndarray) -> np.ndarray:
    """Kaldi log-mel fbank [frames, 80] of float32 audio in [-1, 1]."""
    fb = knf.OnlineFbank(fbank_options())
    fb.accept_waveform(SAMPLE_RATE, (audio * INPUT_SCALE).tolist())
    fb.input_finished()
    n = fb.num_frames_ready
    out = np.empty((n, NUM_MEL_BINS), dtype=np.float32)
    for i in range(n):
        out[i] = fb.get_frame(i)
    return out


def stack_frames(fb: np.ndarray, stack: int = STACK, subsample: int = SUBSAMPLE) -> np.ndarray:
    """Model frame k = fbank frames k*subsample .. k*subsample+stack-1 (oldest first),
    concatenated; a trailing remainder that cannot fill a whole model frame is dropped."""
    n, bins = fb.shape
    t = (n - stack) // subsample + 1 if n >= stack else 0
    idx = np.arange(t)[:, None] * subsample + np.arange(stack)[None, :]
    return np.ascontiguousarray(fb[idx].reshape(t, stack * bins))


def model_features(path: str | Path, stack: int = STACK, subsample: int = SUBSAMPLE) -> np.ndarray:
    """The stacked model input [T, stack*80] float32 of one audio file."""
    return stack_frames(fbank(read_audio(path)), stack, subsample)


def read_frames_config(feat_dir: Path) -> dict:
    """The cache's stacking; caches written before frames.json existed used the defaults."""
    path = Path(feat_dir) / "frames.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"stack": STACK, "subsample": SUBSAMPLE}


def read_manifest(path: str | Path) -> list[dict]:
    """Rows of a contract manifest, with `path` made absolute."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for r in rows:
        r["path"] = str(path.parent / r["path"])
        r["duration"] = float(r["duration"])
    return rows


def _compute_shard(job: tuple[list[dict], Path, int, int]) -> tuple[Path, np.ndarray, np.ndarray, int]:
    rows, out_prefix, stack, subsample = job
    dim = stack * NUM_MEL_BINS
    feats, index = [], []
    offset = 0
    total = np.zeros(dim, dtype=np.float64)
    total_sq = np.zeros(dim, dtype=np.float64)
    for r in rows:
        x = model_features(r["path"], stack, subsample)
        if x.shape[0] == 0:
            continue
        feats.append(x.astype(np.float16))
        total += x.sum(axis=0, dtype=np.float64)
        total_sq += np.square(x, dtype=np.float64).sum(axis=0)
        index.append((r["id"], offset, x.shape[0], r["text"]))
        offset += x.shape[0]
    data = np.concatenate(feats) if feats else np.zeros((0, dim), np.float16)
    np.save(f"{out_prefix}.npy", data)
    with open(f"{out_prefix}.tsv", "w", encoding="utf-8") as f:
        f.write("id\toffset\tframes\ttext\n")
        for uid, off, n, text in index:
            f.write(f"{uid}\t{off}\t{n}\t{text}\n")
    return out_prefix, total, total_sq, offset


def compute(manifest: Path, out_dir: Path, shards: int, procs: int, stats: bool,
            stack: int = STACK, subsample: int = SUBSAMPLE) -> None:
    rows = read_manifest(manifest)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("shard_*"):
        old.unlink()
    (out_dir / "frames.json").write_text(json.dumps({"stack": stack, "subsample": subsample}) + "\n")
    jobs = [(rows[k::shards], out_dir / f"shard_{k:02d}", stack, subsample) for k in range(shards)]
    total = np.zeros(stack * NUM_MEL_BINS)
    total_sq = np.zeros(stack * NUM_MEL_BINS)
    frames = 0
    with Pool(procs) as pool:
        for prefix, s, sq, n in pool.imap_unordered(_compute_shard, jobs):
            total += s
            total_sq += sq
            frames += n
            print(f"{prefix.name}: {n} frames", flush=True)
    print(f"{manifest.name}: {len(rows)} utterances, {frames} model frames "
          f"({frames * subsample * 0.01 / 3600:.2f} h)", flush=True)
    if stats:
        mean = total / frames
        std = np.sqrt(np.maximum(total_sq / frames - mean**2, 1e-8))
        np.savez(out_dir / "stats.npz", mean=mean, std=std, frames=frames)


def load_cache(feat_dir: Path) -> tuple[list[np.ndarray], list[tuple[str, int, int, int, str]]]:
    """Memory-mapped shards and utterance index (id, shard, offset, frames, text)."""
    shards, utts = [], []
    for k, npy in enumerate(sorted(feat_dir.glob("shard_*.npy"))):
        shards.append(np.load(npy, mmap_mode="r"))
        with open(npy.with_suffix(".tsv"), encoding="utf-8") as f:
            next(f)
            for line in f:
                uid, off, n, text = line.rstrip("\n").split("\t")
                utts.append((uid, k, int(off), int(n), text))
    return shards, utts


def length_groups(lengths: list[int], max_frames: int) -> list[list[int]]:
    """Indices of lengths, shortest first, cut into groups whose padded size (longest x
    count) stays within max_frames; one longer than that is a group of its own.

    Why sorted: inference passes (validation, teacher posteriors) see every utterance once
    in any order, so grouping like lengths wastes the least compute on padding."""
    groups: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if groups and lengths[i] * (len(groups[-1]) + 1) <= max_frames:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def padded(arrays: list[np.ndarray], spans: list[tuple[int, int, int]]) -> np.ndarray:
    """Rows of cached shards as one zero-padded float32 batch [B, max n, D]; spans are
    (shard, offset, frames) as load_cache gives them (features, or arrays laid out alike)."""
    x = np.zeros((len(spans), max(n for _, _, n in spans), arrays[0].shape[1]), dtype=np.float32)
    for k, (shard, off, n) in enumerate(spans):
        x[k, :n] = arrays[shard][off:off + n]
    return x


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path, help="cache folder (default work/feats/<manifest stem>)")
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--stats", action="store_true", help="also write stats.npz (training set)")
    p.add_argument("--stack", type=int, default=STACK, help="fbank frames per model frame")
    p.add_argument("--subsample", type=int, default=SUBSAMPLE, help="fbank frames between model frames")
    a = p.parse_args(argv)
    if a.stack < 1 or a.subsample < 1:
        p.error("--stack and --subsample must be at least 1 (as the contract requires)")
    out = a.out or RECIPE_DIR / "work" / "feats" / a.manifest.stem
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    compute(a.manifest, out, a.shards, a.procs, a.stats, a.stack, a.subsample)


if __name__ == "__main__":
    main(sys.argv[1:])
