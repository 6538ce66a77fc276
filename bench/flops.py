"""The model's arithmetic against this machine's: FLOPs per second of audio (from the ONNX
weights) and a measured single-precision matmul peak (numpy's OpenBLAS sgemm), so the
distance from the compute limit is a number.

FLOPs per model frame = 2 x every weight element a frame multiplies: LSTM W and R, and
every MatMul/Gemm whose operand is a 2-D constant, in the main graph and in Scan/Loop
bodies. A constant is an initializer or, for Toeplitz-like layers exported with dense
blocks, a matrix the graph rebuilds from its generators (runtimes fold it at load, so it is
what they multiply by): those are computed once with onnxruntime to read their shapes.
Elementwise work (gates, softmax) is left out: it is small next to the matrices.

Usage: OPENBLAS_NUM_THREADS=1 models/recipe/.venv/bin/python bench/flops.py MODEL.toml
(set the thread count to measure the peak of that many cores).
"""

import json
import os
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def graphs(graph):
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from graphs(attribute.g)
            for sub in attribute.graphs:
                yield from graphs(sub)


def folded_shapes(model, names: list[str]) -> dict[str, tuple]:
    """Shapes of main-graph tensors computed from constants only, by running the graph once."""
    if not names:
        return {}
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in inp.shape]
        feeds[inp.name] = np.zeros(shape, np.float32)
    return {n: v.shape for n, v in zip(names, session.run(names, feeds))}


def constant_names(graph, known: set[str]) -> set[str]:
    """Main-graph tensors that depend on initializers and Constant nodes only."""
    const = set(known)
    for node in graph.node:
        if node.op_type != "Scan" and all(i in const for i in node.input if i):
            const.update(node.output)
    return const


def flops_per_frame(model) -> int:
    all_graphs = list(graphs(model.graph))
    weights = {
        init.name: numpy_helper.to_array(init).shape for g in all_graphs for init in g.initializer
    }
    folded = constant_names(model.graph, set(weights)) - set(weights)
    operands = {name for g in all_graphs for node in g.node if node.op_type in ("MatMul", "Gemm")
                for name in node.input[:2]}
    weights.update(folded_shapes(model, sorted(folded & operands)))
    flops = 0
    for g in all_graphs:
        for node in g.node:
            if node.op_type == "LSTM":
                for name in node.input[1:3]:
                    flops += 2 * int(np.prod(weights[name]))
            elif node.op_type in ("MatMul", "Gemm"):
                for name in node.input[:2]:
                    if name in weights and len(weights[name]) == 2:
                        flops += 2 * int(np.prod(weights[name]))
    return flops


def sgemm_peak(n: int = 1024, seconds: float = 2.0) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < seconds:
        a @ b
        calls += 1
    return 2 * n**3 * calls / (time.perf_counter() - started)


def main() -> None:
    toml_path = Path(sys.argv[1] if len(sys.argv) > 1 else "models/baseline/model.toml")
    spec = tomllib.loads(toml_path.read_text())
    frame_seconds = spec["features"]["frame_shift_ms"] * spec["frames"]["subsample"] / 1000.0
    model = onnx.load(str(toml_path.parent / spec["model"]["onnx"]))
    per_frame = flops_per_frame(model)
    per_audio_second = per_frame / frame_seconds
    peak = sgemm_peak()
    print(json.dumps({
        "model": spec["model"]["name"],
        "mflop_per_frame": round(per_frame / 1e6, 3),
        "mflop_per_audio_second": round(per_audio_second / 1e6, 1),
        "sgemm_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "sgemm_gflops": round(peak / 1e9, 1),
        "realtime_streams_at_peak": round(peak / per_audio_second),
    }))


if __name__ == "__main__":
    main()
