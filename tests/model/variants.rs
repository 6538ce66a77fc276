//! Every compact model structure the recipe exports (low-rank, shared low-rank, Toeplitz-like
//! by FFT and by dense blocks rebuilt at load, hybrid) runs in tract through the server's own
//! runtime and equals PyTorch: tiny random models from
//! tests/data/compact_models/make_compact_models.py, run in uneven chunks carrying state.

use std::path::PathBuf;
use std::sync::Arc;

use compact_asr::model::spec::Variant;
use compact_asr::model::{AcousticModel, ModelSpec};

use crate::common::reference;
use reference::{max_abs_diff, read_reference, run_chunked};

const FIXTURES: &str = "tests/data/compact_models";

/// Loads a fixture, checks its declared variant, and requires tract's chunked and whole runs
/// to equal PyTorch's whole-utterance log-probs.
fn check_variant(folder: &str, variant: Variant) {
    let dir = PathBuf::from(FIXTURES).join(folder);
    let spec = ModelSpec::load(&dir.join("model.toml")).unwrap();
    assert_eq!(spec.model.variant, variant);
    // Toeplitz-like models record their mat-vec form beside the structure, for people and tools.
    let toml: toml::Table = std::fs::read_to_string(dir.join("model.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let matvec = toml["model"]
        .get("toeplitz_matvec")
        .and_then(|v| v.as_str());
    let want = ["fft", "dense"]
        .into_iter()
        .find(|m| folder.ends_with(&format!("_{m}")));
    assert_eq!(matvec, want, "{folder}: toeplitz_matvec");
    let model =
        Arc::new(AcousticModel::load(&spec, None).unwrap_or_else(|e| panic!("{folder}: {e}")));
    let r = read_reference(&dir);
    assert_eq!((model.input_dim(), model.vocab()), (r.dim, r.vocab));
    let whole = run_chunked(&model, &r.features, &[r.frames]);
    let chunked = run_chunked(&model, &r.features, &[1, 4, 7, 2, 13]);
    let diff = max_abs_diff(&whole, &r.log_probs);
    assert!(
        diff < 1e-4,
        "{folder}: whole run differs from PyTorch by {diff}"
    );
    let diff = max_abs_diff(&chunked, &r.log_probs);
    assert!(
        diff < 1e-4,
        "{folder}: chunked run differs from PyTorch by {diff}"
    );
}

#[test]
fn lowrank_factors_run_as_matmul_chains() {
    check_variant("lowrank", Variant::Lowrank);
}

#[test]
fn shared_lowrank_projection_feeds_the_layer_above() {
    check_variant("shared_lowrank", Variant::SharedLowrank);
}

#[test]
fn toeplitz_like_by_fft_runs_onnx_dft() {
    check_variant("toeplitz_fft", Variant::Toeplitz);
}

#[test]
fn toeplitz_like_dense_blocks_rebuilt_at_load() {
    check_variant("toeplitz_dense", Variant::Toeplitz);
}

#[test]
fn hybrid_by_fft() {
    check_variant("hybrid_fft", Variant::Hybrid);
}

#[test]
fn hybrid_with_dense_toeplitz_blocks() {
    check_variant("hybrid_dense", Variant::Hybrid);
}

/// The two Toeplitz-like exports are the same model: the dense one is smaller on disk (it
/// stores generators, not spectra) and tract gives the same outputs for both.
#[test]
fn toeplitz_fft_and_dense_exports_agree() {
    let load = |folder: &str| {
        let dir = PathBuf::from(FIXTURES).join(folder);
        let size = std::fs::metadata(dir.join("model.onnx")).unwrap().len();
        let spec = ModelSpec::load(&dir.join("model.toml")).unwrap();
        (size, Arc::new(AcousticModel::load(&spec, None).unwrap()))
    };
    let (fft_size, fft) = load("toeplitz_fft");
    let (dense_size, dense) = load("toeplitz_dense");
    assert!(dense_size < fft_size);
    let r = read_reference(&PathBuf::from(FIXTURES).join("toeplitz_fft"));
    let other: Vec<f32> = r.features.iter().rev().copied().collect();
    let by_fft = run_chunked(&fft, &other, &[5, 3]);
    let by_dense = run_chunked(&dense, &other, &[2, 9]);
    assert!(max_abs_diff(&by_fft, &by_dense) < 1e-5);
}
