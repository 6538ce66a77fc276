"""Export a trained checkpoint to models/NAME/{model.onnx, model.toml, reference/}.

Why hand-built with onnx.helper: the graph is small and fully specified by the contract
(docs/model-contract.md), and building it node by node keeps it independent of
torch.onnx's exporter. One ONNX `LSTM` op per layer (layout 0) runs in both tract and
onnxruntime; its state is sliced from / concatenated into the `h_in`/`c_in` ->
`h_out`/`c_out` tensors the server carries between chunks.

The script checks its own output with onnxruntime before returning:
whole-utterance ONNX == PyTorch == the explicit LstmLayer cells, and uneven chunks carrying
state (and a batch of 2) == whole (max |diff| < 1e-4).

Compact models (compact.py: low-rank, shared low-rank, Toeplitz-like, hybrid) are built by
compact_onnx.py instead: a Scan per layer with the structured products, the same I/O and the
same checks (the explicit cells are then the step-by-step structured products).
`--toeplitz-matvec fft|dense` picks how Toeplitz-like layers run, recorded in model.toml.

  python export_onnx.py work/exp/best.pt --out ../baseline --name baseline \
      --reference-manifest work/manifests/test.tsv
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper

import features as F
from compact_onnx import (TOEPLITZ_MATVECS, build_compact_graph, folded_cmvn, streaming_model,
                          uses_toeplitz)
from model import VOCAB, AcousticModel, count_parameters, lstm_parameters

OPSET = 17
TOLERANCE = 1e-4
# PyTorch stacks LSTM gates as i, f, g(=c), o; ONNX as i, o, f, c.
TORCH_TO_ONNX_GATES = [0, 3, 1, 2]


def load_model(checkpoint: Path) -> AcousticModel:
    ck = torch.load(checkpoint, weights_only=False, map_location="cpu")
    model = AcousticModel(**ck["config"])
    model.load_state_dict(ck["model"])
    return model.eval()


def onnx_gates(w: torch.Tensor, hidden: int) -> np.ndarray:
    """Reorder the 4 gate blocks along axis 0 from PyTorch to ONNX order."""
    blocks = w.detach().float().numpy().reshape(4, hidden, *w.shape[1:])
    return np.ascontiguousarray(blocks[TORCH_TO_ONNX_GATES].reshape(w.shape))


def build_graph(model: AcousticModel, toeplitz_matvec: str = "dense") -> onnx.ModelProto:
    if model.arch != "dense":
        return build_compact_graph(model, toeplitz_matvec, OPSET)
    n, layers, rnn = model.hidden, model.layers, model.rnn
    dim, vocab = model.config["input_dim"], model.config["vocab"]
    inits = []
    nodes = [
        # CMVN is folded into layer 0's W and bias (compact_onnx.folded_cmvn).
        helper.make_node("Transpose", ["features"], ["x_0"], perm=[1, 0, 2]),  # [T, B, D]
        helper.make_node("Constant", [], ["squeeze_axes"],
                         value=numpy_helper.from_array(np.array([1], np.int64))),
        helper.make_node("Constant", [], ["slice_axes"],
                         value=numpy_helper.from_array(np.array([0], np.int64))),
    ]
    h_outs, c_outs = [], []
    for k in range(layers):
        w = onnx_gates(getattr(rnn, f"weight_ih_l{k}"), n)[None]
        r = onnx_gates(getattr(rnn, f"weight_hh_l{k}"), n)[None]
        b_ih = onnx_gates(getattr(rnn, f"bias_ih_l{k}"), n)
        if k == 0:
            scale, shift = folded_cmvn(model, w[0])
            w = (w.astype(np.float64) * scale).astype(np.float32)
            b_ih = (b_ih - shift).astype(np.float32)
        b = np.concatenate([b_ih, onnx_gates(getattr(rnn, f"bias_hh_l{k}"), n)])[None]
        inits += [numpy_helper.from_array(w, f"lstm{k}_W"), numpy_helper.from_array(r, f"lstm{k}_R"),
                  numpy_helper.from_array(b, f"lstm{k}_B"),
                  numpy_helper.from_array(np.array([k], np.int64), f"lstm{k}_start"),
                  numpy_helper.from_array(np.array([k + 1], np.int64), f"lstm{k}_end")]
        nodes += [
            helper.make_node("Slice", ["h_in", f"lstm{k}_start", f"lstm{k}_end", "slice_axes"], [f"h0_{k}"]),
            helper.make_node("Slice", ["c_in", f"lstm{k}_start", f"lstm{k}_end", "slice_axes"], [f"c0_{k}"]),
            helper.make_node("LSTM", [f"x_{k}", f"lstm{k}_W", f"lstm{k}_R", f"lstm{k}_B", "", f"h0_{k}", f"c0_{k}"],
                             [f"y_{k}", f"h_{k}", f"c_{k}"], hidden_size=n, direction="forward", layout=0,
                             name=f"lstm{k}"),
            helper.make_node("Squeeze", [f"y_{k}", "squeeze_axes"], [f"x_{k + 1}"]),  # [T, B, n]
        ]
        h_outs.append(f"h_{k}")
        c_outs.append(f"c_{k}")
    inits += [numpy_helper.from_array(model.output.weight.detach().numpy().T.copy(), "out_W"),
              numpy_helper.from_array(model.output.bias.detach().numpy().copy(), "out_b")]
    nodes += [
        helper.make_node("Concat", h_outs, ["h_out"], axis=0),
        helper.make_node("Concat", c_outs, ["c_out"], axis=0),
        helper.make_node("Transpose", [f"x_{layers}"], ["y_btn"], perm=[1, 0, 2]),  # [B, T, n]
        helper.make_node("MatMul", ["y_btn", "out_W"], ["logits_nb"]),
        helper.make_node("Add", ["logits_nb", "out_b"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=-1),
    ]
    return streaming_model(nodes, inits, "compact_asr_lstm_ctc", dim, layers, n, vocab, OPSET)


def structure_toml(model: AcousticModel, toeplitz_matvec: str) -> str:
    """Extra [model] keys of a compact model (people and tools read them; the graph is the truth)."""
    if model.arch == "dense":
        return ""
    cfg = model.config
    lines = [f'structure = "{",".join(model.rnn.kinds)}"  # per layer, bottom first',
             f"rank = {cfg['rank']}", f"displacement_rank = {cfg['displacement_rank']}",
             f"toeplitz_layers = {cfg['toeplitz_layers']}", f"lstm_parameters = {lstm_parameters(model)}"]
    if uses_toeplitz(model):
        lines.append(f'toeplitz_matvec = "{toeplitz_matvec}"')
    return "\n".join(lines) + "\n"


def decoder_toml(lm: str, lm_weight: float, word_bonus: float, beam_width: int) -> str:
    """The [decoder] table: the decoding the model's figures are measured with, which the
    server uses unless told otherwise (docs/model-contract.md)."""
    return f"""
[decoder]
decoder = "beam"
beam_width = {beam_width}
lm = "{lm}"
lm_weight = {lm_weight}
word_bonus = {word_bonus}
"""


def with_decoder_weights(toml_text: str, lm_weight: float, word_bonus: float) -> str:
    """model.toml's text with its [decoder] table's LM weight and word bonus replaced
    (tune_decoder.py --write records the tuned weights so serve's default uses them)."""
    decoder = tomllib.loads(toml_text).get("decoder")
    if not decoder or "lm" not in decoder:
        raise ValueError("model.toml has no [decoder] table with an LM to tune")
    head, _, tail = toml_text.partition("\n[decoder]\n")
    if "\n[" in tail:
        raise ValueError("[decoder] must be model.toml's last table (export_onnx writes it last)")
    return head + decoder_toml(decoder["lm"], lm_weight, word_bonus, decoder["beam_width"])


def model_toml(model: AcousticModel, name: str, description: str, toeplitz_matvec: str = "dense") -> str:
    L, n = model.layers, model.hidden
    tokens = ", ".join(f'"{t}"' for t in VOCAB)
    return f"""[model]
name = "{name}"
onnx = "model.onnx"
variant = "{model.arch}"
description = "{description}"
{structure_toml(model, toeplitz_matvec)}
[features]
sample_rate = {F.SAMPLE_RATE}
num_mel_bins = {F.NUM_MEL_BINS}
frame_length_ms = 25.0
frame_shift_ms = 10.0
preemph_coeff = 0.97
remove_dc_offset = true
low_freq = 20.0
high_freq = 0.0
input_scale = {F.INPUT_SCALE}

[frames]
stack = {model.config["stack"]}
subsample = {model.config["subsample"]}

[onnx]
input = "features"
output = "log_probs"

[[state]]
input = "h_in"
output = "h_out"
shape = [{L}, 1, {n}]
batch_axis = 1

[[state]]
input = "c_in"
output = "c_out"
shape = [{L}, 1, {n}]
batch_axis = 1

[vocab]
blank_id = 0
tokens = [{tokens}]
"""


def describe(model: AcousticModel) -> str:
    kind = "" if model.arch == "dense" else f"{model.arch} (" + ", ".join(
        f"{k}={model.config[k]}" for k in ("rank", "displacement_rank", "toeplitz_layers")
        if model.config[k]) + ") "
    return (f"{model.layers}x{model.hidden} unidirectional {kind}LSTM, char CTC, "
            f"{count_parameters(model)} parameters")


def run_onnx(session: ort.InferenceSession, feats: np.ndarray, layers: int, hidden: int,
             chunks: list[int] | None = None) -> np.ndarray:
    """Run [T, D] features (batch 1) whole or in the given chunk sizes, carrying state."""
    h = np.zeros((layers, 1, hidden), np.float32)
    c = np.zeros_like(h)
    chunks = chunks or [feats.shape[0]]
    outs, t = [], 0
    for size in chunks:
        piece = feats[t:t + size][None]
        t += size
        if piece.shape[1] == 0:
            continue
        lp, h, c = session.run(["log_probs", "h_out", "c_out"], {"features": piece, "h_in": h, "c_in": c})
        outs.append(lp[0])
    return np.concatenate(outs)


def uneven_chunks(total: int) -> list[int]:
    sizes, pattern, k = [], [1, 7, 3, 16, 2, 11, 5], 0
    while sum(sizes) < total:
        sizes.append(pattern[k % len(pattern)])
        k += 1
    return sizes


def pick_reference(manifest: Path) -> dict:
    """The first utterance of 2-4 s (the contract's reference should be short)."""
    rows = F.read_manifest(manifest)
    fitting = [r for r in rows if 2.0 <= r["duration"] <= 4.0]
    return (fitting or sorted(rows, key=lambda r: abs(r["duration"] - 3.0)))[0]


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True, help="model folder, e.g. models/baseline")
    p.add_argument("--name", default="baseline")
    p.add_argument("--reference-manifest", type=Path, required=True,
                   help="manifest to take the reference utterance from (test set)")
    p.add_argument("--toeplitz-matvec", choices=TOEPLITZ_MATVECS, default="dense",
                   help="Toeplitz-like layers: dense blocks rebuilt from the generators at load "
                        "(default: tract 0.23 runs it at dense speed) or the FFT mat-vec (ONNX DFT; "
                        "exact, but ~50x slower than dense in tract 0.23)")
    p.add_argument("--lm", type=Path, default=None,
                   help="ARPA LM copied beside the model and named in its [decoder] table "
                        "(beam search by default); without it the server decodes greedily")
    p.add_argument("--lm-weight", type=float, default=0.5)
    p.add_argument("--word-bonus", type=float, default=3.0)
    p.add_argument("--beam-width", type=int, default=16)
    a = p.parse_args(argv)
    torch.set_num_threads(2)

    model = load_model(a.checkpoint)
    proto = build_graph(model, a.toeplitz_matvec)
    a.out.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, a.out / "model.onnx")
    toml_text = model_toml(model, a.name, describe(model), a.toeplitz_matvec)
    if a.lm:
        shutil.copyfile(a.lm, a.out / "lm.arpa")
        toml_text += decoder_toml("lm.arpa", a.lm_weight, a.word_bonus, a.beam_width)
    (a.out / "model.toml").write_text(toml_text)

    ref = pick_reference(a.reference_manifest)
    feats = F.model_features(ref["path"], model.config["stack"], model.config["subsample"])
    with torch.no_grad():
        torch_lp = model(torch.from_numpy(feats)[None])[0][0].numpy()
        explicit_lp = model(torch.from_numpy(feats)[None], explicit=True)[0][0].numpy()
    session = ort.InferenceSession(str(a.out / "model.onnx"), providers=["CPUExecutionProvider"])
    whole = run_onnx(session, feats, model.layers, model.hidden)
    chunked = run_onnx(session, feats, model.layers, model.hidden, uneven_chunks(feats.shape[0]))
    d_torch = float(np.abs(whole - torch_lp).max())
    d_explicit = float(np.abs(explicit_lp - torch_lp).max())
    d_chunk = float(np.abs(chunked - whole).max())
    zeros = np.zeros((model.layers, 2, model.hidden), np.float32)
    batched = session.run(["log_probs"], {"features": np.stack([feats, feats]), "h_in": zeros, "c_in": zeros})[0]
    d_chunk = max(d_chunk, float(np.abs(batched - whole[None]).max()))
    print(f"reference {ref['id']}: {feats.shape[0]} frames, '{ref['text']}'")
    print(f"max |ONNX - PyTorch| = {d_torch:.2e}; max |explicit cell - nn.LSTM| = {d_explicit:.2e}; "
          f"max |chunked or batch-2 - whole| = {d_chunk:.2e}")
    if max(d_torch, d_chunk, d_explicit) >= TOLERANCE:
        sys.exit(f"export check failed (tolerance {TOLERANCE})")

    refdir = a.out / "reference"
    refdir.mkdir(exist_ok=True)
    feats.astype("<f4").tofile(refdir / "features.f32")
    torch_lp.astype("<f4").tofile(refdir / "log_probs.f32")
    text = ref["text"].replace("\\", "\\\\").replace('"', '\\"')
    (refdir / "reference.toml").write_text(
        f'frames = {feats.shape[0]}\ndim = {feats.shape[1]}\nvocab = {torch_lp.shape[1]}\n'
        f'text = "{text}"\nid = "{ref["id"]}"\n')
    size = (a.out / "model.onnx").stat().st_size
    print(f"wrote {a.out / 'model.onnx'} ({size / 1e6:.2f} MB), model.toml, reference/ -- checks passed")


if __name__ == "__main__":
    main(sys.argv[1:])
