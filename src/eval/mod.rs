//! `compact-asr eval`: word and character error rates of the model on manifests, computed
//! in-process through the same pipeline the server streams through.

mod manifest;
mod score;

use std::fmt;
use std::path::Path;

pub use manifest::{parse_manifest, read_manifest, ManifestEntry, HEADER};
pub use score::{edit_distance, ErrorCount};

use crate::error::AsrError;
use crate::pipeline::{DecodeOptions, Engine};
use crate::transcribe::recognize_file;

/// Audio per piece fed to the stream, as a live client would send it.
const CHUNK_MS: u32 = 100;

/// Scores of one manifest (one evaluation set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalScores {
    pub utterances: usize,
    pub words: ErrorCount,
    pub chars: ErrorCount,
    pub audio_seconds: f64,
    pub compute_seconds: f64,
}

impl EvalScores {
    /// Real-time factor: compute seconds per audio second.
    pub fn rtf(&self) -> f64 {
        self.compute_seconds / self.audio_seconds.max(f64::EPSILON)
    }
}

impl fmt::Display for EvalScores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "utterances={}\tWER={}\tCER={}\taudio={:.1}s\tRTF={:.4}",
            self.utterances,
            self.words,
            self.chars,
            self.audio_seconds,
            self.rtf()
        )
    }
}

/// Transcribes every recording of the manifest at `path` and scores it.
pub async fn evaluate_manifest(engine: &Engine, path: &Path) -> Result<EvalScores, AsrError> {
    let mut scores = EvalScores::default();
    for entry in read_manifest(path)? {
        let transcript =
            recognize_file(engine, &entry.path, CHUNK_MS, &DecodeOptions::default()).await?;
        let text = &transcript.text();
        tracing::debug!(id = %entry.id, reference = %entry.text, hypothesis = %text, "scored");
        scores.utterances += 1;
        scores.words.add(ErrorCount::words(&entry.text, text));
        scores.chars.add(ErrorCount::chars(&entry.text, text));
        scores.audio_seconds += transcript.audio_seconds;
        scores.compute_seconds += transcript.compute_seconds;
    }
    Ok(scores)
}
