//! One-stream benchmark over gRPC: how fast the server recognises a recording streamed as
//! fast as possible, and how long the final result takes after the last chunk.
//!
//! Measured from the client, so the figures include the network path and every server
//! stage, which is what a caller experiences.

use std::fmt;
use std::time::Duration;

use crate::audio::DecodedAudio;

use super::{connect, stream_audio, ClientError, StreamOptions};

/// The figures `compact-asr bench` prints.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub audio: Duration,
    /// From the first chunk sent to the final result received.
    pub processing: Duration,
    /// From the last chunk sent to the final result received.
    pub final_latency: Duration,
    pub chunk_ms: u32,
    /// Chunks were paced at real time (the latency a live caller sees; no RTF then).
    pub realtime: bool,
    pub partials: usize,
    pub transcript: String,
}

impl BenchReport {
    /// Processing time over audio duration: below 1 keeps up with live audio.
    pub fn real_time_factor(&self) -> f64 {
        self.processing.as_secs_f64() / self.audio.as_secs_f64().max(f64::EPSILON)
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "audio:              {:.2} s", self.audio.as_secs_f64())?;
        writeln!(f, "chunk:              {} ms", self.chunk_ms)?;
        writeln!(
            f,
            "processing:         {:.3} s",
            self.processing.as_secs_f64()
        )?;
        if self.realtime {
            writeln!(f, "real-time factor:   n/a (chunks paced at real time)")?;
        } else {
            writeln!(f, "real-time factor:   {:.4}", self.real_time_factor())?;
        }
        writeln!(
            f,
            "final latency:      {:.1} ms (last chunk sent -> final received)",
            self.final_latency.as_secs_f64() * 1000.0
        )?;
        writeln!(f, "partials:           {}", self.partials)?;
        write!(f, "transcript:         {}", self.transcript)
    }
}

/// Streams `audio` once to the server at `url` with interim results on (as a live client
/// would ask): as fast as the server accepts it, or paced at real time when `realtime`.
///
/// Streamed as fast as possible, the final latency includes the server's backlog of
/// chunks; paced at real time, it is the delay a live caller waits after speaking.
pub async fn run(
    url: &str,
    audio: &DecodedAudio,
    chunk_ms: u32,
    realtime: bool,
) -> Result<BenchReport, ClientError> {
    let mut client = connect(url).await?;
    let options = StreamOptions {
        chunk_ms,
        realtime,
        interim_results: true,
        ..StreamOptions::default()
    };
    let outcome = stream_audio(&mut client, audio, &options).await?;
    Ok(BenchReport {
        audio: outcome.audio,
        processing: outcome
            .final_received
            .duration_since(outcome.first_chunk_sent()),
        final_latency: outcome
            .final_received
            .duration_since(outcome.last_chunk_sent()),
        chunk_ms,
        realtime,
        partials: outcome.partials.len(),
        transcript: outcome.transcript(),
    })
}
