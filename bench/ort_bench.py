"""Per-frame cost of a model in onnxruntime, unbatched and batched: the onnxruntime half of
bench/model_bench.sh (examples/model_bench.rs is the tract half: same ONNX, same chunk
length, same single thread, same JSON lines).

Usage: models/recipe/.venv/bin/python bench/ort_bench.py MODEL.toml [CHUNK_FRAMES] [BATCHES]
"""

import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort


def main() -> None:
    toml_path = Path(sys.argv[1] if len(sys.argv) > 1 else "models/baseline/model.toml")
    chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    batches = [int(b) for b in (sys.argv[3] if len(sys.argv) > 3 else "1,8,32,64").split(",")]
    spec = tomllib.loads(toml_path.read_text())
    dim = spec["frames"]["stack"] * spec["features"]["num_mel_bins"]
    frame_seconds = spec["features"]["frame_shift_ms"] * spec["frames"]["subsample"] / 1000.0

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(
        str(toml_path.parent / spec["model"]["onnx"]), options, providers=["CPUExecutionProvider"]
    )
    output_names = [spec["onnx"]["output"]] + [s["output"] for s in spec["state"]]
    # The same deterministic values as examples/model_bench.rs.
    values = (np.arange(chunk * dim) * 7919 % 1000).astype(np.float32) / 100.0 - 5.0

    for batch in batches:
        features = np.broadcast_to(values.reshape(1, chunk, dim), (batch, chunk, dim)).copy()
        states = {}
        for s in spec["state"]:
            shape = list(s["shape"])
            shape[s["batch_axis"]] = batch
            states[s["input"]] = np.zeros(shape, dtype=np.float32)

        def call() -> None:
            outputs = session.run(output_names, {spec["onnx"]["input"]: features, **states})
            for s, value in zip(spec["state"], outputs[1:]):
                states[s["input"]] = value

        for _ in range(3):
            call()
        calls, started = 0, time.perf_counter()
        while calls < 20 or time.perf_counter() - started < 2.0:
            call()
            calls += 1
        per_call = (time.perf_counter() - started) / calls
        per_frame = per_call / (batch * chunk)
        print(json.dumps({
            "runtime": f"onnxruntime {ort.__version__}",
            "model": spec["model"]["name"],
            "batch": batch,
            "chunk_frames": chunk,
            "us_per_call": round(per_call * 1e6, 1),
            "us_per_stream_frame": round(per_frame * 1e6, 2),
            "realtime_streams_per_core": round(frame_seconds / per_frame),
        }))


if __name__ == "__main__":
    main()
