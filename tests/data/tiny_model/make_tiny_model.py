"""Build the tiny LSTM-CTC model the Rust tests run, plus outputs the tests compare against.

Why: tests need an ONNX graph with the same shape contract as a trained model (features
[batch, time, 240] in, log_probs [batch, time, vocab] out, LSTM state h/c carried across
chunks) but small enough to commit, with answers computed by an independent runtime
(onnxruntime + kaldi-native-fbank), not by the code under test.

Run from the repository root:
    models/recipe/.venv/bin/python tests/data/tiny_model/make_tiny_model.py
Writes, beside this script:
    model.onnx, model.toml       the model and its contract file
    reference/                   random features, onnxruntime's log_probs (contract layout)
    tone.wav, tone.expected.txt  a synthetic recording and the greedy CTC text that
                                 kaldi-native-fbank + onnxruntime give for it
"""
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import onnx
import onnxruntime as ort
import soundfile as sf
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
SEED = 20261129
BINS, STACK, SUBSAMPLE, HIDDEN = 80, 3, 3, 8
DIM = BINS * STACK
TOKENS = ["<blank>", " ", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
VOCAB = len(TOKENS)
RATE = 16000


def build_model(rng: np.random.Generator) -> onnx.ModelProto:
    """normalise -> LSTM (h/c state in and out) -> linear (+ a direct feature path) -> log_softmax."""
    mean = np.full(DIM, 8.0, np.float32)
    inv_std = np.full(DIM, 0.25, np.float32)
    w = (rng.standard_normal((1, 4 * HIDDEN, DIM)) * 0.1).astype(np.float32)
    r = (rng.standard_normal((1, 4 * HIDDEN, HIDDEN)) * 0.5).astype(np.float32)
    b = (rng.standard_normal((1, 8 * HIDDEN)) * 0.1).astype(np.float32)
    w_out = (rng.standard_normal((HIDDEN, VOCAB)) * 2.0).astype(np.float32)
    w_feat = (rng.standard_normal((DIM, VOCAB)) * 0.3).astype(np.float32)
    b_out = np.zeros(VOCAB, np.float32)
    b_out[0] = 1.0  # lean towards blank, as trained CTC models do
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in [
            (mean, "mean"), (inv_std, "inv_std"), (w, "W"), (r, "R"), (b, "B"),
            (w_out, "w_out"), (w_feat, "w_feat"), (b_out, "b_out"),
            (np.array([1], np.int64), "axis1"),
        ]
    ]
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "inv_std"], ["normed"]),
        helper.make_node("Transpose", ["normed"], ["tbd"], perm=[1, 0, 2]),
        helper.make_node(
            "LSTM", ["tbd", "W", "R", "B", "", "h_in", "c_in"], ["y", "h_out", "c_out"],
            hidden_size=HIDDEN, layout=0,
        ),
        helper.make_node("Squeeze", ["y", "axis1"], ["tbh"]),
        helper.make_node("Transpose", ["tbh"], ["bth"], perm=[1, 0, 2]),
        helper.make_node("MatMul", ["bth", "w_out"], ["from_lstm"]),
        helper.make_node("MatMul", ["normed", "w_feat"], ["from_feat"]),
        helper.make_node("Add", ["from_lstm", "from_feat"], ["summed"]),
        helper.make_node("Add", ["summed", "b_out"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=-1),
    ]
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "tiny_lstm_ctc",
        [
            helper.make_tensor_value_info("features", f32, ["batch", "time", DIM]),
            helper.make_tensor_value_info("h_in", f32, [1, "batch", HIDDEN]),
            helper.make_tensor_value_info("c_in", f32, [1, "batch", HIDDEN]),
        ],
        [
            helper.make_tensor_value_info("log_probs", f32, ["batch", "time", VOCAB]),
            helper.make_tensor_value_info("h_out", f32, [1, "batch", HIDDEN]),
            helper.make_tensor_value_info("c_out", f32, [1, "batch", HIDDEN]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def run(session: ort.InferenceSession, feats: np.ndarray) -> np.ndarray:
    zeros = np.zeros((1, 1, HIDDEN), np.float32)
    out = session.run(["log_probs"], {"features": feats[None], "h_in": zeros, "c_in": zeros})
    return out[0][0]


def fbank(samples: np.ndarray) -> np.ndarray:
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = RATE
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "povey"
    opts.frame_opts.frame_length_ms = 25.0
    opts.frame_opts.frame_shift_ms = 10.0
    opts.frame_opts.preemph_coeff = 0.97
    opts.frame_opts.remove_dc_offset = True
    opts.frame_opts.round_to_power_of_two = True
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = BINS
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 0.0
    opts.use_energy = False
    opts.use_power = True
    opts.use_log_fbank = True
    computer = knf.OnlineFbank(opts)
    computer.accept_waveform(RATE, (samples * 32768.0).tolist())
    computer.input_finished()
    return np.array([computer.get_frame(i) for i in range(computer.num_frames_ready)], np.float32)


def stack(frames: np.ndarray) -> np.ndarray:
    count = 0 if len(frames) < STACK else (len(frames) - STACK) // SUBSAMPLE + 1
    return np.array(
        [frames[k * SUBSAMPLE : k * SUBSAMPLE + STACK].reshape(-1) for k in range(count)], np.float32
    )


def greedy(log_probs: np.ndarray) -> tuple[str, float]:
    """Greedy CTC text, and the smallest top-1/top-2 gap (how robust the text is)."""
    best = log_probs.argmax(axis=1)
    ordered = np.sort(log_probs, axis=1)
    margin = float((ordered[:, -1] - ordered[:, -2]).min())
    out, prev = [], 0
    for t in best:
        if t != prev and t != 0:
            out.append(TOKENS[t])
        prev = t
    return "".join(out), margin


def tone_signal() -> np.ndarray:
    """Segments of tones at different pitches and levels with silences between them."""
    pieces = []
    for freq, level in [(300, 0.3), (0, 0), (1200, 0.5), (2500, 0.2), (0, 0), (600, 0.6), (4000, 0.4), (0, 0)]:
        t = np.arange(int(0.25 * RATE)) / RATE
        pieces.append(level * np.sin(2 * np.pi * freq * t) * np.hanning(len(t)))
    return np.concatenate(pieces).astype(np.float32)


def write_toml() -> None:
    tokens = ", ".join(f'"{t}"' for t in TOKENS)
    (HERE / "model.toml").write_text(f"""# Written by make_tiny_model.py: a tiny random LSTM-CTC model for tests.
[model]
name = "tiny"
onnx = "model.onnx"
variant = "dense"
description = "1x{HIDDEN} LSTM with random weights, for tests only"

[features]
sample_rate = {RATE}
num_mel_bins = {BINS}
frame_length_ms = 25.0
frame_shift_ms = 10.0
preemph_coeff = 0.97
remove_dc_offset = true
low_freq = 20.0
high_freq = 0.0
input_scale = 32768.0

[frames]
stack = {STACK}
subsample = {SUBSAMPLE}

[onnx]
input = "features"
output = "log_probs"

[[state]]
input = "h_in"
output = "h_out"
shape = [1, 1, {HIDDEN}]
batch_axis = 1

[[state]]
input = "c_in"
output = "c_out"
shape = [1, 1, {HIDDEN}]
batch_axis = 1

[vocab]
blank_id = 0
tokens = [{tokens}]
""")


def main() -> None:
    rng = np.random.default_rng(SEED)
    model = build_model(rng)
    onnx.save(model, HERE / "model.onnx")
    write_toml()
    session = ort.InferenceSession(str(HERE / "model.onnx"), providers=["CPUExecutionProvider"])

    ref = HERE / "reference"
    ref.mkdir(exist_ok=True)
    feats = (rng.standard_normal((37, DIM)) * 4.0 + 8.0).astype(np.float32)
    log_probs = run(session, feats)
    feats.astype("<f4").tofile(ref / "features.f32")
    log_probs.astype("<f4").tofile(ref / "log_probs.f32")
    text, _ = greedy(log_probs)
    (ref / "reference.toml").write_text(
        f'frames = {feats.shape[0]}\ndim = {DIM}\nvocab = {VOCAB}\ntext = "{text}"\n'
    )

    sf.write(HERE / "tone.wav", tone_signal(), RATE, subtype="PCM_16")
    samples, _ = sf.read(HERE / "tone.wav", dtype="float32")
    text, margin = greedy(run(session, stack(fbank(samples))))
    (HERE / "tone.expected.txt").write_text(text + "\n")
    print(f"tone.wav -> {text!r} (smallest top-1 margin {margin:.3f})")


if __name__ == "__main__":
    main()
