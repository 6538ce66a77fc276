"""Train the LSTM-CTC acoustic model on cached features (see features.py).

Why it looks like this: the machine has 2 CPU cores and a fixed wall-clock budget, so
batches are length-sorted buckets (little padding), the learning-rate schedule is a
function of the global step (resuming reproduces it), every epoch writes a resumable
checkpoint, and the best epoch by validation WER is kept for export. Validation uses
training sentences held out of training (synthetic, like the held-out-voice test set, which
is never looked at here); the real-speech dev set is decoded and reported alongside.

  python train.py --train work/feats/train --dev work/feats/dev --exp work/exp --epochs 28
  python train.py ... --arch hybrid --toeplitz-layers 2 --displacement-rank 4 --rank 64

`--arch` picks the recurrent structure (compact.py); dense is the nn.LSTM baseline.
`--teacher CKPT --kd-weight W` adds frame-level knowledge distillation: the loss becomes
(1 - W) CTC + W KL(teacher || student) per frame, the teacher (a trained model, usually the
dense baseline) seeing the clean features while the student sees SpecAugmented ones. Why: a
compact model started from a projection of the dense one (compress.py) recovers far faster
by matching the teacher's posteriors frame by frame than from the CTC loss alone, and both
share the frame rate, so the frames align. The teacher runs once, before the first epoch:
its log-posteriors (deterministic: eval mode, clean features) are cached in --exp/teacher/
as float16 shards parallel to the feature shards, which saves a teacher forward pass per
batch (a third of a dense teacher's training cost) in every epoch.

Outputs in --exp: last.pt (resume point, also written every --checkpoint-minutes within an
epoch: an epoch of the v2 corpus takes ~25 min and a session's end kills the job), best.pt
(best validation WER), log lines on stdout.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from features import length_groups, load_cache, padded, read_frames_config
from metrics import ErrorRate
from compact import ARCHS
from corpus.build import EXTRA_IDX0, KOKORO_IDX0
from distill import distillation, teacher_posteriors
from model import AcousticModel, count_parameters, encode_text, greedy_decode, lstm_parameters


class Corpus:
    """Cached utterances with their token ids, read from memory-mapped shards."""

    def __init__(self, feat_dir: Path, keep=lambda uid: True):
        self.shards, utts = load_cache(feat_dir)
        self.utts, self.dropped = [], 0
        for uid, shard, off, n, text in utts:
            if not keep(uid):
                continue
            ids = encode_text(text)
            # CTC needs a frame per label plus a blank between repeated labels.
            need = len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))
            if need > n:
                self.dropped += 1
                continue
            self.utts.append((uid, shard, off, n, text, ids))
        # The teacher's cached log-posteriors (distill.teacher_posteriors), when distilling.
        self.teacher: list[np.ndarray] | None = None

    def frames(self) -> int:
        return sum(u[3] for u in self.utts)

    def batch(self, idx: list[int]):
        """Padded float32 features [B, T, D], lengths, concatenated targets, target lengths."""
        rows = [self.utts[i] for i in idx]
        lengths = torch.tensor([r[3] for r in rows])
        targets = torch.tensor([i for r in rows for i in r[5]])
        target_lengths = torch.tensor([len(r[5]) for r in rows])
        return self._padded(self.shards, rows), lengths, targets, target_lengths, [r[4] for r in rows]

    def teacher_batch(self, idx: list[int]) -> torch.Tensor:
        """The cached teacher log-posteriors of a batch, padded like batch()'s features."""
        assert self.teacher is not None, "no teacher posteriors were loaded"
        return self._padded(self.teacher, [self.utts[i] for i in idx])

    @staticmethod
    def _padded(arrays: list[np.ndarray], rows) -> torch.Tensor:
        return torch.from_numpy(padded(arrays, [(shard, off, n) for _, shard, off, n, _, _ in rows]))


def make_batches(corpus: Corpus, max_frames: int, max_utts: int, seed: int) -> list[list[int]]:
    """Length-sorted buckets (padded frames <= max_frames), shuffled in a seeded order."""
    rng = random.Random(seed)
    order = sorted(range(len(corpus.utts)), key=lambda i: (corpus.utts[i][3], rng.random()))
    batches, cur = [], []
    for i in order:
        n = corpus.utts[i][3]
        if cur and (n * (len(cur) + 1) > max_frames or len(cur) >= max_utts):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


# One in 80 of corpus v2's Kokoro sentences (~100 of 8,000).
KOKORO_HOLDOUT_EVERY = 80


def held_out_ids(train_cache: Path, count: int, seed: int) -> set[str]:
    """The clean training utterances held out of training to choose checkpoints by (their
    '-aug' copies are left out too): `count` drawn from the first corpus (utterance index
    below EXTRA_IDX0, where the extension's ids start) and one in KOKORO_HOLDOUT_EVERY of the
    Kokoro sentences (corpus v2), chosen by a hash of the id. Growing the corpus must not
    move sentences between the held-out set and training, or runs resumed on the grown corpus
    would be scored on sentences they were trained on: the first corpus never grows, and a
    hash keeps each Kokoro sentence's side fixed however many are drawn.
    tune_decoder.py tunes the LM weights on them."""
    clean = sorted(uid for uid, *_ in load_cache(train_cache)[1] if not uid.endswith("-aug"))
    index = lambda uid: int(uid.rsplit("-", 1)[1])
    first = [uid for uid in clean if index(uid) < EXTRA_IDX0]
    kokoro = {uid for uid in clean if index(uid) >= KOKORO_IDX0
              and zlib.crc32(uid.encode()) % KOKORO_HOLDOUT_EVERY == 0}
    return set(random.Random(seed).sample(first, min(count, len(first) // 10))) | kokoro


def learning_rate(step: int, total: int, peak: float, warmup: int, final_ratio: float) -> float:
    """Linear warmup, then cosine decay to peak * final_ratio at the last step."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def validate(model: AcousticModel, corpus: Corpus, idx: list[int], max_frames: int) -> ErrorRate:
    model.eval()
    er = ErrorRate()
    for group in length_groups([corpus.utts[i][3] for i in idx], max_frames):
        x, lengths, _, _, texts = corpus.batch([idx[g] for g in group])
        best = model(x, lengths)[0].argmax(-1)
        for k, text in enumerate(texts):
            er.add(text, greedy_decode(best[k, : lengths[k]].tolist()))
    model.train()
    return er


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, required=True, help="feature cache of the training set")
    p.add_argument("--dev", type=Path, required=True, help="feature cache of the dev set (reported)")
    p.add_argument("--holdout", type=int, default=150,
                   help="clean training utterances (and their '-aug' copies) held out of training; "
                        "the best checkpoint is chosen by WER on them")
    p.add_argument("--exp", type=Path, required=True, help="checkpoint folder")
    p.add_argument("--epochs", type=int, default=28)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.15)
    p.add_argument("--arch", choices=ARCHS, default="dense",
                   help="recurrent structure: dense nn.LSTM or a compact variant (compact.py)")
    p.add_argument("--rank", type=int, default=0, help="rank of low-rank / shared low-rank factors")
    p.add_argument("--displacement-rank", type=int, default=0, help="Toeplitz-like displacement rank")
    p.add_argument("--toeplitz-layers", type=int, default=0,
                   help="hybrid: Toeplitz-like bottom layers (the rest are shared low-rank)")
    p.add_argument("--lr", type=float, default=1.6e-3)
    p.add_argument("--warmup", type=int, default=150, help="warmup steps")
    p.add_argument("--final-lr-ratio", type=float, default=0.05)
    p.add_argument("--batch-frames", type=int, default=4000, help="max padded frames per batch")
    p.add_argument("--batch-utts", type=int, default=32)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--mel-warp", type=float, default=0.0,
                   help="vocal-tract-length-like augmentation: each utterance's mel axis "
                        "stretched by a factor in [1 - w, 1 + w] (model.SpecAugment.warp)")
    p.add_argument("--valid-utts", type=int, default=200, help="dev utterances decoded each epoch")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action="store_true",
                   help="run the forward pass under bfloat16 autocast (fp32 master weights, loss "
                        "and optimiser): 2.3x the frames/s of fp32 on CPUs with AMX")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="also write last.pt this often within an epoch (resumes mid-epoch)")
    p.add_argument("--teacher", type=Path, default=None, help="checkpoint to distil from (frame-level KL)")
    p.add_argument("--kd-weight", type=float, default=0.5, help="weight of the distillation term")
    p.add_argument("--init", type=Path, default=None,
                   help="start from this checkpoint's weights with a fresh optimiser and schedule "
                        "(continues a finished run without replaying its decayed learning rate)")
    a = p.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    np.random.seed(a.seed)
    a.exp.mkdir(parents=True, exist_ok=True)

    held = held_out_ids(a.train, a.holdout, a.seed)
    base_id = lambda uid: uid.removesuffix("-aug")
    train = Corpus(a.train, keep=lambda uid: base_id(uid) not in held)
    valid = Corpus(a.train, keep=lambda uid: uid in held)
    dev = Corpus(a.dev)
    frames_cfg = read_frames_config(a.train)
    if read_frames_config(a.dev) != frames_cfg:
        sys.exit(f"{a.dev} was stacked differently from {a.train}")
    hop_s = frames_cfg["subsample"] * 0.01
    dev_idx = sorted(random.Random(a.seed).sample(range(len(dev.utts)), min(a.valid_utts, len(dev.utts))))
    print(f"train: {len(train.utts)} utts, {train.frames()} frames ({train.frames() * hop_s / 3600:.2f} h, {hop_s * 1000:.0f} ms frames), "
          f"{train.dropped} dropped (too short for CTC); validation: {len(valid.utts)} held-out train "
          f"utts, {len(dev_idx)} dev utts", flush=True)

    stats = np.load(a.train / "stats.npz")
    structure = {} if a.arch == "dense" else dict(
        arch=a.arch, rank=a.rank, displacement_rank=a.displacement_rank, toeplitz_layers=a.toeplitz_layers)
    model = AcousticModel(input_dim=train.shards[0].shape[1], hidden=a.hidden, layers=a.layers,
                          dropout=a.dropout, **structure, **frames_cfg)
    model.set_cmvn(stats["mean"], stats["std"])
    model.specaug.mel_warp = a.mel_warp
    print(f"model: {a.layers}x{a.hidden} {a.arch} LSTM, {count_parameters(model)} parameters "
          f"({lstm_parameters(model)} in the LSTM)", flush=True)
    if a.init is not None and not (a.exp / "last.pt").exists():
        model.load_state_dict(torch.load(a.init, weights_only=False)["model"])
        print(f"initialised from {a.init}", flush=True)
    teacher = None
    if a.teacher is not None:
        ck_t = torch.load(a.teacher, weights_only=False, map_location="cpu")
        teacher = AcousticModel(**ck_t["config"])
        teacher.load_state_dict(ck_t["model"])
        st = a.teacher.stat()
        key = f"{a.teacher.resolve()}:{st.st_size}:{st.st_mtime_ns}:{a.train.resolve()}:" \
              f"{(a.train / 'shard_00.tsv').stat().st_mtime_ns}"
        train.teacher = teacher_posteriors(teacher, a.train, a.exp / "teacher", key, 4 * a.batch_frames)
        print(f"distilling from {a.teacher} (weight {a.kd_weight}, cached posteriors)", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    ctc = torch.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)

    steps_per_epoch = len(make_batches(train, a.batch_frames, a.batch_utts, a.seed))
    # Best = lowest held-out (WER, CER): CER breaks ties while WER is still ~100%.
    start_epoch, step, best, history = 0, 0, (float("inf"), float("inf")), []
    # Within-epoch progress of a mid-epoch checkpoint: batches done and their running sums.
    partial = dict(batch=0, loss=0.0, utts=0, frames=0, seconds=0.0)
    last = a.exp / "last.pt"
    if last.exists():
        ck = torch.load(last, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        start_epoch, step, best, history = ck["epoch"], ck["step"], ck["best"], ck["history"]
        partial = ck.get("partial", partial)
        torch.set_rng_state(ck["torch_rng"])
        print(f"resumed after epoch {start_epoch} + {partial['batch']} batches (step {step}, "
              f"best WER/CER {best[0]:.4f}/{best[1]:.4f})", flush=True)
    # The schedule ends at the last step of the last epoch; a run resumed with another batch
    # size or epoch count re-aims the decay at its new end (a fresh run: steps_per_epoch * epochs).
    total_steps = step + (a.epochs - start_epoch) * steps_per_epoch - partial["batch"]

    def save_last(ck: dict) -> None:
        torch.save(ck, a.exp / "last.tmp")
        (a.exp / "last.tmp").replace(last)

    model.train()
    t_start = time.time()
    done_frames = 0
    t_saved = time.time()
    for epoch in range(start_epoch, a.epochs):
        batches = make_batches(train, a.batch_frames, a.batch_utts, a.seed + epoch)
        skip = partial["batch"]
        t_epoch = time.time() - partial["seconds"]
        ep_loss, ep_utts, ep_frames = partial["loss"], partial["utts"], partial["frames"]
        partial = dict(batch=0, loss=0.0, utts=0, frames=0, seconds=0.0)
        for b, idx in enumerate(batches):
            if b < skip:
                continue
            x, lengths, targets, target_lengths, _ = train.batch(idx)
            lr = learning_rate(step, total_steps, a.lr, a.warmup, a.final_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                log_probs, _ = model(x, lengths)
            loss = ctc(log_probs.transpose(0, 1), targets, lengths, target_lengths) / len(idx)
            if teacher is not None:
                teacher_lp = train.teacher_batch(idx)
                loss = (1 - a.kd_weight) * loss + a.kd_weight * distillation(log_probs, teacher_lp, lengths)
            opt.zero_grad()
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            step += 1
            n = int(lengths.sum())
            ep_loss += loss.item() * len(idx)
            ep_utts += len(idx)
            ep_frames += n
            done_frames += n
            if b % a.log_every == 0 or b == len(batches) - 1:
                el = time.time() - t_start
                fps = done_frames / el
                left = (train.frames() * (a.epochs - epoch) - ep_frames) / fps
                print(f"epoch {epoch + 1}/{a.epochs} batch {b + 1}/{len(batches)} step {step} "
                      f"loss {loss.item():.3f} (epoch avg {ep_loss / ep_utts:.3f}) lr {lr:.2e} "
                      f"|g| {grad_norm:.2f} {fps:.0f} frames/s ETA {left / 60:.1f} min", flush=True)
            if time.time() - t_saved > a.checkpoint_minutes * 60 and b < len(batches) - 1:
                save_last(dict(model=model.state_dict(), opt=opt.state_dict(), epoch=epoch,
                               step=step, best=best, history=history, config=model.config,
                               args=vars(a), torch_rng=torch.get_rng_state(),
                               partial=dict(batch=b + 1, loss=ep_loss, utts=ep_utts,
                                            frames=ep_frames, seconds=time.time() - t_epoch)))
                t_saved = time.time()
        ep_time = time.time() - t_epoch
        er = validate(model, valid, list(range(len(valid.utts))), 4 * a.batch_frames)
        dev_er = validate(model, dev, dev_idx, 4 * a.batch_frames)
        history.append(dict(epoch=epoch + 1, loss=ep_loss / ep_utts, wer=er.wer, cer=er.cer,
                            dev_wer=dev_er.wer, dev_cer=dev_er.cer, seconds=ep_time))
        print(f"epoch {epoch + 1} done in {ep_time / 60:.1f} min: train loss {ep_loss / ep_utts:.3f}, "
              f"held-out WER {er.wer:.4f} CER {er.cer:.4f}, dev WER {dev_er.wer:.4f} "
              f"CER {dev_er.cer:.4f}", flush=True)
        ck = dict(model=model.state_dict(), opt=opt.state_dict(), epoch=epoch + 1, step=step,
                  best=min(best, (er.wer, er.cer)), history=history, config=model.config,
                  args=vars(a), torch_rng=torch.get_rng_state())
        if (er.wer, er.cer) < best:
            best = (er.wer, er.cer)
            torch.save(ck, a.exp / "best.pt")
            print(f"new best (WER {er.wer:.4f}) -> {a.exp / 'best.pt'}", flush=True)
        save_last(ck)
        t_saved = time.time()
    print(f"training finished: {time.time() - t_start:.0f} s this run, best held-out WER/CER "
          f"{best[0]:.4f}/{best[1]:.4f}",
          flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
