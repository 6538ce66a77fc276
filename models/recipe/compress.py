"""Compress a trained dense LSTM checkpoint into low-rank or shared low-rank factors by
truncated SVD (Prabhavalkar et al. 2016), or into Toeplitz-like / hybrid layers by a least-squares
fit of their generators; optionally fine-tune, export and report the WER change.

Why: users who bring their own dense LSTM get most of the compression without training a
compact model from scratch; the factors have exactly the structure compact.py trains, so the
result fine-tunes with train.py (--init) and exports with export_onnx.py like any compact model.

  * lowrank: every W_x^l and W_h^l ~= U V (rank r, U = U_r S_r^1/2, V = S_r^1/2 V_r^T).
  * shared-lowrank: layer l's recurrent matrix and layer l+1's input matrix are stacked,
    [W_h^l; W_x^(l+1)] ~= [U_h^l; U_x^(l+1)] P_l, so P_l is the shared projection; the top
    layer's W_h alone gives P_top; layer 0's input matrix is a plain low-rank pair.
  * toeplitz / hybrid: each Toeplitz-like matrix's generators are fitted to the dense one
    (`fit_toeplitz`); a hybrid's shared layers above them are factorised as above (the first
    shared layer's input matrix is a plain low-rank pair). The compact-model sweep
    (compact_sweep.sh) starts every variant this way from the baseline.
  * --energy e picks, for each matrix (or stacked pair), the smallest rank keeping a fraction e
    of sum(s_i^2); the model uses the largest of those ranks (one rank per model, as compact.py).
nn.LSTM's two biases are summed into the compact layer's one.

  python compress.py work/exp/best.pt --arch lowrank --rank 64 --out work/compress/lowrank_r64
  python compress.py work/exp/best.pt --arch shared-lowrank --energy 0.9 --out work/compress/shared_e90 \\
      --finetune-epochs 4 --train work/feats/train --dev work/feats/dev \\
      --export ../shared_svd --reference-manifest work/manifests/test.tsv \\
      --baseline-onnx ../baseline/model.onnx --eval work/manifests/test.tsv work/manifests/dev.tsv

Writes OUT/compressed.pt (loadable by export_onnx.py and train.py --init), OUT/finetune/ when
fine-tuning, and prints parameter counts and, with --eval, WER/CER before and after.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

from compact import LOWRANK, TOEPLITZ, ToeplitzLike
from export_onnx import load_model
from model import AcousticModel, count_parameters, lstm_parameters


def truncated_svd(w: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W [rows, cols] ~= U [rows, r] @ V [r, cols] (singular values split evenly); also returns
    all singular values. A rank above min(rows, cols) is padded with zero factors (exact W)."""
    u, s, vh = torch.linalg.svd(w.double(), full_matrices=False)
    root = s[:rank].sqrt()
    u, v = u[:, :rank] * root, root[:, None] * vh[:rank]
    extra = rank - root.numel()
    if extra > 0:
        u = torch.nn.functional.pad(u, (0, extra))
        v = torch.nn.functional.pad(v, (0, 0, 0, extra))
    return u.float(), v.float(), s


def rank_for_energy(s: torch.Tensor, energy: float) -> int:
    """Smallest r whose leading singular values keep at least `energy` of sum(s_i^2)."""
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    kept = torch.cumsum(s.double() ** 2, 0) / (s.double() ** 2).sum()
    return int(torch.searchsorted(kept, torch.tensor(energy, dtype=torch.float64) - 1e-12)) + 1


def dense_layers(model: AcousticModel) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(W_x, W_h, b) per layer of a dense model, b = b_ih + b_hh."""
    rnn = model.rnn
    return [(getattr(rnn, f"weight_ih_l{k}").detach(), getattr(rnn, f"weight_hh_l{k}").detach(),
             (getattr(rnn, f"bias_ih_l{k}") + getattr(rnn, f"bias_hh_l{k}")).detach())
            for k in range(model.layers)]


def factor_targets(layers, arch: str) -> list[torch.Tensor]:
    """The matrices the SVD factorises, in the order `compress` consumes them."""
    if arch == "lowrank":
        return [w for w_x, w_h, _ in layers for w in (w_x, w_h)]
    n = layers[0][1].shape[1]
    out = [layers[0][0]]  # layer 0's own input pair
    for l, (_, w_h, _) in enumerate(layers):
        out.append(torch.cat([w_h, layers[l + 1][0]]) if l + 1 < len(layers) else w_h)
    assert all(t.shape[1] == n for t in out[1:])
    return out


def choose_rank(model: AcousticModel, arch: str, energy: float) -> tuple[int, list[int]]:
    ranks = [rank_for_energy(torch.linalg.svdvals(t.double()), energy)
             for t in factor_targets(dense_layers(model), arch)]
    return max(ranks), ranks


def fit_toeplitz(module: ToeplitzLike, w: torch.Tensor, steps: int, seed: int = 0) -> None:
    """Fit a Toeplitz-like matrix's generators to the dense `w` (least squares, Adam).

    Why not closed form: truncating the SVD of w's displacement gives generators too, but not
    the best Frobenius fit; a few hundred Adam steps on the generators do better and take
    seconds. A displacement-rank-r matrix keeps little of a trained dense matrix's energy
    (about 16% at r = 4 for the baseline's 256 x 256 blocks): it is a starting point that
    fine-tuning must finish, unlike an SVD, which keeps most of it."""
    torch.manual_seed(seed)
    with torch.no_grad():
        scale = float(w.pow(2).mean().sqrt()) / max(float(module.weight().pow(2).mean().sqrt()), 1e-12)
        module.g.mul_(scale ** 0.5)
        module.h.mul_(scale ** 0.5)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        loss = (module.weight() - w).pow(2).sum()
        loss.backward()
        opt.step()


def compress(model: AcousticModel, arch: str, rank: int, displacement_rank: int = 0,
             toeplitz_layers: int = 0, fit_steps: int = 400) -> tuple[AcousticModel, float]:
    """The compact model closest to the dense `model`, and the fraction of the LSTM weights'
    total energy (sum of squares) it keeps: low-rank and shared factors are truncated SVDs
    (the optimum), Toeplitz-like generators are fitted by least squares (`fit_toeplitz`)."""
    if model.arch != "dense":
        raise ValueError(f"compress takes a dense model, got {model.arch}")
    cfg = {k: v for k, v in model.config.items()}
    out = AcousticModel(**cfg, arch=arch, rank=rank, displacement_rank=displacement_rank,
                        toeplitz_layers=toeplitz_layers).eval()
    layers = dense_layers(model)
    stack, n, kinds = out.rnn, model.hidden, out.rnn.kinds
    energy = [0.0, 0.0]  # kept, total

    def low_rank(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u, v, s = truncated_svd(target, rank)
        energy[0] += float((s[:rank] ** 2).sum())
        energy[1] += float((s ** 2).sum())
        return u, v

    with torch.no_grad():
        out.cmvn_mean.copy_(model.cmvn_mean)
        out.cmvn_inv_std.copy_(model.cmvn_inv_std)
        out.output.load_state_dict(model.output.state_dict())
        for l, (w_x, w_h, b) in enumerate(layers):
            stack.b[l].copy_(b)
            if kinds[l] == TOEPLITZ:
                for module, w in ((stack.w_x[l], w_x), (stack.w_h[l], w_h)):
                    with torch.enable_grad():
                        fit_toeplitz(module, w, fit_steps, seed=l)
                    energy[0] += float(w.pow(2).sum() - (module.weight() - w).pow(2).sum())
                    energy[1] += float(w.pow(2).sum())
                continue
            if kinds[l] == LOWRANK:
                for module, w in ((stack.w_x[l], w_x), (stack.w_h[l], w_h)):
                    u, v = low_rank(w)
                    module.u.copy_(u)
                    module.v.copy_(v)
                continue
            # SHARED: an unshared input pair unless the layer below shares its projection with us;
            # P_l factorises [W_h^l; W_x^(l+1)] together (W_h^l alone at the top).
            if not stack.input_is_shared(l):
                u, v = low_rank(w_x)
                stack.w_x[l].u.copy_(u)
                stack.w_x[l].v.copy_(v)
            top = l + 1 == len(layers)
            u, p = low_rank(w_h if top else torch.cat([w_h, layers[l + 1][0]]))
            stack.projections[str(l)].p.copy_(p)
            stack.w_h[l].u.copy_(u[:4 * n])
            if not top:
                stack.w_x[l + 1].u.copy_(u[4 * n:])
    return out, energy[0] / energy[1]


def save_checkpoint(model: AcousticModel, path: Path, source: Path, extra: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(model=model.state_dict(), config=model.config, epoch=0, history=[],
                    args=dict(compressed_from=str(source), **extra)), path)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="dense checkpoint (train.py's best.pt)")
    p.add_argument("--arch", choices=["lowrank", "shared-lowrank", "toeplitz", "hybrid"], required=True)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--rank", type=int, default=0)
    how.add_argument("--energy", type=float, help="keep this fraction of each matrix's sum(s^2) "
                     "(lowrank, shared-lowrank)")
    p.add_argument("--displacement-rank", type=int, default=0, help="of the Toeplitz-like layers")
    p.add_argument("--toeplitz-layers", type=int, default=0, help="hybrid: Toeplitz-like bottom layers")
    p.add_argument("--fit-steps", type=int, default=400, help="Adam steps fitting Toeplitz-like generators")
    p.add_argument("--out", type=Path, required=True, help="folder for compressed.pt (and finetune/)")
    p.add_argument("--finetune-epochs", type=int, default=0)
    p.add_argument("--train", type=Path, help="feature cache (fine-tuning)")
    p.add_argument("--dev", type=Path, help="feature cache (fine-tuning)")
    p.add_argument("--lr", type=float, default=4e-4, help="fine-tuning peak learning rate")
    p.add_argument("--teacher", type=Path, help="fine-tune by distilling from this checkpoint too "
                   "(train.py --teacher), e.g. the dense checkpoint itself")
    p.add_argument("--kd-weight", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=2, help="fine-tuning threads")
    p.add_argument("--export", type=Path, help="model folder to export the result to")
    p.add_argument("--name", default=None, help="model name in model.toml (default: folder name)")
    p.add_argument("--reference-manifest", type=Path, help="export's reference utterance source")
    p.add_argument("--baseline-onnx", type=Path, help="the dense model.onnx, evaluated alongside")
    p.add_argument("--eval", type=Path, nargs="*", default=[], help="manifests to evaluate (WER)")
    a = p.parse_args(argv)
    torch.set_num_threads(2)

    dense = load_model(a.checkpoint)
    if a.energy is not None:
        if a.arch not in ("lowrank", "shared-lowrank"):
            sys.exit("--energy picks a rank for lowrank or shared-lowrank models")
        rank, ranks = choose_rank(dense, a.arch, a.energy)
        print(f"energy {a.energy}: per-matrix ranks {ranks} -> rank {rank}")
    else:
        rank = a.rank
    model, kept = compress(dense, a.arch, rank, a.displacement_rank, a.toeplitz_layers, a.fit_steps)
    print(f"{a.arch} rank {rank} displacement rank {a.displacement_rank}: keeps {100 * kept:.2f}% of the LSTM weights' energy; LSTM parameters "
          f"{lstm_parameters(dense)} -> {lstm_parameters(model)} "
          f"({100 * lstm_parameters(model) / lstm_parameters(dense):.1f}%), total "
          f"{count_parameters(dense)} -> {count_parameters(model)}", flush=True)
    ck = a.out / "compressed.pt"
    save_checkpoint(model, ck, a.checkpoint, dict(arch=a.arch, rank=rank, energy=a.energy,
                                                   displacement_rank=a.displacement_rank,
                                                   toeplitz_layers=a.toeplitz_layers))
    print(f"wrote {ck}")

    if a.finetune_epochs:
        if a.train is None or a.dev is None:
            sys.exit("--finetune-epochs needs --train and --dev")
        exp = a.out / "finetune"
        cmd = [sys.executable, str(Path(__file__).with_name("train.py")), "--train", str(a.train),
               "--dev", str(a.dev), "--exp", str(exp), "--epochs", str(a.finetune_epochs),
               "--layers", str(model.layers), "--hidden", str(model.hidden), "--arch", a.arch,
               "--rank", str(rank), "--displacement-rank", str(a.displacement_rank),
               "--toeplitz-layers", str(a.toeplitz_layers), "--init", str(ck), "--lr", str(a.lr),
               "--warmup", "50", "--threads", str(a.threads)]
        if a.teacher is not None:
            cmd += ["--teacher", str(a.teacher), "--kd-weight", str(a.kd_weight)]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        ck = exp / "best.pt"

    if a.export:
        if a.reference_manifest is None:
            sys.exit("--export needs --reference-manifest")
        import export_onnx
        export_onnx.main([str(ck), "--out", str(a.export), "--name", a.name or a.export.name,
                          "--reference-manifest", str(a.reference_manifest)])
        if a.eval:
            from evaluate import evaluate
            for m in a.eval:
                after, _, _ = evaluate(a.export / "model.onnx", m, 2, 0)
                line = f"{m.parent.name}/{m.name}: compressed WER {100 * after.wer:.2f}% CER {100 * after.cer:.2f}%"
                if a.baseline_onnx is not None:
                    before, _, _ = evaluate(a.baseline_onnx, m, 2, 0)
                    line += (f"; dense WER {100 * before.wer:.2f}% CER {100 * before.cer:.2f}%; change "
                             f"{100 * (after.wer - before.wer):+.2f} WER, {100 * (after.cer - before.cer):+.2f} CER")
                print(line, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
