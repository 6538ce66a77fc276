"""Unit tests of the compact LSTM structures, their ONNX export and SVD compression.

Each structured matrix is compared with the dense matrix it stands for, built the slow, obvious
way (f-circulant matrices from their definition, products of factors by explicit sums).

Run: cd models/recipe && .venv/bin/python -m unittest test_compact
"""
import tempfile
import tomllib
import unittest
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

import compress
import export_onnx
from compact import (LOWRANK, SHARED, TOEPLITZ, CompactLstm, LowRank, Projection, SharedLowRank,
                     ToeplitzLike, layer_kinds, layer_parameter_count)
from model import AcousticModel, LstmLayer, count_parameters, lstm_parameters

torch.set_num_threads(1)


def f_circulant(v: np.ndarray, f: float) -> np.ndarray:
    """Z_f(v) = [v, Z_f v, ..., Z_f^(n-1) v], Z_f the down-shift with f in the top-right corner."""
    n = len(v)
    shift = np.zeros((n, n))
    shift[1:, :-1] = np.eye(n - 1)
    shift[0, -1] = f
    cols, col = [], v.astype(np.float64)
    for _ in range(n):
        cols.append(col)
        col = shift @ col
    return np.stack(cols, axis=1)


def slow_toeplitz_like(tm: ToeplitzLike) -> np.ndarray:
    """The [R n, cols] matrix: blocks sum_i Z_1(g_i) Z_-1(h_i), columns beyond cols dropped."""
    g, h = tm.g.detach().double().numpy(), tm.h.detach().double().numpy()
    rows = []
    for gate in range(tm.row_blocks):
        blocks = [sum(f_circulant(g[gate, j, i], 1.0) @ f_circulant(h[gate, j, i], -1.0)
                      for i in range(tm.rank)) for j in range(tm.k)]
        rows.append(np.concatenate(blocks, axis=1))
    return np.concatenate(rows, axis=0)[:, :tm.cols]


def slow_product(u: torch.Tensor, v: torch.Tensor) -> np.ndarray:
    """U V as a sum of rank-one outer products."""
    u, v = u.detach().double().numpy(), v.detach().double().numpy()
    return sum(np.outer(u[:, i], v[i]) for i in range(u.shape[1]))


class StructuredMatrixTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def test_f_circulant_reference_is_circulant_and_skew_circulant(self):
        v = np.arange(1.0, 5.0)
        np.testing.assert_array_equal(f_circulant(v, 1.0)[:, 1], [4, 1, 2, 3])
        np.testing.assert_array_equal(f_circulant(v, -1.0)[:, 1], [-4, 1, 2, 3])
        np.testing.assert_array_equal(f_circulant(v, -1.0)[0], [1, -4, -3, -2])

    def test_lowrank_is_the_product_of_its_factors(self):
        w = LowRank(12, 7, 3, 0.5)
        want = slow_product(w.u, w.v)
        np.testing.assert_allclose(w.weight().detach().numpy(), want, atol=1e-6)
        x = torch.randn(5, 2, 7)
        np.testing.assert_allclose(w(x).detach().numpy(), x.double().numpy() @ want.T, atol=1e-5)

    def test_shared_lowrank_uses_its_projection(self):
        proj = Projection(6, 2, 0.5)
        w = SharedLowRank(24, proj, 0.5)
        want = slow_product(w.u, proj.p)
        x = torch.randn(4, 6)
        np.testing.assert_allclose(w(x).detach().numpy(), x.double().numpy() @ want.T, atol=1e-5)
        np.testing.assert_allclose(w.from_projected(proj(x)).detach().numpy(), w(x).detach().numpy())
        self.assertEqual([p.shape for p in w.parameters()], [torch.Size([24, 2])])

    def test_toeplitz_like_fft_matvec_equals_explicit_blocks(self):
        # input narrower than n (zero-padded), equal to n, wider and not a multiple of n
        for cols, n, rank in [(5, 8, 2), (8, 8, 1), (19, 8, 3)]:
            tm = ToeplitzLike(4, cols, n, rank, 0.5)
            want = slow_toeplitz_like(tm)
            self.assertEqual(want.shape, (4 * n, cols))
            np.testing.assert_allclose(tm.weight().detach().numpy(), want, atol=1e-5)
            x = torch.randn(3, 2, cols)
            np.testing.assert_allclose(tm(x).detach().numpy(), x.double().numpy() @ want.T, atol=1e-5)

    def test_toeplitz_like_has_2rn_parameters_per_block(self):
        tm = ToeplitzLike(4, 19, 8, 3, 0.5)
        self.assertEqual(sum(p.numel() for p in tm.parameters()), 4 * 3 * (2 * 3 * 8))


class CompactLstmTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(1)

    def test_layer_kinds(self):
        self.assertEqual(layer_kinds("hybrid", 4, 2), [TOEPLITZ, TOEPLITZ, SHARED, SHARED])
        self.assertEqual(layer_kinds("lowrank", 2, 0), [LOWRANK, LOWRANK])
        with self.assertRaises(ValueError):
            layer_kinds("hybrid", 4, 4)

    def test_projection_is_shared_by_recurrent_and_next_input_matrix(self):
        stack = CompactLstm(10, 8, [TOEPLITZ, SHARED, SHARED, SHARED], 3, 2, 0.0)
        self.assertIsInstance(stack.w_x[1], LowRank)  # above a Toeplitz-like layer: own factors
        for l in (1, 2):
            self.assertIs(stack.w_h[l].projection, stack.projections[str(l)])
            self.assertIs(stack.w_x[l + 1].projection, stack.projections[str(l)])
        names = [n for n, _ in stack.named_parameters()]
        self.assertEqual(sum(".p" in n for n in names), 3)  # each projection saved once

    def test_structured_cell_is_the_dense_lstm_cell(self):
        """One layer equals model.LstmLayer (gate order, equations) fed the dense matrices."""
        for kind in (LOWRANK, SHARED, TOEPLITZ):
            stack = CompactLstm(11, 8, [kind], 3, 2, 0.0).eval()
            with torch.no_grad():
                stack.b[0].normal_()
            dense = LstmLayer(11, 8)
            with torch.no_grad():
                dense.w_x.copy_(stack.w_x[0].weight())
                dense.w_h.copy_(stack.w_h[0].weight())
                dense.b.copy_(stack.b[0])
            x, h, c = torch.randn(6, 2, 11), torch.randn(1, 2, 8), torch.randn(1, 2, 8)
            with torch.no_grad():
                want, h_want, c_want = dense(x, h[0], c[0])
                fused, (h_f, c_f) = stack(x, (h, c))
                explicit, (h_e, c_e) = stack.forward_explicit(x, (h, c))
            for got in (fused, explicit):
                np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5, err_msg=kind)
            for got in (h_f[0], h_e[0]):
                np.testing.assert_allclose(got.numpy(), h_want.numpy(), atol=1e-5)
            for got in (c_f[0], c_e[0]):
                np.testing.assert_allclose(got.numpy(), c_want.numpy(), atol=1e-5)

    def test_fused_training_path_reaches_every_factor(self):
        model = AcousticModel(input_dim=240, hidden=8, layers=3, arch="hybrid", rank=2,
                              displacement_rank=1, toeplitz_layers=1)
        model.train()
        log_probs, _ = model(torch.randn(2, 9, 240))
        log_probs.sum().backward()
        for name, p in model.rnn.named_parameters():
            self.assertIsNotNone(p.grad, name)
            self.assertGreater(float(p.grad.abs().sum()), 0.0, name)

    def test_parameter_counts_match_closed_form(self):
        model = AcousticModel(hidden=256, layers=4, arch="hybrid", rank=64, displacement_rank=4,
                              toeplitz_layers=2)
        want = [layer_parameter_count(TOEPLITZ, 240, 256, displacement_rank=4),
                layer_parameter_count(TOEPLITZ, 256, 256, displacement_rank=4),
                layer_parameter_count(SHARED, 256, 256, rank=64),
                layer_parameter_count(SHARED, 256, 256, rank=64, shared_input=True)]
        self.assertEqual(model.rnn.layer_parameters(), want)
        self.assertEqual(sum(want), lstm_parameters(model))
        self.assertEqual(want[0], 8 * 2 * 4 * 256 + 4 * 256)
        for arch, kind in (("lowrank", LOWRANK), ("shared-lowrank", SHARED)):
            m = AcousticModel(hidden=16, layers=3, arch=arch, rank=5)
            self.assertEqual(m.rnn.layer_parameters(), [
                layer_parameter_count(kind, 240, 16, rank=5),
                layer_parameter_count(kind, 16, 16, rank=5, shared_input=kind == SHARED),
                layer_parameter_count(kind, 16, 16, rank=5, shared_input=kind == SHARED)])
        dense = AcousticModel(hidden=256, layers=4)
        self.assertEqual(lstm_parameters(dense), layer_parameter_count("dense", 240, 256)
                         + 3 * layer_parameter_count("dense", 256, 256))

    def test_dense_config_is_unchanged_and_old_checkpoints_load(self):
        old = dict(input_dim=240, hidden=16, layers=2, vocab=29, dropout=0.15, num_mel_bins=80,
                   stack=3, subsample=3)
        model = AcousticModel(**old)
        self.assertEqual(model.config, old)
        self.assertIsInstance(model.rnn, torch.nn.LSTM)
        again = AcousticModel(**model.config)
        again.load_state_dict(model.state_dict())
        compact = AcousticModel(**old, arch="lowrank", rank=3)
        self.assertEqual(AcousticModel(**compact.config).config, compact.config)


def run_all(session, feats, layers, hidden):
    whole = export_onnx.run_onnx(session, feats, layers, hidden)
    chunked = export_onnx.run_onnx(session, feats, layers, hidden, [1, 7, 3, 16, 10])
    return whole, chunked


class CompactExportTest(unittest.TestCase):
    VARIANTS = [("lowrank", dict(rank=3)), ("shared-lowrank", dict(rank=3)),
                ("toeplitz", dict(displacement_rank=2)),
                ("hybrid", dict(rank=3, displacement_rank=2, toeplitz_layers=1))]

    def test_onnx_matches_pytorch_whole_and_chunked(self):
        torch.manual_seed(2)
        x = torch.randn(1, 29, 240) * 3
        for arch, opts in self.VARIANTS:
            model = AcousticModel(hidden=16, layers=3, arch=arch, **opts).eval()
            model.set_cmvn(torch.randn(240), torch.rand(240) + 0.5)
            with torch.no_grad():
                want, (h, c) = model(x)
            for matvec in ("fft", "dense") if arch in ("toeplitz", "hybrid") else ("fft",):
                proto = export_onnx.build_graph(model, matvec)
                session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
                whole, chunked = run_all(session, x[0].numpy(), 3, 16)
                np.testing.assert_allclose(whole, want[0].numpy(), atol=1e-5, err_msg=f"{arch} {matvec}")
                np.testing.assert_allclose(chunked, whole, atol=1e-5)
                zeros = np.zeros((3, 1, 16), np.float32)
                _, h_out, c_out = session.run(None, {"features": x.numpy(), "h_in": zeros, "c_in": zeros})
                np.testing.assert_allclose(h_out, h.numpy(), atol=1e-5)
                np.testing.assert_allclose(c_out, c.numpy(), atol=1e-5)

    def test_factors_are_stored_separately_never_as_a_dense_product(self):
        model = AcousticModel(hidden=16, layers=2, arch="lowrank", rank=3)
        shapes = {tuple(i.dims) for i in export_onnx.build_graph(model).graph.initializer}
        self.assertNotIn((240, 64), shapes)
        self.assertNotIn((16, 64), shapes)
        self.assertTrue({(240, 3), (3, 64), (16, 3)} <= shapes)

    def test_toeplitz_exports_dft_or_generators(self):
        model = AcousticModel(hidden=16, layers=2, arch="toeplitz", displacement_rank=2)
        fft = export_onnx.build_graph(model, "fft")
        dense = export_onnx.build_graph(model, "dense")
        ops = lambda proto: {n.op_type for n in proto.graph.node} | {
            n.op_type for node in proto.graph.node for a in node.attribute if a.g.node for n in a.g.node}
        self.assertIn("DFT", ops(fft))
        self.assertNotIn("DFT", ops(dense))
        self.assertIn("Scan", ops(dense))
        size = lambda proto: sum(np.prod(i.dims) for i in proto.graph.initializer if i.data_type == 1)
        generators = sum(p.numel() for p in model.rnn.parameters() if p.dim() == 4)
        self.assertLess(size(dense), size(fft))
        self.assertLess(size(dense), generators + 240 * 29 + 2000)  # no dense n x n blocks stored

    def test_dense_rebuild_stays_within_the_fold_budget_of_tract(self):
        # tract folds a constant-only node at load only while its output is no bigger than
        # max(its inputs, 4 MiB) and a constant read by several nodes is at most 4 MiB
        # (tract-core CONST_FOLD_MEM_BUDGET); anything else is recomputed on every call.
        # n = 384 is past the size where the old one-gather rebuild (9 MiB) stopped folding.
        from collections import Counter
        from onnx import helper, numpy_helper, shape_inference
        budget = 4 << 20
        model = AcousticModel(hidden=384, layers=1, arch="toeplitz", displacement_rank=4)
        proto = shape_inference.infer_shapes(export_onnx.build_graph(model, "dense"))
        graph = proto.graph
        types = {v.name: v.type.tensor_type.elem_type for v in graph.value_info}
        const = {i.name for i in graph.initializer}
        nodes = []
        for node in graph.node:
            if node.op_type != "Scan" and node.input and all(i in const for i in node.input):
                nodes.append(node)
                const.update(node.output)
        self.assertGreater(len(nodes), 10)  # the rebuild was found
        readers = Counter(i for n in graph.node for i in n.input)
        outs = [o for n in nodes for o in n.output]
        probe = helper.make_model(helper.make_graph(
            nodes, "consts", [], [helper.make_tensor_value_info(o, types[o], None) for o in outs],
            list(graph.initializer)), opset_imports=proto.opset_import)
        values = dict(zip(outs, ort.InferenceSession(probe.SerializeToString(),
                                                     providers=["CPUExecutionProvider"]).run(outs, {})))
        values |= {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for node in nodes:
            ins = sum(values[i].nbytes for i in node.input)
            self.assertLessEqual(values[node.output[0]].nbytes, max(ins, budget), node.name)
            for i in node.input:
                if readers[i] > 1:
                    self.assertLessEqual(values[i].nbytes, budget, f"{node.name} reads {i}")

    def test_model_toml_records_structure(self):
        model = AcousticModel(hidden=16, layers=3, arch="hybrid", rank=3, displacement_rank=2,
                              toeplitz_layers=1)
        cfg = tomllib.loads(export_onnx.model_toml(model, "x", "d", "dense"))
        self.assertEqual(cfg["model"]["variant"], "hybrid")
        self.assertEqual(cfg["model"]["structure"], "toeplitz,shared,shared")
        self.assertEqual(cfg["model"]["toeplitz_matvec"], "dense")
        self.assertEqual(cfg["model"]["lstm_parameters"], lstm_parameters(model))
        cfg = tomllib.loads(export_onnx.model_toml(AcousticModel(hidden=16, layers=2, arch="lowrank", rank=2), "x", "d"))
        self.assertNotIn("toeplitz_matvec", cfg["model"])
        self.assertNotIn("structure", tomllib.loads(export_onnx.model_toml(AcousticModel(hidden=16, layers=2), "x", "d"))["model"])


class CompressTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(3)

    def test_truncation_error_is_the_discarded_energy(self):
        w = torch.randn(40, 12) @ torch.diag(torch.linspace(3, 0.1, 12)) @ torch.randn(12, 12)
        for rank in (1, 5, 12, 14):
            u, v, s = compress.truncated_svd(w, rank)
            err = float(((w.double() - u.double() @ v.double()) ** 2).sum())
            self.assertAlmostEqual(err, float((s[rank:] ** 2).sum()), delta=1e-4 * float((s ** 2).sum()))
            self.assertEqual((u.shape, v.shape), ((40, rank), (rank, 12)))  # 14: zero-padded

    def test_rank_from_energy_threshold(self):
        s = torch.tensor([3.0, 2.0, 1.0, 1.0])  # energies 9, 4, 1, 1 of 15
        self.assertEqual(compress.rank_for_energy(s, 0.5), 1)
        self.assertEqual(compress.rank_for_energy(s, 0.6), 1)
        self.assertEqual(compress.rank_for_energy(s, 13 / 15), 2)
        self.assertEqual(compress.rank_for_energy(s, 0.87), 3)
        self.assertEqual(compress.rank_for_energy(s, 1.0), 4)

    def test_full_rank_compression_reproduces_the_dense_model(self):
        dense = AcousticModel(hidden=8, layers=3).eval()
        dense.set_cmvn(torch.randn(240), torch.rand(240) + 0.5)
        x = torch.randn(1, 13, 240)
        with torch.no_grad():
            want = dense(x)[0]
            for arch in ("lowrank", "shared-lowrank"):
                model, kept = compress.compress(dense, arch, 32)  # full rank of every W (4n = 32)
                self.assertAlmostEqual(kept, 1.0, places=6)
                np.testing.assert_allclose(model(x)[0].numpy(), want.numpy(), atol=1e-4, err_msg=arch)
                low, kept = compress.compress(dense, arch, 2)
                self.assertLess(kept, 1.0)
                self.assertLess(lstm_parameters(low), lstm_parameters(dense))

    def test_shared_compression_factors_stacked_pairs(self):
        dense = AcousticModel(hidden=8, layers=2).eval()
        layers = compress.dense_layers(dense)
        model, _ = compress.compress(dense, "shared-lowrank", 3)
        stacked = torch.cat([layers[0][1], layers[1][0]]).double()
        u, v, _ = compress.truncated_svd(stacked, 3)
        best = (u.double() @ v.double()).numpy()
        got = torch.cat([model.rnn.w_h[0].weight(), model.rnn.w_x[1].weight()]).detach().numpy()
        np.testing.assert_allclose(got, best, atol=1e-5)

    def test_toeplitz_fit_recovers_a_toeplitz_like_matrix(self):
        target = ToeplitzLike(4, 16, 16, 2, 0.25)
        w = target.weight().detach()
        fitted = ToeplitzLike(4, 16, 16, 2, 0.25)
        before = float((fitted.weight() - w).pow(2).sum())
        compress.fit_toeplitz(fitted, w, steps=1500)
        after = float((fitted.weight() - w).pow(2).sum())
        self.assertLess(after, 1e-3 * float(w.pow(2).sum()))
        self.assertLess(after, before)

    def test_hybrid_compression_fits_toeplitz_and_factors_shared_layers(self):
        dense = AcousticModel(hidden=16, layers=3).eval()
        layers = compress.dense_layers(dense)
        model, kept = compress.compress(dense, "hybrid", 64, displacement_rank=2, toeplitz_layers=1,
                                        fit_steps=200)
        self.assertEqual(model.rnn.kinds, ["toeplitz", "shared", "shared"])
        self.assertTrue(0.0 < kept < 1.0)  # the Toeplitz-like layer cannot be exact
        # Full rank (64 >= 4n): the shared layers reproduce their dense matrices exactly.
        for l in (1, 2):
            np.testing.assert_allclose(model.rnn.w_x[l].weight().detach().numpy(), layers[l][0].numpy(), atol=1e-4)
            np.testing.assert_allclose(model.rnn.w_h[l].weight().detach().numpy(), layers[l][1].numpy(), atol=1e-4)
        # The fitted Toeplitz-like layer is closer to the dense one than a fresh random one.
        fresh = AcousticModel(hidden=16, layers=3, arch="hybrid", rank=64, displacement_rank=2, toeplitz_layers=1)
        err = lambda m: float((m.rnn.w_h[0].weight() - layers[0][1]).pow(2).sum())
        self.assertLess(err(model), err(fresh))

    def test_checkpoint_loads_for_export_and_training(self):
        dense = AcousticModel(hidden=8, layers=2).eval()
        model, _ = compress.compress(dense, "lowrank", 3)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "c.pt"
            compress.save_checkpoint(model, path, Path("dense.pt"), {})
            loaded = export_onnx.load_model(path)
            self.assertEqual(loaded.config["rank"], 3)
            fresh = AcousticModel(hidden=8, layers=2, arch="lowrank", rank=3)
            fresh.load_state_dict(torch.load(path, weights_only=False)["model"])  # train.py --init
        self.assertEqual(count_parameters(loaded), count_parameters(model))


if __name__ == "__main__":
    unittest.main()
