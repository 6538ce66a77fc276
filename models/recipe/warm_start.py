"""Start a teacher from a shipped dense model: read models/NAME/model.onnx (export_onnx.py's
graph) back into a train.py checkpoint (`train.py --init`), optionally widened.

Why: checkpoints are never committed and a new machine comes with an empty cache, but the
shipped ONNX holds every weight. Starting a teacher on a new corpus from the shipped dense
model keeps what it learnt over earlier sessions instead of training from scratch; widening
it (`--hidden`) gives a bigger teacher that starts as exactly the shipped model's function.

The exporter folded CMVN into layer 0 (compact_onnx.folded_cmvn: W diag(inv_std), b - W
(mean * inv_std)); this undoes it for the new corpus's statistics, so the model computes the
same function while its inputs are normalised the way train.py normalises them:
W' = W_folded diag(std), b' = b_folded + W_folded mean.

Widening (`widen`) keeps every old unit's weights, gives the new units fresh random incoming
weights (PyTorch's LSTM initialisation) and zero outgoing ones (into the old units of the
same and the next layer, and into the output layer): the old units never see the new ones, so
the widened model computes the same log-probabilities until training moves the zeros.

  python warm_start.py ../baseline/model.onnx --stats work/feats_v2/train/stats.npz \\
      --hidden 384 --out work/v2/teacher_init.pt
"""
from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from export_onnx import TORCH_TO_ONNX_GATES
from model import VOCAB, AcousticModel

ONNX_TO_TORCH_GATES = [TORCH_TO_ONNX_GATES.index(g) for g in range(4)]


def torch_gates(w: np.ndarray, hidden: int) -> np.ndarray:
    """Reorder the 4 gate blocks along axis 0 from ONNX (i, o, f, c) to PyTorch (i, f, g, o)."""
    blocks = w.reshape(4, hidden, *w.shape[1:])
    return np.ascontiguousarray(blocks[ONNX_TO_TORCH_GATES].reshape(w.shape))


def dense_from_onnx(onnx_path: Path, mean: np.ndarray, std: np.ndarray) -> AcousticModel:
    """The dense AcousticModel an export_onnx.py graph holds, with CMVN (mean, std)."""
    toml = tomllib.loads((onnx_path.parent / "model.toml").read_text())
    if toml["model"].get("variant", "dense") != "dense":
        raise ValueError(f"{onnx_path}: only dense models can be read back (variant "
                         f"{toml['model']['variant']})")
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64)
             for t in onnx.load(str(onnx_path)).graph.initializer}
    layers = sum(1 for name in inits if name.endswith("_R"))
    hidden = inits["lstm0_R"].shape[-1]
    feats, frames = toml["features"], toml["frames"]
    model = AcousticModel(input_dim=inits["lstm0_W"].shape[-1], hidden=hidden, layers=layers,
                          vocab=len(VOCAB), num_mel_bins=feats["num_mel_bins"],
                          stack=frames["stack"], subsample=frames["subsample"])
    model.set_cmvn(mean, std)
    state = model.state_dict()
    for k in range(layers):
        w, r, b = inits[f"lstm{k}_W"][0], inits[f"lstm{k}_R"][0], inits[f"lstm{k}_B"][0]
        b_ih, b_hh = b[:4 * hidden], b[4 * hidden:]
        if k == 0:  # unfold CMVN: W' = W diag(std), b' = b + W mean
            b_ih = b_ih + w @ mean.astype(np.float64)
            w = w * std.astype(np.float64)
        for name, value in ((f"weight_ih_l{k}", w), (f"weight_hh_l{k}", r),
                            (f"bias_ih_l{k}", b_ih), (f"bias_hh_l{k}", b_hh)):
            state[f"rnn.{name}"] = torch.from_numpy(torch_gates(value, hidden)).float()
    state["output.weight"] = torch.from_numpy(inits["out_W"].T.copy()).float()
    state["output.bias"] = torch.from_numpy(inits["out_b"]).float()
    model.load_state_dict(state)
    return model.eval()


def widen(model: AcousticModel, hidden: int) -> AcousticModel:
    """The same dense model with `hidden` units per layer, computing the same function."""
    n = model.hidden
    if hidden < n:
        raise ValueError(f"cannot widen {n} units to {hidden}")
    cfg = dict(model.config, hidden=hidden)
    wide = AcousticModel(**cfg)
    state = wide.state_dict()
    old = model.state_dict()
    for name in ("cmvn_mean", "cmvn_inv_std"):
        state[name] = old[name].clone()

    def gates(w: torch.Tensor) -> torch.Tensor:  # [4n, ...] -> [4, n, ...]
        return w.view(4, -1, *w.shape[1:])

    with torch.no_grad():
        for k in range(model.layers):
            for kind in ("ih", "hh"):
                new, w = gates(state[f"rnn.weight_{kind}_l{k}"]), gates(old[f"rnn.weight_{kind}_l{k}"])
                cols = w.shape[2]
                new[:, :n, :cols] = w
                new[:, :n, cols:] = 0  # the old units read no new unit
                b_new = gates(state[f"rnn.bias_{kind}_l{k}"])
                b_new[:, :n] = gates(old[f"rnn.bias_{kind}_l{k}"])
        state["output.weight"].zero_()
        state["output.weight"][:, :n] = old["output.weight"]
        state["output.bias"] = old["output.bias"].clone()
    wide.load_state_dict(state)
    return wide.eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("onnx", type=Path, help="a dense model.onnx (its model.toml beside it)")
    p.add_argument("--stats", type=Path, required=True, help="the new corpus's stats.npz (features.py --stats)")
    p.add_argument("--hidden", type=int, default=0, help="widen every layer to this many units")
    p.add_argument("--out", type=Path, required=True, help="checkpoint for train.py --init")
    a = p.parse_args()
    stats = np.load(a.stats)
    model = dense_from_onnx(a.onnx, stats["mean"], stats["std"])
    if a.hidden:
        model = widen(model, a.hidden)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(model=model.state_dict(), config=model.config, epoch=0, history=[],
                    source=str(a.onnx)), a.out)
    print(f"{a.onnx} -> {a.out}: {model.layers}x{model.hidden} dense")


if __name__ == "__main__":
    main()
