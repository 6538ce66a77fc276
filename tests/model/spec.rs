//! `model.toml` parsing and validation: the contract file is read strictly, and every broken
//! field fails at load time with a message naming it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use compact_asr::error::AsrError;
use compact_asr::model::spec::{ModelSpec, Variant};

const TINY: &str = "tests/data/tiny_model/model.toml";

fn tiny_text() -> String {
    std::fs::read_to_string(TINY).unwrap()
}

/// Parses the tiny model's TOML with `from` replaced by `to` (which must occur).
fn parse_edited(from: &str, to: &str) -> Result<ModelSpec, String> {
    let text = tiny_text();
    assert!(text.contains(from), "fixture lacks {from:?}");
    ModelSpec::parse(&text.replacen(from, to, 1), PathBuf::from("x"))
}

fn assert_rejected(from: &str, to: &str, needle: &str) {
    match parse_edited(from, to) {
        Ok(_) => panic!("accepted {to:?} in place of {from:?}"),
        Err(msg) => assert!(
            msg.contains(needle),
            "{from:?} -> {to:?}: message {msg:?} lacks {needle:?}"
        ),
    }
}

#[test]
fn tiny_model_toml_parses_with_contract_values() {
    let spec = ModelSpec::load(Path::new(TINY)).unwrap();
    assert_eq!(spec.model.name, "tiny");
    assert_eq!(spec.model.variant, Variant::Dense);
    assert_eq!(
        spec.onnx_path(),
        Path::new("tests/data/tiny_model/model.onnx")
    );
    assert_eq!(spec.features.sample_rate, 16000);
    assert_eq!(spec.input_dim(), 240);
    assert_eq!(spec.model_frame_duration(), Duration::from_millis(30));
    let names: Vec<_> = spec
        .states
        .iter()
        .map(|s| (s.input.as_str(), s.output.as_str()))
        .collect();
    assert_eq!(names, [("h_in", "h_out"), ("c_in", "c_out")]);
    assert_eq!(spec.states[0].shape_for_batch(5), [1, 5, 8]);
    assert_eq!(spec.vocab.tokens.len(), 29);
    assert_eq!(spec.vocab.tokens[1], " ");
}

#[test]
fn state_layout_errors_name_the_entry() {
    assert_rejected(
        "batch_axis = 1",
        "batch_axis = 3",
        "batch_axis 3 is outside",
    );
    assert_rejected("shape = [1, 1, 8]", "shape = [1, 2, 8]", "must be 1");
    assert_rejected("shape = [1, 1, 8]", "shape = [1, 1, 0]", "no zero");
    assert_rejected("input = \"c_in\"", "input = \"h_in\"", "used twice");
    assert_rejected("output = \"h_out\"", "output = \"log_probs\"", "used twice");
}

#[test]
fn vocab_frames_and_feature_errors_are_caught() {
    assert_rejected("blank_id = 0", "blank_id = 29", "blank_id 29 is outside");
    assert_rejected("\"<blank>\", \" \"", "\"<blank>\", \"a\"", "appears twice");
    assert_rejected("stack = 3", "stack = 0", "[frames]");
    assert_rejected("num_mel_bins = 80", "num_mel_bins = 0", "[features]");
    assert_rejected("low_freq = 20.0", "low_freq = 9000.0", "[features]");
    assert_rejected("name = \"tiny\"", "name = \" \"", "name is empty");
}

#[test]
fn unknown_keys_and_values_in_read_tables_are_rejected() {
    assert_rejected("subsample = 3", "subsample = 3\nskip = 1", "skip");
    assert_rejected("variant = \"dense\"", "variant = \"sparse\"", "sparse");
    assert_rejected(
        "input_scale = 32768.0",
        "input_scale = 32768.0\ndither = 1.0",
        "dither",
    );
    assert_rejected("[vocab]", "[vocabulary]", "vocab");
    // Metadata for people is allowed in [model] and in tables the server does not read.
    parse_edited(
        "variant = \"dense\"",
        "variant = \"dense\"\ntrained_on = \"synthetic\"",
    )
    .unwrap();
    parse_edited("[frames]", "[training]\nepochs = 3\n\n[frames]").unwrap();
}

#[test]
fn a_stateless_model_needs_no_state_entries() {
    let text = tiny_text();
    let cut = text.find("[[state]]").unwrap();
    let vocab = text.find("[vocab]").unwrap();
    let stateless = format!("{}{}", &text[..cut], &text[vocab..]);
    assert!(ModelSpec::parse(&stateless, PathBuf::from("."))
        .unwrap()
        .states
        .is_empty());
}

#[test]
fn missing_file_is_a_model_load_error_with_its_path() {
    let err = ModelSpec::load(Path::new("no/such/model.toml")).unwrap_err();
    match &err {
        AsrError::ModelLoad { path, .. } => assert_eq!(path, Path::new("no/such/model.toml")),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("no/such/model.toml"), "{err}");
}
