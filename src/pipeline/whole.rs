//! Recognising a whole recording at once: the loop behind `Recognize`, `transcribe` (no
//! `--server`) and `eval`.
//!
//! Why one function: a recording is fed to an ordinary stream piece by piece and finished,
//! so a unary request, the in-process CLI and the evaluation all run exactly the code a
//! live stream runs; only how the audio arrives (decoded samples or a client's PCM bytes)
//! differs.

use crate::audio::{DecodedAudio, Encoding};
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

/// A whole recording, as it reaches the engine.
#[derive(Debug)]
pub enum Recording {
    /// Decoded mono samples (a WAV file's).
    Samples(DecodedAudio),
    /// A client's raw PCM bytes, described by its settings.
    Pcm {
        settings: StreamSettings,
        bytes: Vec<u8>,
    },
}

/// Recognises `recording`, feeding it in `piece_ms` pieces as a live stream would (0: all
/// at once). Waits for a free session like any stream; the compute runs on a blocking
/// thread.
pub async fn recognize(
    engine: &Engine,
    recording: Recording,
    piece_ms: u32,
    options: &DecodeOptions,
) -> Result<Transcript, AsrError> {
    let settings = match &recording {
        Recording::Samples(audio) => StreamSettings {
            encoding: Encoding::Float32,
            sample_rate_hz: audio.sample_rate,
            channels: 1,
            interim_results: false,
        },
        Recording::Pcm { settings, .. } => StreamSettings {
            interim_results: false,
            ..settings.clone()
        },
    };
    let rate = u64::from(settings.sample_rate_hz);
    let mut stream = engine.open_stream_with(settings, options).await?;
    let piece = move |unit: usize, total: usize| match piece_ms {
        0 => total.max(1),
        ms => ((rate * u64::from(ms) / 1000) as usize * unit).max(1),
    };
    tokio::task::spawn_blocking(move || {
        let mut results = Vec::new();
        let mut keep_finals = |events: Vec<StreamEvent>| {
            results.extend(events.into_iter().filter_map(|event| match event {
                StreamEvent::Final(h) => Some(h),
                StreamEvent::Partial(_) => None,
            }));
        };
        match &recording {
            Recording::Samples(audio) => {
                for samples in audio.samples.chunks(piece(1, audio.samples.len())) {
                    keep_finals(stream.accept_samples(samples, audio.sample_rate)?);
                }
            }
            Recording::Pcm { settings, bytes } => {
                for chunk in bytes.chunks(piece(settings.frame_bytes(), bytes.len())) {
                    keep_finals(stream.accept_audio(chunk)?);
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
    .map_err(|e| AsrError::Internal(format!("recognition task failed: {e}")))?
}
