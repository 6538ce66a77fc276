"""Hand-built ONNX graphs of the compact LSTM stacks (compact.py), same I/O as the dense export.

Why a Scan per layer (not ONNX LSTM): the LSTM op only takes dense W/R, which would undo the
compression. Each layer here is
  * its input contribution for all T steps at once, outside the loop (the structured product
    on x [T, B, m], plus the bias), then
  * an ONNX `Scan` over time whose body adds the structured recurrent product of the carried
    state and applies the LSTM cell (gate order i, f, g, o, as compact.py).
Low-rank and shared factors are chains of MatMul on the separate factors, never their product
(a constant product would be folded back into a dense W). A shared layer carries p = P h as
Scan state (with c): computed once per step, it is the next step's recurrent input (U_h p) and,
as a per-step Scan output, the next layer's input (U_x p), which is applied outside that
layer's loop. Its initial value P h_in is computed before the loop.
Toeplitz-like matrices export two ways (`toeplitz_matvec`):
  * "fft": ONNX DFT (opset 17) with the generators' spectra as constants and the input's FFT
    computed once for all gates and terms; complex numbers are [..., 2] (re, im) as DFT wants.
  * "dense": only the generators are stored; the graph rebuilds each dense block from them
    (Gather of circulant/skew-circulant index patterns, MatMul, Sum) from constants only, so
    runtimes fold it once at load: small file, dense compute.
Weights are outer-graph initializers that Scan bodies reference by name (ONNX outer scope).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compact import SHARED, TOEPLITZ, LowRank, SharedLowRank, ToeplitzLike

F32 = TensorProto.FLOAT
TOEPLITZ_MATVECS = ("fft", "dense")


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


class GraphBuilder:
    """Nodes and initializers of one (sub)graph with unique generated names."""

    def __init__(self, prefix: str, inits: list | None = None):
        self.prefix, self.nodes, self.count = prefix, [], 0
        # Constants go to the outer graph's initializers (a body shares its parent's list).
        self.inits = [] if inits is None else inits

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}{hint}_{self.count}"

    def const(self, hint: str, array: np.ndarray) -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(array.copy(order="C"), name))
        return name

    def ints(self, hint: str, values: list[int]) -> str:
        return self.const(hint, np.array(values, np.int64))

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, outputs: int = 1, **attrs):
        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attrs))
        return names[0] if outputs == 1 else names


# ---------------------------------------------------------------- structured products

def complex_mul(gb: GraphBuilder, x: str, re: str, im: str) -> str:
    """x [..., 2] (re, im) times the constant complex (re [..., 1], im [..., 1])."""
    a, b = gb.op("Split", [x], "part", outputs=2, axis=-1)
    real = gb.op("Sub", [gb.op("Mul", [a, re]), gb.op("Mul", [b, im])])
    imag = gb.op("Add", [gb.op("Mul", [a, im]), gb.op("Mul", [b, re])])
    return gb.op("Concat", [real, imag], "cplx", axis=-1)


def toeplitz_fft(gb: GraphBuilder, x: str, rank: int, tm: ToeplitzLike) -> str:
    """x [P..., cols] (rank = len(P) + 1) -> [P..., R*n] by the FFT mat-vec of compact.py."""
    n, k, rows = tm.n, tm.k, tm.row_blocks
    g_hat, h_hat, eta = (t.detach().cpu().numpy() for t in tm.spectra())
    lead = rank - 1
    pad = k * n - tm.cols
    if pad:
        x = gb.op("Pad", [x, gb.ints("pads", [0] * rank + [0] * lead + [pad])])
    x = gb.op("Reshape", [x, gb.ints("shape", [0] * lead + [k, n])])          # [P, k, n]
    x = gb.op("Unsqueeze", [x, gb.ints("axes", [-1])])                        # [P, k, n, 1]
    cos = gb.const("cos", eta.real.astype(np.float32).reshape(n, 1))
    sin = gb.const("sin", eta.imag.astype(np.float32).reshape(n, 1))
    dx = gb.op("Concat", [gb.op("Mul", [x, cos]), gb.op("Mul", [x, sin])], "dx", axis=-1)
    x_hat = gb.op("DFT", [dx], "x_hat", axis=lead + 1)                         # once per input
    x_hat = gb.op("Unsqueeze", [x_hat, gb.ints("axes", [lead, lead + 2])])    # [P, 1, k, 1, n, 2]
    spectrum = lambda hint, z: (gb.const(hint + "_re", z.real.astype(np.float32)[..., None]),
                                gb.const(hint + "_im", z.imag.astype(np.float32)[..., None]))
    z = complex_mul(gb, x_hat, *spectrum("h_hat", h_hat))                    # [P, R, k, r, n, 2]
    n_axis = lead + 3
    z = gb.op("DFT", [z], "ifft", axis=n_axis, inverse=1)
    u, v = gb.op("Split", [z], "part", outputs=2, axis=-1)
    y = gb.op("Add", [gb.op("Mul", [u, cos]), gb.op("Mul", [v, sin])], "skew")  # Re(D^-1 z), [.., 1]
    y_hat = gb.op("DFT", [y], "y_hat", axis=n_axis)
    s = complex_mul(gb, y_hat, *spectrum("g_hat", g_hat))
    s = gb.op("ReduceSum", [s, gb.ints("axes", [lead + 1, lead + 2])], keepdims=0)  # [P, R, n, 2]
    out = gb.op("DFT", [s], "out", axis=lead + 1, inverse=1)
    real = gb.op("Split", [out], "part", outputs=2, axis=-1)[0]
    return gb.op("Reshape", [real, gb.ints("shape", [0] * lead + [rows * n])])


def toeplitz_dense_t(gb: GraphBuilder, tm: ToeplitzLike) -> str:
    """W^T [cols, R*n] rebuilt in-graph from the generators g, h (constants only).

    Built block by block and term by term so that every intermediate stays within what a
    runtime folds at load: tract folds a node only while its output is no bigger than its
    inputs or 4 MiB (tract-core's CONST_FOLD_MEM_BUDGET). One gather of all blocks and terms
    at once ([R, k, r, n, n]) is 16 MiB at n = 512: tract left it unfolded and rebuilt the
    matrix on every call (a 4x512 hybrid ran 50x slower than real time would allow)."""
    n, k, rows, r = tm.n, tm.k, tm.row_blocks, tm.rank
    g, h = _np(tm.g), _np(tm.h)                                                   # [R, k, r, n]
    ar_end = gb.const("n", np.array(n, np.int32))
    ar = gb.op("Range", [gb.const("zero", np.array(0, np.int32)), ar_end, gb.const("one", np.array(1, np.int32))])
    rows_ix = gb.op("Add", [gb.op("Unsqueeze", [ar, gb.ints("axes", [1])]), ar_end])
    idx = gb.op("Sub", [rows_ix, gb.op("Unsqueeze", [ar, gb.ints("axes", [0])])])  # i - j + n

    def term(row: int, col: int, j: int) -> str:
        g_j, h_j = gb.const("gen_g", g[row, col, j]), gb.const("gen_h", h[row, col, j])
        circ = gb.op("Gather", [gb.op("Concat", [g_j, g_j], axis=0), idx], axis=0)  # Z_1(g)[i, j] = g[(i - j) mod n]
        skew = gb.op("Gather", [gb.op("Concat", [gb.op("Neg", [h_j]), h_j], axis=0), idx],
                     axis=0)                                                     # Z_-1(h)[i, j] = +-h[(i - j) mod n]
        return gb.op("MatMul", [circ, skew])

    def block(row: int, col: int) -> str:
        terms = [term(row, col, j) for j in range(r)]
        return terms[0] if r == 1 else gb.op("Sum", terms)

    row_blocks = [gb.op("Concat", [block(row, col) for col in range(k)], axis=1) for row in range(rows)]
    w = gb.op("Concat", row_blocks, axis=0)                                       # [R*n, k*n]
    if k * n != tm.cols:
        w = gb.op("Slice", [w, gb.ints("start", [0]), gb.ints("end", [tm.cols]), gb.ints("axes", [1])])
    return gb.op("Transpose", [w], "w_t", perm=[1, 0])


def structured_product(gb: GraphBuilder, x: str, rank: int, w, matvec: str,
                       scale: np.ndarray | None = None) -> str:
    """x [..., cols] @ (W diag(scale))^T for any structured W (a SharedLowRank gets x already
    projected). The column scale lands in the first factor (low-rank V, or the dense
    Toeplitz-like blocks, rebuilt and scaled at load), so it costs nothing per frame."""
    if isinstance(w, LowRank):
        v_t = _np(w.v).T if scale is None else (w.v.detach().double().numpy().T * scale[:, None])
        z = gb.op("MatMul", [x, gb.const("v_t", v_t.astype(np.float32))])
        return gb.op("MatMul", [z, gb.const("u_t", _np(w.u).T)])
    if isinstance(w, SharedLowRank):
        if scale is not None:
            raise ValueError("a shared low-rank matrix never reads the features")
        return gb.op("MatMul", [x, gb.const("u_t", _np(w.u).T)])
    if isinstance(w, ToeplitzLike):
        if matvec == "fft":
            if scale is not None:
                x = gb.op("Mul", [x, gb.const("col_scale", scale.astype(np.float32))])
            return toeplitz_fft(gb, x, rank, w)
        w_t = toeplitz_dense_t(gb, w)
        if scale is not None:
            w_t = gb.op("Mul", [w_t, gb.const("col_scale", scale.astype(np.float32)[:, None])])
        return gb.op("MatMul", [x, w_t])
    raise TypeError(type(w))


def folded_cmvn(model, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scale, bias shift) that move the model's fixed CMVN into the first layer's input
    weights w [rows, input_dim]: use w diag(scale) and b - shift.

    W ((x - mean) * inv_std) + b = (W diag(inv_std)) x + (b - W (mean * inv_std)): the graph
    then has no per-frame normalisation ops (an elementwise pass over every input value that
    tract runs outside its matmul kernels). Computed in float64; both exporters use it.
    """
    scale = model.cmvn_inv_std.double().numpy()
    offset = model.cmvn_mean.double().numpy() * scale
    return scale, w.astype(np.float64) @ offset


# ---------------------------------------------------------------- one layer

def lstm_layer(gb: GraphBuilder, stack, l: int, x: str, h0: str, c0: str, matvec: str,
               top: bool, cmvn: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[str, str, str]:
    """Wire layer l on x [T, B, m]; returns (per-step output [T, B, .], h_last, c_last), the
    last two [1, B, n]. `cmvn` (first layer only): folded_cmvn's scale and bias shift.

    The per-step output is p = P h when the layer above reuses this layer's projection, else h.
    A shared layer's Scan state is (c, p), not (c, h): h is not needed by the next step, and an
    unused state input makes tract 0.23's Scan declutter fail; h_last is then the last row of
    the per-step h output.
    """
    n, kind = stack.hidden, stack.kinds[l]
    scale, shift = cmvn if cmvn is not None else (None, 0.0)
    bias = (stack.b[l].detach().double().numpy() - shift).astype(np.float32)
    gx = gb.op("Add", [structured_product(gb, x, 3, stack.w_x[l], matvec, scale), gb.const("b", bias)])
    shared = kind == SHARED
    emit_projection = shared and not top and stack.input_is_shared(l + 1)
    r = stack.projections[str(l)].p.shape[0] if shared else 0
    body = GraphBuilder(f"l{l}_", gb.inits)
    c_prev, prev, gx_t = body.name("c"), body.name("p" if shared else "h"), body.name("gx_t")
    if shared:
        rec = structured_product(body, prev, 2, stack.w_h[l], matvec)
    elif kind == TOEPLITZ and matvec == "dense":
        # Rebuilt once in the outer graph (folded at load), used by every step.
        rec = body.op("MatMul", [prev, toeplitz_dense_t(gb, stack.w_h[l])])
    else:
        rec = structured_product(body, prev, 2, stack.w_h[l], matvec)
    i, f, g, o = body.op("Split", [body.op("Add", [gx_t, rec], "gates")], "gate", outputs=4, axis=-1)
    sig = lambda t: body.op("Sigmoid", [t])
    c_new = body.op("Add", [body.op("Mul", [sig(f), c_prev]),
                            body.op("Mul", [sig(i), body.op("Tanh", [g])])], "c_new")
    h_new = body.op("Mul", [sig(o), body.op("Tanh", [c_new])], "h_new")
    p_t = gb.const("p_t", _np(stack.projections[str(l)].p).T) if shared else None
    if shared:
        p_new = body.op("MatMul", [h_new, p_t], "p_new")                    # once per step
        state_out, width = [c_new, p_new], r
        steps = [body.op("Identity", [h_new], "h_t")] + ([body.op("Identity", [p_new], "p_t")]
                                                          if emit_projection else [])
        init = [c0, gb.op("MatMul", [h0, p_t], "p0")]
    else:
        state_out, width = [c_new, h_new], n
        steps = [body.op("Identity", [h_new], "h_t")]
        init = [c0, h0]
    # Batch left unnamed: a named dim would be a new symbol to runtimes that name it themselves.
    vi = lambda name, w: helper.make_tensor_value_info(name, F32, [None, w])
    graph = helper.make_graph(
        body.nodes, f"lstm{l}_step",
        inputs=[vi(c_prev, n), vi(prev, width), vi(gx_t, 4 * n)],
        outputs=[vi(state_out[0], n), vi(state_out[1], width)]
                + [vi(t, w) for t, w in zip(steps, [n, r])])
    outs = gb.op("Scan", init + [gx], f"scan{l}", outputs=2 + len(steps), body=graph,
                 num_scan_inputs=1)
    c_last, last, h_seq = outs[0], outs[1], outs[2]
    axis0 = gb.ints("axes", [0])
    c_last = gb.op("Unsqueeze", [c_last, axis0], f"c_{l}")
    if shared:
        h_last = gb.op("Gather", [h_seq, gb.ints("last", [-1])], f"h_{l}", axis=0)
    else:
        h_last = gb.op("Unsqueeze", [last, axis0], f"h_{l}")
    return outs[-1], h_last, c_last


# ---------------------------------------------------------------- whole model

def build_compact_graph(model, matvec: str = "dense", opset: int = 17) -> onnx.ModelProto:
    """features [B, T, D], h_in/c_in [L, B, n] -> log_probs [B, T, V], h_out, c_out."""
    if matvec not in TOEPLITZ_MATVECS:
        raise ValueError(f"toeplitz matvec {matvec!r} not in {TOEPLITZ_MATVECS}")
    stack, n, layers = model.rnn, model.hidden, model.layers
    dim, vocab = model.config["input_dim"], model.config["vocab"]
    gb = GraphBuilder("")
    x = gb.op("Transpose", ["features"], "x", perm=[1, 0, 2])                   # [T, B, D]
    h_outs, c_outs = [], []
    for l in range(layers):
        start, end, axis0 = gb.ints("start", [l]), gb.ints("end", [l + 1]), gb.ints("axes", [0])
        h0 = gb.op("Squeeze", [gb.op("Slice", ["h_in", start, end, axis0]), axis0], f"h0_{l}")
        c0 = gb.op("Squeeze", [gb.op("Slice", ["c_in", start, end, axis0]), axis0], f"c0_{l}")
        x, h_last, c_last = lstm_layer(gb, stack, l, x, h0, c0, matvec, top=l == layers - 1,
                                       cmvn=folded_cmvn(model, stack.w_x[0].weight().detach().double().numpy())
                                       if l == 0 else None)
        h_outs.append(h_last)
        c_outs.append(c_last)
    gb.nodes += [helper.make_node("Concat", h_outs, ["h_out"], axis=0),
                 helper.make_node("Concat", c_outs, ["c_out"], axis=0)]
    y = gb.op("Transpose", [x], "y_btn", perm=[1, 0, 2])
    out_w = gb.const("out_W", _np(model.output.weight).T)
    logits = gb.op("Add", [gb.op("MatMul", [y, out_w]), gb.const("out_b", _np(model.output.bias))], "logits")
    gb.nodes.append(helper.make_node("LogSoftmax", [logits], ["log_probs"], axis=-1))
    return streaming_model(gb.nodes, gb.inits, f"compact_asr_{model.arch}_lstm_ctc",
                           dim, layers, n, vocab, opset)


def streaming_model(nodes, initializers, name: str, dim: int, layers: int, n: int, vocab: int,
                    opset: int) -> onnx.ModelProto:
    """The checked model of a graph with the server's streaming interface (model.toml's
    [onnx] and [[state]]): features [B, T, D], h_in/c_in [L, B, n] -> log_probs [B, T, V],
    h_out, c_out. Both exporters (dense and compact) end here, so the interface is one."""
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, name,
        inputs=[helper.make_tensor_value_info("features", f32, ["batch", "time", dim]),
                helper.make_tensor_value_info("h_in", f32, [layers, "batch", n]),
                helper.make_tensor_value_info("c_in", f32, [layers, "batch", n])],
        outputs=[helper.make_tensor_value_info("log_probs", f32, ["batch", "time", vocab]),
                 helper.make_tensor_value_info("h_out", f32, [layers, "batch", n]),
                 helper.make_tensor_value_info("c_out", f32, [layers, "batch", n])],
        initializer=initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="compact-asr recipe")
    proto.ir_version = 8
    onnx.checker.check_model(proto, full_check=True)
    return proto


def uses_toeplitz(model) -> bool:
    """Whether the model has Toeplitz-like layers (model.toml then records the mat-vec)."""
    return model.arch != "dense" and TOEPLITZ in model.rnn.kinds

