"""The compact-model table and plot of models/README.md (issue 4), from compact_sweep.sh's output.

For each row: LSTM and total parameters (from the checkpoint), model.onnx size, MFLOPs per
second of audio as the server computes it, held-out-voice WER/CER and real-human dev WER (the
variant's eval.txt, written by evaluate.py), and the real-time factor in the server
(`compact-asr bench --model ...`: an in-process gRPC server, one stream as fast as it goes;
given --binary). Writes a markdown table on stdout and a PNG of LSTM parameters against WER.

  .venv/bin/python compact_table.py --sweep work/sweep --baseline work/exp_long/best.pt \\
      --baseline-model ../baseline --baseline-eval work/baseline_eval.txt --binary ../../target/release/compact-asr \\
      --wav ../../tests/data/... --plot ../compact.png

FLOPs are counted from the structure, per model frame: 2 x rows x cols for a dense matrix,
2 x r x (rows + cols) for a low-rank pair, a shared projection once per step plus each U
that reads it, and a Toeplitz-like matrix as the dense block the server rebuilds at load
(its FFT form is counted separately, as `fft_mflops`). Elementwise gate work is left out.
"""
from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from compact import LOWRANK, SHARED, TOEPLITZ, layer_kinds
from export_onnx import load_model
from model import count_parameters, lstm_parameters


def matvec_flops(model) -> tuple[int, int]:
    """(FLOPs per model frame as served, the same with Toeplitz-like blocks done by FFT)."""
    cfg = model.config
    n, layers, vocab = cfg["hidden"], cfg["layers"], cfg["vocab"]
    arch = cfg.get("arch", "dense")
    kinds = ["dense"] * layers if arch == "dense" else layer_kinds(arch, layers, cfg.get("toeplitz_layers", 0))
    r, dr = cfg.get("rank", 0), cfg.get("displacement_rank", 0)
    served = fft = 2 * n * vocab
    for l, kind in enumerate(kinds):
        cols = cfg["input_dim"] if l == 0 else n
        if kind == "dense":
            cost = 2 * 4 * n * (cols + n)
            served, fft = served + cost, fft + cost
        elif kind == LOWRANK:
            cost = 2 * r * (4 * n + cols) + 2 * r * (4 * n + n)
            served, fft = served + cost, fft + cost
        elif kind == SHARED:
            shared_in = l > 0 and kinds[l - 1] == SHARED
            w_x = 2 * 4 * n * r if shared_in else 2 * r * (4 * n + cols)
            cost = w_x + 2 * r * n + 2 * 4 * n * r  # input, own projection once, U_h
            served, fft = served + cost, fft + cost
        elif kind == TOEPLITZ:
            k = -(-cols // n)
            served += 2 * 4 * n * (k * n + n)
            # Per block row and term: a complex multiply-add per frequency (~8 real FLOPs),
            # plus FFTs (~5 n log2 n): the input's k + 1 shared, one inverse per gate per term
            # and one per gate for the sum.
            fft_len = 5 * n * math.log2(n)
            terms = 4 * (k + 1) * dr
            fft += int((k + 1) * fft_len + terms * (8 * n + fft_len) + 4 * fft_len)
    return served, fft


def read_eval(path: Path) -> dict[str, tuple[float, float]]:
    """{set: (WER %, CER %)} from evaluate.py's summary lines."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\| (\S+) \| \d+ \| [\d.]+ \| ([\d.]+)% \| ([\d.]+)% \|$", line.strip())
        if m:
            out[Path(m.group(1)).stem] = (float(m.group(2)), float(m.group(3)))
    return out


def server_rtf(binary: Path, toml: Path, wavs: list[Path]) -> float:
    """Processing time over audio time, summed over `wavs`, each streamed once through an
    in-process server by `compact-asr bench`."""
    audio = processing = 0.0
    for wav in wavs:
        out = subprocess.run([str(binary), "bench", "--model", str(toml), str(wav)],
                             check=True, capture_output=True, text=True).stdout
        audio += float(re.search(r"audio:\s+([\d.]+) s", out).group(1))
        processing += float(re.search(r"processing:\s+([\d.]+) s", out).group(1))
    return processing / audio


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sweep", type=Path, default=Path("work/sweep"))
    p.add_argument("--baseline", type=Path, required=True, help="the dense baseline's checkpoint")
    p.add_argument("--baseline-model", type=Path, required=True, help="its model folder")
    p.add_argument("--baseline-eval", type=Path, required=True, help="evaluate.py's output on it")
    p.add_argument("--extra", type=Path, nargs="*", default=[],
                   help="more runs: folders with best.pt, model/ and eval.txt (train.py --exp + export)")
    p.add_argument("--binary", type=Path, help="release compact-asr, for the server's real-time factor")
    p.add_argument("--wav", type=Path, nargs="*", default=[], help="audio for the real-time factor")
    p.add_argument("--plot", type=Path, help="PNG of LSTM parameters against held-out WER")
    a = p.parse_args(argv)

    rows = [("baseline (shipped)", a.baseline, a.baseline_model, a.baseline_eval)]
    rows += [(d.name, d / "finetune" / "best.pt", d / "model", d / "eval.txt")
             for d in sorted(a.sweep.iterdir()) if (d / "eval.txt").exists()]
    rows += [(d.name, d / "best.pt", d / "model", d / "eval.txt") for d in a.extra]
    base_lstm = lstm_parameters(load_model(a.baseline))
    print("| model | LSTM params | % of dense | total params | model.onnx | MFLOPs / s audio | "
          "held-out WER | held-out CER | dev WER | server RTF |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    points = []
    for name, ck, folder, eval_txt in rows:
        model = load_model(ck)
        spec = tomllib.loads((folder / "model.toml").read_text())
        frame_s = spec["features"]["frame_shift_ms"] * spec["frames"]["subsample"] / 1000
        served, fft = matvec_flops(model)
        evals = read_eval(eval_txt)
        wer, cer = evals["test"]
        dev_wer = evals["dev"][0]
        rtf = f"{server_rtf(a.binary, folder / 'model.toml', a.wav):.4f}" if a.binary and a.wav else "—"
        lstm = lstm_parameters(model)
        size = (folder / spec["model"]["onnx"]).stat().st_size / 1e6
        flops = f"{served / frame_s / 1e6:.1f}"
        if fft != served:
            flops += f" ({fft / frame_s / 1e6:.1f} by FFT)"
        print(f"| {name} | {lstm:,} | {100 * lstm / base_lstm:.1f}% | {count_parameters(model):,} | "
              f"{size:.2f} MB | {flops} | {wer:.2f}% | {cer:.2f}% | {dev_wer:.2f}% | {rtf} |", flush=True)
        points.append((name, lstm, wer))

    if a.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, lstm, wer in points:
            ax.scatter(lstm / 1e6, wer, color="tab:red" if name.startswith("baseline") else "tab:blue")
            below = name == "dense"  # sits on the baseline's point
            ax.annotate(name + (" (+4 epochs)" if below else ""), (lstm / 1e6, wer), textcoords="offset points",
                        xytext=(-60, -12) if below else (5, 4), fontsize=8)
        ax.axvline(0.25 * base_lstm / 1e6, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("LSTM parameters (millions); dotted: 25% of the dense baseline")
        ax.set_ylabel("held-out-voice WER (%)")
        ax.set_title("Compact LSTMs (Lu, Sindhwani, Sainath 2016) on our data")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        print(f"wrote {a.plot}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
