"""Unit tests for features, model, training helpers and the ONNX exporter.

Run: cd models/recipe && .venv/bin/python -m unittest test_recipe
"""
import tempfile
import tomllib
import unittest
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile as sf
import torch

import compare
import export_onnx
import warm_start
import features as F
import distill
import train
from metrics import ErrorRate, edit_distance
from model import VOCAB, AcousticModel, SpecAugment, encode_text, greedy_decode


class FeaturesTest(unittest.TestCase):
    def test_frame_count_follows_snip_edges(self):
        rng = np.random.default_rng(0)
        for n in [0, 399, 400, 559, 560, 16000, 16123]:
            fb = F.fbank(rng.uniform(-0.1, 0.1, n).astype(np.float32))
            self.assertEqual(fb.shape, (0 if n < 400 else 1 + (n - 400) // 160, 80))

    def test_tone_peaks_in_its_mel_bin(self):
        t = np.arange(16000) / 16000
        low = F.fbank((0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32))
        high = F.fbank((0.3 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32))
        self.assertLess(low.mean(0).argmax() + 20, high.mean(0).argmax())

    def test_stacking_concatenates_oldest_first_and_drops_remainder(self):
        fb = np.arange(8 * 80, dtype=np.float32).reshape(8, 80)
        x = F.stack_frames(fb)
        self.assertEqual(x.shape, (2, 240))
        np.testing.assert_array_equal(x[1], np.concatenate([fb[3], fb[4], fb[5]]))

    def test_stacking_with_smaller_hop_overlaps_frames(self):
        fb = np.arange(8 * 80, dtype=np.float32).reshape(8, 80)
        x = F.stack_frames(fb, stack=3, subsample=2)
        self.assertEqual(x.shape, (3, 240))  # starts 0, 2, 4; a frame at 6 would need fbank 8
        np.testing.assert_array_equal(x[2], np.concatenate([fb[4], fb[5], fb[6]]))
        self.assertEqual(F.stack_frames(fb[:2], stack=3, subsample=2).shape, (0, 240))

    def test_cache_roundtrip_and_stats(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            rng = np.random.default_rng(1)
            lines = ["id\tpath\tduration\ttext"]
            for k, n in enumerate([16000, 8000, 24000]):
                sf.write(d / f"u{k}.wav", rng.uniform(-0.2, 0.2, n).astype(np.float32), 16000)
                lines.append(f"u{k}\tu{k}.wav\t{n / 16000}\tsome words")
            (d / "m.tsv").write_text("\n".join(lines) + "\n")
            F.compute(d / "m.tsv", d / "feats", shards=2, procs=1, stats=True)
            shards, utts = F.load_cache(d / "feats")
            self.assertEqual(sorted(u[0] for u in utts), ["u0", "u1", "u2"])
            for uid, shard, off, n, _ in utts:
                want = F.model_features(d / f"{uid}.wav")
                np.testing.assert_allclose(shards[shard][off:off + n], want, rtol=2e-3, atol=2e-2)
            stats = np.load(d / "feats" / "stats.npz")
            allf = np.concatenate([F.model_features(d / f"u{k}.wav") for k in range(3)])
            np.testing.assert_allclose(stats["mean"], allf.mean(0), rtol=1e-4, atol=1e-3)
            self.assertEqual(F.read_frames_config(d / "feats"), {"stack": 3, "subsample": 3})

    def test_cache_records_its_stacking(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            sf.write(d / "u.wav", np.random.default_rng(2).uniform(-0.2, 0.2, 16000).astype(np.float32), 16000)
            (d / "m.tsv").write_text("id\tpath\tduration\ttext\nu\tu.wav\t1.0\tword\n")
            F.compute(d / "m.tsv", d / "feats", shards=1, procs=1, stats=True, stack=4, subsample=2)
            self.assertEqual(F.read_frames_config(d / "feats"), {"stack": 4, "subsample": 2})
            shards, utts = F.load_cache(d / "feats")
            np.testing.assert_allclose(shards[0], F.model_features(d / "u.wav", 4, 2), rtol=2e-3, atol=2e-2)
            self.assertEqual(shards[0].shape, (48, 320))  # 98 fbank frames: starts 0, 2, .., 94
            self.assertEqual(np.load(d / "feats" / "stats.npz")["mean"].shape, (320,))


class TextTest(unittest.TestCase):
    def test_vocab_matches_contract(self):
        self.assertEqual(len(VOCAB), 29)
        self.assertEqual(VOCAB[:4], ["<blank>", " ", "'", "a"])
        self.assertEqual(VOCAB[28], "z")

    def test_greedy_decode_collapses_repeats_and_blanks(self):
        ids = encode_text("too")
        seq = [0, ids[0], ids[0], ids[1], 0, ids[2], 1, 1, 0]
        self.assertEqual(greedy_decode(seq), "too")

    def test_error_rates(self):
        self.assertEqual(edit_distance("kitten", "sitting"), 3)
        er = ErrorRate()
        er.add("the cat sat", "the cat sat down")
        self.assertAlmostEqual(er.wer, 1 / 3)
        self.assertAlmostEqual(er.cer, len(" down") / len("the cat sat"))


class TrainingRunTest(unittest.TestCase):
    """Tiny end-to-end runs of train.main on a random feature cache."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = Path(cls.tmp.name)
        rng = np.random.default_rng(3)
        lines = ["id\tpath\tduration\ttext"]
        for k in range(24):
            n = int(rng.integers(8000, 20000))
            sf.write(d / f"u{k}.wav", rng.uniform(-0.2, 0.2, n).astype(np.float32), 16000)
            lines.append(f"voice-{k:05d}\tu{k}.wav\t{n / 16000}\t{'ab cd'[: 1 + k % 5]}")
        (d / "m.tsv").write_text("\n".join(lines) + "\n")
        F.compute(d / "m.tsv", d / "feats", shards=2, procs=1, stats=True)
        cls.feats = d / "feats"

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_train(self, exp: Path, *extra: str) -> None:
        train.main(["--train", str(self.feats), "--dev", str(self.feats), "--exp", str(exp),
                    "--epochs", "2", "--layers", "1", "--hidden", "16", "--batch-frames", "200",
                    "--batch-utts", "4", "--holdout", "2", "--warmup", "2", "--threads", "1",
                    "--log-every", "1000", *extra])

    def test_resuming_mid_epoch_gives_the_uninterrupted_weights(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            self.run_train(d / "whole")
            calls = 0
            real = train.learning_rate

            def dies_in_epoch_two(*args):
                nonlocal calls
                calls += 1
                if calls == 9:  # epoch 1 has 6 batches (22 utterances); 2 more were saved
                    raise KeyboardInterrupt
                return real(*args)

            train.learning_rate = dies_in_epoch_two
            try:
                with self.assertRaises(KeyboardInterrupt):
                    self.run_train(d / "cut", "--checkpoint-minutes", "0")
            finally:
                train.learning_rate = real
            ck = torch.load(d / "cut" / "last.pt", weights_only=False)
            self.assertEqual((ck["epoch"], ck["partial"]["batch"]), (1, 2))
            self.run_train(d / "cut", "--checkpoint-minutes", "0")
            whole = torch.load(d / "whole" / "last.pt", weights_only=False)
            cut = torch.load(d / "cut" / "last.pt", weights_only=False)
            self.assertEqual(cut["step"], whole["step"])
            for name, w in whole["model"].items():
                torch.testing.assert_close(cut["model"][name], w, rtol=0, atol=0, msg=name)
            self.assertAlmostEqual(cut["history"][-1]["loss"], whole["history"][-1]["loss"], places=5)

    def test_cached_teacher_posteriors_match_the_teacher(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            torch.manual_seed(0)
            teacher = AcousticModel(hidden=16, layers=2).eval()
            got = distill.teacher_posteriors(teacher, self.feats, d / "t", "k1", 300)
            shards, utts = F.load_cache(self.feats)
            for uid, shard, off, n, _ in utts:
                with torch.no_grad():
                    want, _ = teacher(torch.from_numpy(np.array(shards[shard][off:off + n], np.float32))[None])
                np.testing.assert_allclose(got[shard][off:off + n], want[0].numpy(), atol=2e-2, err_msg=uid)
            stamp = (d / "t" / "shard_00.npy").stat().st_mtime_ns
            distill.teacher_posteriors(teacher, self.feats, d / "t", "k1", 300)
            self.assertEqual((d / "t" / "shard_00.npy").stat().st_mtime_ns, stamp)  # reused
            other = AcousticModel(hidden=16, layers=2).eval()
            again = distill.teacher_posteriors(other, self.feats, d / "t", "k2", 300)  # new key
            self.assertFalse(np.allclose(again[0], got[0], atol=1e-2))

    def test_distilled_run_trains_from_the_cache(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            self.run_train(d / "teacher", "--epochs", "1")
            self.run_train(d / "student", "--epochs", "1", "--bf16", "--teacher", str(d / "teacher" / "best.pt"))
            self.assertEqual(len(list((d / "student" / "teacher").glob("shard_*.npy"))), 2)
            self.assertTrue((d / "student" / "best.pt").exists())


class TrainingHelpersTest(unittest.TestCase):
    def test_schedule_warms_up_then_decays_to_floor(self):
        lrs = [train.learning_rate(s, 1000, 1e-3, 100, 0.05) for s in range(1001)]
        self.assertTrue(all(a < b for a, b in zip(lrs[:99], lrs[1:100])))
        self.assertAlmostEqual(max(lrs), 1e-3)
        self.assertAlmostEqual(lrs[-1], 5e-5)

    def test_batches_cover_every_utterance_within_budget(self):
        class Fake:
            utts = [(str(i), 0, 0, n, "", []) for i, n in enumerate([5, 90, 30, 31, 200, 7, 64, 64])]
        batches = train.make_batches(Fake, max_frames=200, max_utts=3, seed=0)
        self.assertEqual(sorted(i for b in batches for i in b), list(range(8)))
        for b in batches:
            self.assertLessEqual(len(b), 3)
            self.assertLessEqual(max(Fake.utts[i][3] for i in b) * len(b), 200)

    def test_length_groups_sort_and_respect_the_budget(self):
        lengths = [5, 90, 30, 31, 250, 7, 64, 64]
        groups = F.length_groups(lengths, max_frames=200)
        flat = [i for g in groups for i in g]
        self.assertEqual(sorted(flat), list(range(8)))
        self.assertEqual([lengths[i] for i in flat], sorted(lengths))
        self.assertEqual(groups[-1], [4])  # over the budget alone: a group of its own
        for g in groups[:-1]:
            self.assertLessEqual(max(lengths[i] for i in g) * len(g), 200)
        # greedy: no group could have taken the next one's first utterance
        for g, nxt in zip(groups, groups[1:]):
            self.assertGreater(lengths[nxt[0]] * (len(g) + 1), 200)


class MelWarpTest(unittest.TestCase):
    def test_warp_moves_a_peak_and_keeps_shape_and_eval_untouched(self):
        aug = SpecAugment(num_mel_bins=80, stack=3, mel_warp=0.1).train()
        x = torch.zeros(64, 2, 240)
        x.view(64, 2, 3, 80)[..., 40] = 1.0           # one "formant" at bin 40, every sub-frame
        torch.manual_seed(0)
        y = aug.warp(x).view(64, 2, 3, 80)
        self.assertEqual(tuple(aug.warp(x).shape), (64, 2, 240))
        peaks = y.argmax(-1)
        # Bin i reads bin i * alpha: the peak moves to ~40 / alpha, i.e. within 36..45,
        # the same in all sub-frames and frames of an utterance, different across them.
        self.assertTrue(((peaks >= 36) & (peaks <= 45)).all())
        self.assertTrue((peaks == peaks[:, :1, :1]).all())
        self.assertGreater(len(set(peaks[:, 0, 0].tolist())), 3)
        self.assertTrue(torch.equal(aug.eval().warp(x), x))
        self.assertTrue(torch.equal(SpecAugment(80, 3).train().warp(x), x))


class ExportTest(unittest.TestCase):
    def test_onnx_matches_pytorch_whole_chunked_and_explicit(self):
        torch.manual_seed(0)
        model = AcousticModel(hidden=64, layers=2).eval()
        model.set_cmvn(torch.randn(240), torch.rand(240) + 0.5)
        x = torch.randn(1, 37, 240) * 3
        with torch.no_grad():
            want, (h, c) = model(x)
            explicit, _ = model(x, explicit=True)
        np.testing.assert_allclose(explicit.numpy(), want.numpy(), atol=1e-5)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "m.onnx"
            path.write_bytes(export_onnx.build_graph(model).SerializeToString())
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            feats = x[0].numpy()
            whole = export_onnx.run_onnx(sess, feats, 2, 64)
            chunked = export_onnx.run_onnx(sess, feats, 2, 64, [1, 7, 3, 16, 10])
            zeros = np.zeros((2, 1, 64), np.float32)
            _, h_out, c_out = sess.run(None, {"features": feats[None], "h_in": zeros, "c_in": zeros})
        np.testing.assert_allclose(whole, want[0].numpy(), atol=1e-5)
        np.testing.assert_allclose(chunked, whole, atol=1e-5)
        np.testing.assert_allclose(h_out, h.numpy(), atol=1e-5)
        np.testing.assert_allclose(c_out, c.numpy(), atol=1e-5)

    def test_a_shipped_dense_model_reads_back_as_the_same_function(self):
        torch.manual_seed(1)
        model = AcousticModel(hidden=32, layers=2).eval()
        model.set_cmvn(torch.randn(240), torch.rand(240) + 0.5)
        mean, std = np.random.default_rng(0).normal(size=240), np.linspace(0.5, 2.0, 240)
        x = torch.randn(2, 29, 240) * 3
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "model.onnx"
            path.write_bytes(export_onnx.build_graph(model).SerializeToString())
            (Path(d) / "model.toml").write_text(export_onnx.model_toml(model, "x", "d"))
            back = warm_start.dense_from_onnx(path, mean, std)
        np.testing.assert_allclose(back.cmvn_mean.numpy(), mean.astype(np.float32))
        self.assertEqual(back.config, model.config)
        with torch.no_grad():
            np.testing.assert_allclose(back(x)[0].numpy(), model(x)[0].numpy(), atol=1e-4)

    def test_a_shipped_compact_model_reads_back_as_the_same_function(self):
        # Both first-layer kinds: Toeplitz-like (keeps its inv_std) and low-rank (takes the new std).
        mean, std = np.random.default_rng(0).normal(size=240), np.linspace(0.5, 2.0, 240)
        x = torch.randn(2, 29, 240) * 3
        for arch, kw in (("hybrid", dict(rank=8, displacement_rank=2, toeplitz_layers=1)),
                         ("shared-lowrank", dict(rank=8))):
            with self.subTest(arch=arch):
                torch.manual_seed(3)
                model = AcousticModel(hidden=32, layers=3, arch=arch, **kw).eval()
                model.set_cmvn(torch.randn(240), torch.rand(240) + 0.5)
                with torch.no_grad():  # biases start at zero: give them values to read back
                    for b in model.rnn.b:
                        b.normal_()
                with tempfile.TemporaryDirectory() as d:
                    path = Path(d) / "model.onnx"
                    path.write_bytes(export_onnx.build_graph(model).SerializeToString())
                    (Path(d) / "model.toml").write_text(export_onnx.model_toml(model, "x", "d"))
                    back = warm_start.compact_from_onnx(path, mean, std)
                self.assertEqual(back.config, model.config)
                np.testing.assert_allclose(back.cmvn_mean.numpy(), mean.astype(np.float32))
                with torch.no_grad():
                    np.testing.assert_allclose(back(x)[0].numpy(), model(x)[0].numpy(), atol=1e-4)
                    # and as a dense teacher of the same function, widened
                    dense = warm_start.widen(warm_start.densify(back), 40)
                    self.assertEqual(dense.arch, "dense")
                    np.testing.assert_allclose(dense(x)[0].numpy(), model(x)[0].numpy(), atol=1e-4)

    def test_a_widened_model_computes_the_same_function(self):
        torch.manual_seed(2)
        model = AcousticModel(hidden=32, layers=3).eval()
        model.set_cmvn(torch.randn(240), torch.rand(240) + 0.5)
        wide = warm_start.widen(model, 48)
        self.assertEqual(wide.hidden, 48)
        self.assertEqual(wide.rnn.weight_hh_l1.shape, (4 * 48, 48))
        x = torch.randn(2, 23, 240) * 3
        with torch.no_grad():
            np.testing.assert_allclose(wide(x)[0].numpy(), model(x)[0].numpy(), atol=1e-5)
            # the new units are live: they compute, and their outgoing weights train
            _, (h, _) = wide(x)
        self.assertGreater(float(h[:, :, 32:].abs().mean()), 1e-3)
        wide.train()
        wide(x)[0].sum().backward()
        self.assertGreater(float(wide.output.weight.grad[:, 32:].abs().sum()), 0)

    def test_model_toml_follows_contract(self):
        cfg = tomllib.loads(export_onnx.model_toml(AcousticModel(hidden=64, layers=2), "x", "d"))
        self.assertEqual(cfg["frames"], {"stack": 3, "subsample": 3})
        cfg = tomllib.loads(export_onnx.model_toml(
            AcousticModel(input_dim=320, hidden=64, layers=2, stack=4, subsample=2), "x", "d"))
        self.assertEqual(cfg["frames"], {"stack": 4, "subsample": 2})
        self.assertEqual(cfg["features"]["high_freq"], 0.0)
        self.assertEqual(cfg["features"]["input_scale"], 32768.0)
        self.assertEqual([s["shape"] for s in cfg["state"]], [[2, 1, 64], [2, 1, 64]])
        self.assertEqual([s["input"] for s in cfg["state"]], ["h_in", "c_in"])
        self.assertEqual(cfg["vocab"]["tokens"], VOCAB)

    def test_decoder_table_names_the_server_keys(self):
        text = export_onnx.model_toml(AcousticModel(hidden=64, layers=2), "x", "d")
        cfg = tomllib.loads(text + export_onnx.decoder_toml("lm.arpa", 0.5, 3.0, 16))
        # exactly the keys the server's config layer accepts (src/config/model_decoder.rs)
        self.assertEqual(cfg["decoder"], {"decoder": "beam", "beam_width": 16, "lm": "lm.arpa",
                                          "lm_weight": 0.5, "word_bonus": 3.0})

    def test_tuned_weights_replace_only_the_decoder_weights(self):
        text = export_onnx.model_toml(AcousticModel(hidden=64, layers=2), "x", "d")
        tuned = export_onnx.with_decoder_weights(
            text + export_onnx.decoder_toml("lm.arpa", 0.5, 3.0, 16), 0.7, 1.0)
        cfg, before = tomllib.loads(tuned), tomllib.loads(text)
        self.assertEqual(cfg["decoder"], {"decoder": "beam", "beam_width": 16, "lm": "lm.arpa",
                                          "lm_weight": 0.7, "word_bonus": 1.0})
        self.assertEqual({k: v for k, v in cfg.items() if k != "decoder"}, before)
        with self.assertRaises(ValueError):  # nothing to tune without an LM
            export_onnx.with_decoder_weights(text, 0.7, 1.0)


class CompareTest(unittest.TestCase):
    def test_reference_hypotheses_are_reused_only_for_the_same_audio_and_params(self):
        with tempfile.TemporaryDirectory() as d:
            rows = []
            for k in range(3):
                path = Path(d) / f"{k}.wav"
                sf.write(path, np.zeros(1600 * (k + 1), np.float32), 16000)
                rows.append({"id": str(k), "path": str(path)})
            calls = []
            def run(todo):
                calls.append([r["id"] for r in todo])
                return [f"hyp {r['id']} {len(calls)}" for r in todo]
            cache = Path(d) / "refs" / "sys.json"
            first = compare.reference_hypotheses("sys", "beam=5", rows, run, cache)
            self.assertEqual(first, ["hyp 0 1", "hyp 1 1", "hyp 2 1"])
            self.assertEqual(compare.reference_hypotheses("sys", "beam=5", rows, run, cache), first)
            self.assertEqual(len(calls), 1)  # all from the cache
            sf.write(rows[1]["path"], np.zeros(800, np.float32), 16000)  # the audio changed
            again = compare.reference_hypotheses("sys", "beam=5", rows, run, cache)
            self.assertEqual(calls[-1], ["1"])
            self.assertEqual(again, ["hyp 0 1", "hyp 1 2", "hyp 2 1"])
            compare.reference_hypotheses("sys", "beam=1", rows[:1], run, cache)  # other params
            self.assertEqual(calls[-1], ["0"])


if __name__ == "__main__":
    unittest.main()
