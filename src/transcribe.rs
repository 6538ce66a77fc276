//! In-process transcription of WAV files: the file through the very pipeline the server
//! runs, without a network in between. Used by `compact-asr transcribe` (no `--server`) and
//! by `eval`.

use std::path::Path;

use crate::audio::read_wav_file;
use crate::error::AsrError;
use crate::pipeline::{self, DecodeOptions, Engine, Recording, Transcript};

/// Transcribes the WAV file at `path`, feeding it in `piece_ms` pieces as a stream would.
pub async fn transcribe_file(
    engine: &Engine,
    path: &Path,
    piece_ms: u32,
) -> Result<String, AsrError> {
    Ok(
        recognize_file(engine, path, piece_ms, &DecodeOptions::default())
            .await?
            .text(),
    )
}

/// The WAV file's transcript with its timing, decoded with `options`.
pub async fn recognize_file(
    engine: &Engine,
    path: &Path,
    piece_ms: u32,
    options: &DecodeOptions,
) -> Result<Transcript, AsrError> {
    let audio = read_wav_file(path)?;
    pipeline::recognize(engine, Recording::Samples(audio), piece_ms, options).await
}
