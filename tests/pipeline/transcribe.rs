//! In-process `transcribe` and `eval` on the tiny model: files through the same pipeline
//! the server runs, scored against reference text.

use std::path::{Path, PathBuf};

use compact_asr::audio::AudioError;
use compact_asr::error::AsrError;
use compact_asr::eval::{evaluate_manifest, ErrorCount};
use compact_asr::pipeline::{Engine, EngineConfig};
use compact_asr::transcribe::transcribe_file;

const TINY: &str = "tests/data/tiny_model";

fn engine() -> Engine {
    Engine::load(EngineConfig::new(Path::new(TINY).join("model.toml"))).unwrap()
}

fn tone() -> PathBuf {
    Path::new(TINY).join("tone.wav").canonicalize().unwrap()
}

fn expected_text() -> String {
    let text = std::fs::read_to_string(Path::new(TINY).join("tone.expected.txt")).unwrap();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn transcribe_file_gives_the_reference_text_for_any_chunk_size() {
    let engine = engine();
    for chunk_ms in [0, 20, 100, 1000] {
        assert_eq!(
            transcribe_file(&engine, &tone(), chunk_ms).await.unwrap(),
            expected_text()
        );
    }
    let missing = transcribe_file(&engine, Path::new("no/such.wav"), 100)
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, AsrError::Audio(AudioError::File { path, .. }) if path.ends_with("no/such.wav"))
            && missing.to_string().contains("no/such.wav"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn eval_scores_a_manifest() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    std::fs::copy(tone(), &wav).unwrap();
    let text = expected_text();
    let manifest = dir.path().join("test.tsv");
    // Paths are relative to the manifest; the second reference has one word more.
    std::fs::write(
        &manifest,
        format!(
            "id\tpath\tduration\ttext\na\ttone.wav\t2.0\t{text}\nb\ttone.wav\t2.0\t{text} extra\n"
        ),
    )
    .unwrap();
    let scores = evaluate_manifest(&engine, &manifest).await.unwrap();
    let words = text.split(' ').count();
    assert_eq!(scores.utterances, 2);
    assert_eq!(
        scores.words,
        ErrorCount {
            edits: 1,
            reference_len: 2 * words + 1
        }
    );
    assert_eq!(
        scores.chars,
        ErrorCount {
            edits: 6,
            reference_len: 2 * text.len() + 6
        }
    );
    assert!((scores.audio_seconds - 4.0).abs() < 1e-9);
    assert!(scores.rtf() > 0.0);
    let line = scores.to_string();
    assert!(line.starts_with("utterances=2\tWER="), "{line}");

    std::fs::write(&manifest, "id\tpath\ttext\n").unwrap();
    assert!(matches!(
        evaluate_manifest(&engine, &manifest).await,
        Err(AsrError::InvalidConfig(_))
    ));
}
