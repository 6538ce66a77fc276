//! In-process transcription: a WAV file through the very pipeline the server runs, without
//! a network in between. Used by `compact-asr transcribe` (no `--server`) and by `eval`.

use std::path::Path;

use crate::audio::{read_wav_file, DecodedAudio, Encoding};
use crate::error::AsrError;
use crate::pipeline::{DecodeOptions, Engine, Hypothesis, StreamEvent, StreamSettings};

/// The final results of one recording (one per utterance, in order), with what it cost.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// Never empty: the last one is the utterance in progress at the end (maybe no text).
    pub results: Vec<Hypothesis>,
    pub audio_seconds: f64,
    pub compute_seconds: f64,
}

impl Transcript {
    /// The whole recording's text: the utterances' best texts joined by spaces.
    pub fn text(&self) -> String {
        self.results
            .iter()
            .map(|h| h.text.as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Transcribes the WAV file at `path`, feeding it in `chunk_ms` pieces as a stream would.
pub async fn transcribe_file(
    engine: &Engine,
    path: &Path,
    chunk_ms: u32,
) -> Result<String, AsrError> {
    let audio = read_wav(path)?;
    Ok(
        transcribe_audio(engine, audio, chunk_ms, &DecodeOptions::default())
            .await?
            .text(),
    )
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
    options: &DecodeOptions,
) -> Result<Transcript, AsrError> {
    let settings = StreamSettings {
        encoding: Encoding::Float32,
        sample_rate_hz: audio.sample_rate,
        channels: 1,
        interim_results: false,
    };
    let mut stream = engine.open_stream_with(settings, options).await?;
    let piece = match chunk_ms {
        0 => audio.samples.len().max(1),
        ms => (u64::from(audio.sample_rate) * u64::from(ms) / 1000).max(1) as usize,
    };
    tokio::task::spawn_blocking(move || {
        let mut results = Vec::new();
        for samples in audio.samples.chunks(piece) {
            for event in stream.accept_samples(samples, audio.sample_rate)? {
                if let StreamEvent::Final(h) = event {
                    results.push(h);
                }
            }
        }
        results.extend(stream.finish()?);
        Ok(Transcript {
            results,
            audio_seconds: stream.audio_seconds(),
            compute_seconds: stream.compute_seconds(),
        })
    })
    .await
    .map_err(|e| AsrError::Internal(format!("transcription task failed: {e}")))?
}
