//! The tract runtime against outputs of an independent runtime: the tiny model's
//! onnxruntime reference (tests/data/tiny_model/make_tiny_model.py) and, once the recipe has
//! exported them, the shipped models' PyTorch references. Chunked runs carrying the recurrent
//! state must equal one whole run, which is what makes streaming exact.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use compact_asr::decode::CtcGreedy;
use compact_asr::error::AsrError;
use compact_asr::model::{AcousticModel, ModelSpec};

use crate::common::reference;
use reference::{max_abs_diff, read_reference, run_chunked};

const TINY: &str = "tests/data/tiny_model";
const BASELINE: &str = "models/baseline";
const HYBRID: &str = "models/hybrid";

fn load(model_dir: &Path) -> (ModelSpec, Arc<AcousticModel>) {
    let spec = ModelSpec::load(&model_dir.join("model.toml")).unwrap();
    let model = Arc::new(AcousticModel::load(&spec, Some(4)).unwrap());
    (spec, model)
}

/// The reference check the contract asks for: uneven chunks vs the reference whole run.
/// Returns the greedy CTC text of the chunked run.
fn check_against_reference(model_dir: &Path) -> String {
    let (spec, model) = load(model_dir);
    let r = read_reference(model_dir);
    assert_eq!((model.input_dim(), model.vocab()), (r.dim, r.vocab));
    let whole = run_chunked(&model, &r.features, &[r.frames]);
    let chunked = run_chunked(&model, &r.features, &[1, 4, 7, 2, 13]);
    let diff = max_abs_diff(&chunked, &r.log_probs);
    assert!(
        diff < 1e-4,
        "{}: max |diff| {diff} vs reference",
        model_dir.display()
    );
    assert!(
        max_abs_diff(&chunked, &whole) < 1e-5,
        "chunked run differs from the whole run"
    );
    let mut ctc = CtcGreedy::new(spec.vocab.blank_id, spec.vocab.tokens.clone());
    ctc.push(&chunked, model.vocab()).unwrap();
    ctc.text()
}

#[test]
fn tiny_model_matches_onnxruntime_in_uneven_chunks() {
    let text = check_against_reference(Path::new(TINY));
    let want = read_reference(Path::new(TINY)).text;
    assert_eq!(text, want.split_whitespace().collect::<Vec<_>>().join(" "));
}

/// The shipped model in tract, in uneven chunks carrying state, against PyTorch's
/// whole-utterance output that the recipe committed beside it.
#[test]
fn baseline_model_matches_pytorch_reference() {
    check_against_reference(Path::new(BASELINE));
}

/// The default, compressed model (1 Toeplitz-like + 3 shared low-rank layers, Toeplitz blocks
/// rebuilt dense at load) likewise.
#[test]
fn hybrid_model_matches_pytorch_reference() {
    check_against_reference(Path::new(HYBRID));
}

#[test]
fn a_new_session_starts_from_zero_state() {
    let (_, model) = load(Path::new(TINY));
    let r = read_reference(Path::new(TINY));
    let mut session = model.session();
    let first = session.run(&r.features).unwrap();
    let carried = session.run(&r.features).unwrap();
    assert!(
        max_abs_diff(&first, &carried) > 1e-3,
        "state had no effect on the second run"
    );
    assert_eq!(model.session().run(&r.features).unwrap(), first);
    assert!(session.run(&[]).unwrap().is_empty());
    assert!(matches!(
        session.run(&r.features[..10]),
        Err(AsrError::Internal(_))
    ));
}

#[test]
fn interleaved_sessions_keep_their_own_state() {
    let (_, model) = load(Path::new(TINY));
    let r = read_reference(Path::new(TINY));
    let other: Vec<f32> = r.features.iter().rev().copied().collect();
    let (mut a, mut b) = (model.session(), model.session());
    let half = r.frames / 2 * r.dim;
    let mut out_a = a.run(&r.features[..half]).unwrap();
    let mut out_b = b.run(&other[..half]).unwrap();
    out_a.extend(a.run(&r.features[half..]).unwrap());
    out_b.extend(b.run(&other[half..]).unwrap());
    assert!(max_abs_diff(&out_a, &r.log_probs) < 1e-4);
    assert!(max_abs_diff(&out_b, &model.session().run(&other).unwrap()) < 1e-5);
}

/// Copies the tiny model into a temp dir with `edit` applied to its model.toml.
fn tiny_copy(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(TINY).join("model.onnx"),
        tmp.path().join("model.onnx"),
    )
    .unwrap();
    let text = std::fs::read_to_string(Path::new(TINY).join("model.toml")).unwrap();
    let toml = tmp.path().join("model.toml");
    std::fs::write(&toml, edit(text)).unwrap();
    (tmp, toml)
}

fn load_error(toml: &Path) -> String {
    let spec = ModelSpec::load(toml).unwrap();
    match AcousticModel::load(&spec, None) {
        Err(err @ AsrError::ModelLoad { .. }) => err.to_string(),
        other => panic!("expected ModelLoad, got {other:?}"),
    }
}

#[test]
fn contract_mismatches_fail_at_load_with_a_reason() {
    let (_tmp, toml) = tiny_copy(|t| t.replace(", \"z\"]", "]"));
    let msg = load_error(&toml);
    assert!(msg.contains("28 vocab tokens"), "{msg}");

    let (_tmp, toml) = tiny_copy(|t| t.replace("[1, 1, 8]", "[1, 1, 9]"));
    let msg = load_error(&toml);
    assert!(msg.contains("model.onnx") && msg.contains("LSTM"), "{msg}");

    let (_tmp, toml) = tiny_copy(|t| t.replace("output = \"c_out\"", "output = \"c_final\""));
    let msg = load_error(&toml);
    assert!(msg.contains("c_final not found"), "{msg}");
}

#[test]
fn missing_or_corrupt_onnx_fails_at_load() {
    let (tmp, toml) = tiny_copy(|t| t);
    std::fs::write(tmp.path().join("model.onnx"), b"not a protobuf at all").unwrap();
    let msg = load_error(&toml);
    assert!(
        msg.contains("model.onnx") && msg.contains("Protobuf"),
        "{msg}"
    );
    std::fs::remove_file(tmp.path().join("model.onnx")).unwrap();
    let msg = load_error(&toml);
    assert!(
        msg.contains("model.onnx") && msg.contains("No such file"),
        "{msg}"
    );
}
