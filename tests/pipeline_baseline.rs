//! The trained baseline model on real recordings: every `tests/data/*.wav` with a sibling
//! `*.txt` transcript must come out within 10% character error rate.
//!
//! The baseline's presence (`models/baseline/model.toml`) is the switch: before the recipe
//! exports it there is nothing to run; once it exists the recordings must be there too.

use std::path::{Path, PathBuf};

use compact_asr::eval::ErrorCount;
use compact_asr::pipeline::{Engine, EngineConfig};
use compact_asr::transcribe::transcribe_file;

const BASELINE: &str = "models/baseline/model.toml";

/// `(wav, transcript)` pairs under tests/data.
fn recordings() -> Vec<(PathBuf, String)> {
    let mut pairs: Vec<(PathBuf, String)> = std::fs::read_dir("tests/data")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .filter_map(|wav| {
            let text = std::fs::read_to_string(wav.with_extension("txt")).ok()?;
            Some((
                wav,
                text.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase(),
            ))
        })
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test]
async fn baseline_transcribes_test_recordings_within_ten_percent_cer() {
    if !Path::new(BASELINE).exists() {
        return;
    }
    let recordings = recordings();
    assert!(
        !recordings.is_empty(),
        "models/baseline exists but tests/data has no *.wav + *.txt pairs"
    );
    let engine = Engine::load(EngineConfig::new(BASELINE)).unwrap();
    for (wav, reference) in recordings {
        let text = transcribe_file(&engine, &wav, 100).await.unwrap();
        let cer = ErrorCount::chars(&reference, &text);
        assert!(
            cer.rate() <= 0.10,
            "{}: CER {cer}\n  want {reference:?}\n  got  {text:?}",
            wav.display()
        );
    }
}
