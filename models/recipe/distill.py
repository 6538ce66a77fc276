"""Frame-level knowledge distillation: the teacher's posteriors, cached, and the KL loss.

Why cached: the teacher (a trained dense model) sees the clean features in eval mode, so its
log-posteriors are the same in every epoch; computing them once per feature cache saves a
teacher forward pass per batch, a third of a dense teacher's own training cost, for every
epoch of the compact student (train.py --teacher).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from features import length_groups, load_cache, padded
from model import VOCAB, AcousticModel


@torch.no_grad()
def teacher_posteriors(teacher: AcousticModel, feat_dir: Path, out_dir: Path, key: str,
                       max_frames: int) -> list[np.ndarray]:
    """The teacher's log-posteriors of every frame of feat_dir, float16 [frames, vocab] per
    shard at the features' offsets. Written once per shard (atomically) and reused while
    out_dir/teacher.json holds the same key (teacher checkpoint and feature cache)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = out_dir / "teacher.json"
    if not meta.exists() or json.loads(meta.read_text()).get("key") != key:
        for old in out_dir.glob("shard_*.npy"):
            old.unlink()
        meta.write_text(json.dumps({"key": key}))
    teacher.eval()
    shards, utts = load_cache(feat_dir)
    arrays = []
    for k, shard in enumerate(shards):
        path = out_dir / f"shard_{k:02d}.npy"
        if not path.exists():
            t0 = time.time()
            out = np.zeros((shard.shape[0], len(VOCAB)), dtype=np.float16)
            rows = [u for u in utts if u[1] == k]
            for group in length_groups([u[3] for u in rows], max_frames):
                batch = [rows[g] for g in group]
                x = padded(shards, [(s, off, n) for _, s, off, n, _ in batch])
                lp, _ = teacher(torch.from_numpy(x), torch.tensor([u[3] for u in batch]))
                for b, (_, _, off, n, _) in enumerate(batch):
                    out[off:off + n] = lp[b, :n].numpy()
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, out)
            tmp.replace(path)
            print(f"teacher posteriors: shard {k + 1}/{len(shards)} ({shard.shape[0]} frames) "
                  f"in {time.time() - t0:.0f} s", flush=True)
        arrays.append(np.load(path, mmap_mode="r"))
    return arrays


def distillation(student: torch.Tensor, teacher: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) summed over the valid frames, per utterance (CTC's scale)."""
    valid = (torch.arange(student.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
    kl = (teacher.exp() * (teacher - student)).masked_fill(~valid, 0.0)
    return kl.sum() / student.shape[0]
