"""Recipe-side evaluation: greedy CTC decoding of manifests with onnxruntime.

Why onnxruntime on the exported model.onnx (not the PyTorch checkpoint): the number in the
model card must describe the file the server ships. Features come from features.py (the
contract's fbank), computed fresh from the audio in float32. Sets whose ids name several
voices/sources ('<voice>-NNNNN') also get a per-voice breakdown.

  python evaluate.py ../baseline/model.onnx work/manifests/test.tsv work/manifests/dev.tsv
"""
from __future__ import annotations

import argparse
import sys
import time
import tomllib
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import onnxruntime as ort

import features as F
from metrics import ErrorRate
from model import greedy_decode


def decode_all(onnx_path: Path, rows: list[dict], threads: int) -> list[str]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    shape = {i.name: i.shape for i in session.get_inputs()}
    layers, hidden = shape["h_in"][0], shape["h_in"][2]
    # The stacking the model was trained with, as the server reads it from model.toml.
    frames = tomllib.loads((onnx_path.parent / "model.toml").read_text())["frames"]
    hyps = []
    for r in rows:
        feats = F.model_features(r["path"], frames["stack"], frames["subsample"])[None]
        if feats.shape[1] == 0:
            hyps.append("")
            continue
        zeros = np.zeros((layers, 1, hidden), np.float32)
        lp = session.run(["log_probs"], {"features": feats, "h_in": zeros, "c_in": zeros})[0][0]
        hyps.append(greedy_decode(lp.argmax(-1).tolist()))
    return hyps


def _worker(job):
    onnx_path, rows = job
    return decode_all(onnx_path, rows, threads=1)


def evaluate(onnx_path: Path, manifest: Path, procs: int, show: int) -> ErrorRate:
    rows = F.read_manifest(manifest)
    parts = [rows[k::procs] for k in range(procs)]
    with Pool(procs) as pool:
        results = pool.map(_worker, [(onnx_path, part) for part in parts])
    er = ErrorRate()
    groups: dict[str, ErrorRate] = {}
    shown = 0
    for part, hyps in zip(parts, results):
        for r, hyp in zip(part, hyps):
            er.add(r["text"], hyp)
            groups.setdefault(group_of(r["id"]), ErrorRate()).add(r["text"], hyp)
            if shown < show and hyp != r["text"]:
                print(f"  {r['id']}\n    ref: {r['text']}\n    hyp: {hyp}")
                shown += 1
    if len(groups) > 1:
        for name, g in sorted(groups.items()):
            print(f"  {name}: WER {100 * g.wer:.2f}% CER {100 * g.cer:.2f}% ({g.words} words)")
    return er, len(rows), sum(r["duration"] for r in rows)


def group_of(uid: str) -> str:
    """The voice (or source) of an utterance id: the id without its trailing '-NNNNN'."""
    head, _, tail = uid.rpartition("-")
    return head if head and tail.isdigit() else uid


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="model.onnx")
    p.add_argument("manifests", type=Path, nargs="+")
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--show-errors", type=int, default=3, help="print this many wrong hypotheses per set")
    a = p.parse_args(argv)
    print(f"| set | utterances | hours | WER | CER |\n|---|---|---|---|---|")
    lines = []
    for m in a.manifests:
        t0 = time.time()
        er, n, secs = evaluate(a.model, m, a.procs, a.show_errors)
        line = (f"| {m.parent.name}/{m.name} | {n} | {secs / 3600:.2f} | {100 * er.wer:.2f}% | "
                f"{100 * er.cer:.2f}% |")
        lines.append(line)
        print(line + f"  ({time.time() - t0:.0f} s)", flush=True)
    print("\n".join(["", "summary:"] + lines))


if __name__ == "__main__":
    main(sys.argv[1:])
