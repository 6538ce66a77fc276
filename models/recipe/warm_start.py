"""Start training from a shipped model: read models/NAME/model.onnx (export_onnx.py's dense
graph or compact_onnx.py's structured one) back into a train.py checkpoint (`train.py
--init`); a dense model can also be widened.

Why: checkpoints are never committed and a new machine comes with an empty cache, but the
shipped ONNX holds every weight. Starting a teacher, or the shipped hybrid itself, on a new
corpus from the shipped model keeps what it learnt over earlier sessions instead of training
from scratch; widening a dense model (`--hidden`) gives a bigger teacher that starts as
exactly the shipped model's function, and `--dense` makes a compact model the dense one of
the same function (a teacher that starts from the shipped hybrid).

The exporter folded CMVN into layer 0 (compact_onnx.folded_cmvn: W diag(inv_std), b - W
(mean * inv_std)); this undoes it for the new corpus's statistics, so the model computes the
same function while its inputs are normalised the way train.py normalises them:
W' = W_folded diag(std), b' = b_folded + W_folded mean.
A Toeplitz-like first layer cannot absorb a column scale (its generators stay structured), so
the exporter kept the scale apart (`col_scale`, the model's inv_std): the model read back keeps
that inv_std and only the mean moves into the bias.

The structured graph is read by walking it in the order compact_onnx.build_compact_graph
writes its constants (per layer: input factors, col_scale, bias, recurrent factors,
projection; then the output layer), matching them by their name hints.

Widening (`widen`) keeps every old unit's weights, gives the new units fresh random incoming
weights (PyTorch's LSTM initialisation) and zero outgoing ones (into the old units of the
same and the next layer, and into the output layer): the old units never see the new ones, so
the widened model computes the same log-probabilities until training moves the zeros.

  python warm_start.py ../baseline/model.onnx --stats work/feats_v2/train/stats.npz \\
      --hidden 384 --out work/v2/teacher_init.pt
"""
from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from export_onnx import TORCH_TO_ONNX_GATES
from compact import SHARED, LowRank, SharedLowRank, ToeplitzLike
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


# The hints compact_onnx gives the weight constants it writes (GraphBuilder.const).
WEIGHT_HINTS = ("v_t", "u_t", "gen_g", "gen_h", "col_scale", "b", "p_t", "out_W", "out_b")


def compact_from_onnx(onnx_path: Path, mean: np.ndarray, std: np.ndarray) -> AcousticModel:
    """The compact AcousticModel a compact_onnx.py graph (Toeplitz mat-vec "dense") holds.

    A low-rank first layer takes the new CMVN (mean, std) as the dense reader does; a
    Toeplitz-like one keeps the exported inv_std and takes the new mean. Either way the model
    computes the exported function."""
    toml = tomllib.loads((onnx_path.parent / "model.toml").read_text())
    m = toml["model"]
    if m.get("variant", "dense") == "dense":
        raise ValueError(f"{onnx_path}: a dense model; use dense_from_onnx")
    if m.get("toeplitz_matvec", "dense") != "dense":
        raise ValueError(f"{onnx_path}: only toeplitz_matvec = \"dense\" graphs store the generators")
    feats, frames = toml["features"], toml["frames"]
    model = AcousticModel(input_dim=feats["num_mel_bins"] * frames["stack"],
                          hidden=toml["state"][0]["shape"][-1], layers=toml["state"][0]["shape"][0],
                          vocab=len(VOCAB), num_mel_bins=feats["num_mel_bins"], stack=frames["stack"],
                          subsample=frames["subsample"], arch=m["variant"], rank=m.get("rank", 0),
                          displacement_rank=m.get("displacement_rank", 0),
                          toeplitz_layers=m.get("toeplitz_layers", 0))
    # Names are PREFIX HINT _ COUNT; a Scan body's constants carry its prefix "l<layer>_".
    consts = [(re.sub(r"^l\d+_", "", t.name.rsplit("_", 1)[0]), numpy_helper.to_array(t))
              for t in onnx.load(str(onnx_path)).graph.initializer]
    consts = [(hint, a) for hint, a in consts if hint in WEIGHT_HINTS]
    pos = 0

    def take(hint: str) -> np.ndarray:
        nonlocal pos
        if pos >= len(consts) or consts[pos][0] != hint:
            found = consts[pos][0] if pos < len(consts) else "the end"
            raise ValueError(f"{onnx_path}: expected a {hint!r} constant, found {found} "
                             f"(not a graph of this compact_onnx.py)")
        pos += 1
        return consts[pos - 1][1].astype(np.float64)

    def read(w, first: bool) -> np.ndarray | None:
        """Fill w's factors; returns the column scale a Toeplitz-like first layer kept."""
        if isinstance(w, LowRank):
            w.v.data = torch.from_numpy(take("v_t").T.copy()).float()
            w.u.data = torch.from_numpy(take("u_t").T.copy()).float()
        elif isinstance(w, SharedLowRank):
            w.u.data = torch.from_numpy(take("u_t").T.copy()).float()
        elif isinstance(w, ToeplitzLike):
            for row in range(w.row_blocks):
                for col in range(w.k):
                    for j in range(w.rank):
                        w.g.data[row, col, j] = torch.from_numpy(take("gen_g"))
                        w.h.data[row, col, j] = torch.from_numpy(take("gen_h"))
            return take("col_scale").reshape(-1) if first else None
        return None

    stack = model.rnn
    mean = np.asarray(mean, np.float64)
    with torch.no_grad():
        for l, kind in enumerate(stack.kinds):
            scale = read(stack.w_x[l], l == 0)
            bias = take("b")
            if l == 0:
                if scale is None:   # low-rank V absorbs the new std: V' = V_folded diag(std)
                    scale = 1.0 / np.asarray(std, np.float64)
                    w_folded = stack.w_x[0].weight().double().numpy()
                    stack.w_x[0].v.data *= torch.from_numpy(np.asarray(std, np.float32))
                else:
                    w_folded = stack.w_x[0].weight().double().numpy() * scale
                bias = bias + w_folded @ mean   # b' = b_folded + W_folded mean
                model.cmvn_mean.copy_(torch.from_numpy(mean))
                model.cmvn_inv_std.copy_(torch.from_numpy(scale))
            stack.b[l].data = torch.from_numpy(bias).float()
            read(stack.w_h[l], False)
            if kind == SHARED:
                stack.projections[str(l)].p.data = torch.from_numpy(take("p_t").T.copy()).float()
        model.output.weight.data = torch.from_numpy(take("out_W").T.copy()).float()
        model.output.bias.data = torch.from_numpy(take("out_b")).float()
    if pos != len(consts):
        raise ValueError(f"{onnx_path}: {len(consts) - pos} weight constants left unread")
    return model.eval()


def densify(model: AcousticModel) -> AcousticModel:
    """The dense AcousticModel computing a compact model's function: each layer's W_x, W_h
    materialised from its factors. Why: a teacher started from the shipped hybrid begins at
    the hybrid's accuracy with all of a dense layer's capacity free to learn beyond it."""
    if model.arch == "dense":
        return model
    cfg = {k: v for k, v in model.config.items()
           if k not in ("arch", "rank", "displacement_rank", "toeplitz_layers")}
    dense = AcousticModel(**cfg)
    state = dense.state_dict()
    stack, own = model.rnn, model.state_dict()
    with torch.no_grad():
        for name in ("cmvn_mean", "cmvn_inv_std", "output.weight", "output.bias"):
            state[name] = own[name].clone()
        for k in range(model.layers):  # both use PyTorch's gate order (i, f, g, o)
            state[f"rnn.weight_ih_l{k}"] = stack.w_x[k].weight().detach().clone()
            state[f"rnn.weight_hh_l{k}"] = stack.w_h[k].weight().detach().clone()
            state[f"rnn.bias_ih_l{k}"] = stack.b[k].detach().clone()
            state[f"rnn.bias_hh_l{k}"] = torch.zeros_like(stack.b[k])
    dense.load_state_dict(state)
    return dense.eval()


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
    p.add_argument("onnx", type=Path, help="a shipped model.onnx (its model.toml beside it)")
    p.add_argument("--stats", type=Path, required=True, help="the new corpus's stats.npz (features.py --stats)")
    p.add_argument("--dense", action="store_true",
                   help="a compact model becomes the dense model of the same function (a teacher)")
    p.add_argument("--hidden", type=int, default=0,
                   help="widen every layer to this many units (dense models, or with --dense)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint for train.py --init")
    a = p.parse_args()
    stats = np.load(a.stats)
    variant = tomllib.loads((a.onnx.parent / "model.toml").read_text())["model"].get("variant", "dense")
    read = dense_from_onnx if variant == "dense" else compact_from_onnx
    model = read(a.onnx, stats["mean"], stats["std"])
    if a.dense:
        model = densify(model)
    if a.hidden and model.arch != "dense":
        raise SystemExit("--hidden widens dense models only (add --dense)")
    if a.hidden:
        model = widen(model, a.hidden)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(model=model.state_dict(), config=model.config, epoch=0, history=[],
                    source=str(a.onnx)), a.out)
    print(f"{a.onnx} -> {a.out}: {model.layers}x{model.hidden} {model.arch}")


if __name__ == "__main__":
    main()
