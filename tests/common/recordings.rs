//! The committed recordings in tests/data: each `*.wav` with its `*.txt` transcript.
//!
//! Shared (via `#[path]`) by every test that scores the shipped model on real audio.

use std::path::{Path, PathBuf};

/// `(wav, reference)` pairs, sorted; the reference is lower-cased with single spaces.
pub fn recordings() -> Vec<(PathBuf, String)> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut pairs: Vec<_> = std::fs::read_dir(data)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wav"))
        .filter_map(|wav| {
            let text = std::fs::read_to_string(wav.with_extension("txt")).ok()?;
            let words: Vec<_> = text.split_whitespace().collect();
            Some((wav, words.join(" ").to_lowercase()))
        })
        .collect();
    pairs.sort();
    assert!(!pairs.is_empty(), "tests/data has no *.wav + *.txt pairs");
    pairs
}
