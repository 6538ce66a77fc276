//! In-process transcription: a WAV file through the very pipeline the server runs, without
//! a network in between. Used by `compact-asr transcribe` (no `--server`) and by `eval`.

use std::path::Path;

use crate::audio::{read_wav_file, DecodedAudio, Encoding};
use crate::error::AsrError;
use crate::pipeline::{Engine, Hypothesis, StreamSettings};

/// The final result of one recording, with what it cost.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub hypothesis: Hypothesis,
    pub audio_seconds: f64,
    pub compute_seconds: f64,
}

/// Transcribes the WAV file at `path`, feeding it in `chunk_ms` pieces as a stream would.
pub async fn transcribe_file(
    engine: &Engine,
    path: &Path,
    chunk_ms: u32,
) -> Result<String, AsrError> {
    let audio = read_wav(path)?;
    Ok(transcribe_audio(engine, audio, chunk_ms)
        .await?
        .hypothesis
        .text)
}

/// Reads a WAV file, naming it in the error.
pub(crate) fn read_wav(path: &Path) -> Result<DecodedAudio, AsrError> {
    read_wav_file(path).map_err(|e| AsrError::InvalidAudio(format!("{}: {e}", path.display())))
}

/// Transcribes decoded mono audio, feeding it in `chunk_ms` pieces (0: all at once). Waits
/// for a free session like any stream; the compute runs on a blocking thread.
pub async fn transcribe_audio(
    engine: &Engine,
    audio: DecodedAudio,
    chunk_ms: u32,
) -> Result<Transcript, AsrError> {
    let settings = StreamSettings {
        encoding: Encoding::Float32,
        sample_rate_hz: audio.sample_rate,
        channels: 1,
        interim_results: false,
    };
    let mut stream = engine.open_stream(settings).await?;
    let piece = match chunk_ms {
        0 => audio.samples.len().max(1),
        ms => (u64::from(audio.sample_rate) * u64::from(ms) / 1000).max(1) as usize,
    };
    tokio::task::spawn_blocking(move || {
        for samples in audio.samples.chunks(piece) {
            stream.accept_samples(samples, audio.sample_rate)?;
        }
        let hypothesis = stream.finish()?;
        Ok(Transcript {
            hypothesis,
            audio_seconds: stream.audio_seconds(),
            compute_seconds: stream.compute_seconds(),
        })
    })
    .await
    .map_err(|e| AsrError::Internal(format!("transcription task failed: {e}")))?
}
