"""Build tiny random-weight models of every compact variant, exported by the recipe's exporter,
with PyTorch's outputs for tests/model/variants.rs to compare tract against.

Why: the server must run each structure the recipe can export (Scan loops, MatMul chains on
separate factors, ONNX DFT, dense blocks rebuilt from generators at load) exactly as PyTorch
computes it; tiny models keep the committed files a few tens of kB.

Run from the repository root:
    models/recipe/.venv/bin/python tests/data/compact_models/make_compact_models.py
Writes, beside this script, one folder per variant:
    model.onnx, model.toml       export_onnx.build_graph / model_toml output
    reference/                   random stacked features [T, 80], PyTorch's whole-utterance
                                 log_probs (the fused-kernel forward) and reference.toml
Each export is first checked with onnxruntime (whole, uneven chunks) against PyTorch.
"""
import shutil
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "models" / "recipe"))

import export_onnx  # noqa: E402
from model import AcousticModel, greedy_decode, lstm_parameters  # noqa: E402

SEED = 20261129
HIDDEN = 24          # 80 inputs = 4 Toeplitz blocks of 24, 16 zero-padded columns
FRAMES = 41
# folder: (arch, layers, structure options, toeplitz mat-vec)
VARIANTS = {
    "lowrank": ("lowrank", 2, dict(rank=4), "dense"),
    "shared_lowrank": ("shared-lowrank", 3, dict(rank=4), "dense"),
    "toeplitz_fft": ("toeplitz", 2, dict(displacement_rank=2), "fft"),
    "toeplitz_dense": ("toeplitz", 2, dict(displacement_rank=2), "dense"),
    "hybrid_fft": ("hybrid", 3, dict(rank=4, displacement_rank=2, toeplitz_layers=1), "fft"),
    "hybrid_dense": ("hybrid", 3, dict(rank=4, displacement_rank=2, toeplitz_layers=1), "dense"),
}
TOLERANCE = 2e-5


def make(folder: str, arch: str, layers: int, options: dict, matvec: str) -> None:
    torch.manual_seed(SEED)
    model = AcousticModel(input_dim=80, hidden=HIDDEN, layers=layers, stack=1, subsample=1,
                          arch=arch, **options).eval()
    model.set_cmvn(torch.randn(80) * 2 + 8, torch.rand(80) + 0.5)
    with torch.no_grad():  # a confident output layer, so log_probs vary frame to frame
        model.output.weight.mul_(6.0)
    feats = (torch.randn(1, FRAMES, 80) * 2 + 8)
    with torch.no_grad():
        log_probs = model(feats)[0][0].numpy()
        explicit = model(feats, explicit=True)[0][0].numpy()
    out = HERE / folder
    shutil.rmtree(out, ignore_errors=True)
    (out / "reference").mkdir(parents=True)
    proto = export_onnx.build_graph(model, matvec)
    (out / "model.onnx").write_bytes(proto.SerializeToString())
    description = f"{export_onnx.describe(model)}; random weights, for tests only"
    (out / "model.toml").write_text(
        f"# Written by make_compact_models.py: a tiny random {arch} LSTM-CTC model for tests.\n"
        + export_onnx.model_toml(model, f"tiny-{folder}", description, matvec))
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    x = feats[0].numpy()
    whole = export_onnx.run_onnx(session, x, layers, HIDDEN)
    chunked = export_onnx.run_onnx(session, x, layers, HIDDEN, export_onnx.uneven_chunks(FRAMES))
    diff = max(np.abs(whole - log_probs).max(), np.abs(chunked - log_probs).max(),
               np.abs(explicit - log_probs).max())
    if diff >= TOLERANCE:
        sys.exit(f"{folder}: onnxruntime/explicit differ from PyTorch by {diff}")
    x.astype("<f4").tofile(out / "reference" / "features.f32")
    log_probs.astype("<f4").tofile(out / "reference" / "log_probs.f32")
    text = greedy_decode(log_probs.argmax(-1).tolist())
    (out / "reference" / "reference.toml").write_text(
        f'frames = {FRAMES}\ndim = 80\nvocab = {log_probs.shape[1]}\ntext = "{text}"\n'
        f'id = "random-{folder}"\n')
    print(f"{folder}: {lstm_parameters(model)} LSTM parameters, "
          f"{(out / 'model.onnx').stat().st_size} bytes, max |diff| {diff:.1e}, text '{text}'")


def main() -> None:
    torch.set_num_threads(1)
    for folder, spec in VARIANTS.items():
        make(folder, *spec)


if __name__ == "__main__":
    main()
