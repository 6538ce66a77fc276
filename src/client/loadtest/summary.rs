//! What a load test measured, and the JSON it prints.
//!
//! Per-chunk latency is sampled at each partial result: from sending the chunk that
//! completed the audio the partial covers (its `result_end_time`) to receiving the
//! partial. Partials only come when the text changes, so not every chunk gets a sample,
//! but every sample is the server's full delay (queueing, features, model, network) for
//! the newest audio it had. A partial covering audio that ends inside a chunk is charged
//! to that chunk, so a sample is never shorter than the true delay.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::{ClientError, StreamOutcome};
use crate::eval::ErrorCount;

/// Nearest-rank percentiles of a set of latencies, in milliseconds; `None` without samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Percentiles {
    /// Percentiles of `samples` (milliseconds).
    pub fn of(mut samples: Vec<f64>) -> Percentiles {
        samples.sort_by(f64::total_cmp);
        let rank = |p: f64| -> Option<f64> {
            let n = samples.len();
            let ix = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
            samples.get(ix).copied()
        };
        Percentiles {
            count: samples.len(),
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: samples.last().copied(),
        }
    }
}

/// One load test's results, as printed (`--json` prints exactly this).
#[derive(Debug, Clone, Serialize)]
pub struct LoadTestSummary {
    pub server: String,
    /// Concurrent streams held.
    pub streams: usize,
    pub duration_s: f64,
    pub chunk_ms: u32,
    /// Recordings streamed to their final result.
    pub utterances: usize,
    /// Recordings attempted: streamed to their final result or failed (`utterances` plus
    /// every error), so `utterances == attempts` means every final was delivered.
    pub attempts: usize,
    /// Final results received, counting each mid-stream endpoint's final (at least one per
    /// utterance).
    pub finals: usize,
    pub audio_seconds: f64,
    /// Chunk sent → the first partial covering it (see the module doc).
    pub chunk_latency_ms: Percentiles,
    /// Last chunk sent (end of stream) → final result.
    pub final_latency_ms: Percentiles,
    /// Failed recordings by gRPC status code name (`UNAVAILABLE`, `RESOURCE_EXHAUSTED`, ...).
    pub errors: BTreeMap<String, usize>,
    /// Word error rate over the recordings with a reference; `None` without references.
    pub wer: Option<f64>,
}

impl LoadTestSummary {
    /// Failed recordings, whatever the code.
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }
}

impl fmt::Display for LoadTestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.0}"));
        let line = |f: &mut fmt::Formatter<'_>, name: &str, p: &Percentiles| {
            writeln!(
                f,
                "{name:<16} p50 {} / p95 {} / p99 {} / max {} ms ({} samples)",
                ms(p.p50),
                ms(p.p95),
                ms(p.p99),
                ms(p.max),
                p.count
            )
        };
        writeln!(f, "server:          {}", self.server)?;
        writeln!(
            f,
            "streams:         {} for {:.0} s, {} ms chunks",
            self.streams, self.duration_s, self.chunk_ms
        )?;
        writeln!(
            f,
            "recordings:      {} of {} to their final ({} finals, {:.1} s of audio)",
            self.utterances, self.attempts, self.finals, self.audio_seconds
        )?;
        line(f, "chunk latency:", &self.chunk_latency_ms)?;
        line(f, "final latency:", &self.final_latency_ms)?;
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(
            f,
            "errors:          {}",
            if errors.is_empty() {
                "none".to_owned()
            } else {
                errors.join(", ")
            }
        )?;
        match self.wer {
            Some(wer) => writeln!(f, "WER:             {:.2}%", wer * 100.0),
            None => writeln!(f, "WER:             n/a (no references)"),
        }
    }
}

/// Collects results while the streams run.
#[derive(Debug, Default)]
pub struct Recorder {
    chunk_ms: Vec<f64>,
    final_ms: Vec<f64>,
    errors: BTreeMap<String, usize>,
    words: Option<ErrorCount>,
    utterances: usize,
    finals: usize,
    audio: Duration,
}

impl Recorder {
    /// Records a recording streamed to its final result.
    pub fn finished(&mut self, outcome: &StreamOutcome, reference: Option<&str>) {
        self.utterances += 1;
        self.finals += 1 + outcome.earlier_finals.len();
        self.audio += outcome.audio;
        self.chunk_ms.extend(chunk_latencies(outcome));
        self.final_ms
            .push(millis(outcome.final_received, outcome.last_chunk_sent()));
        if let Some(reference) = reference {
            let hypothesis = super::corpus::normalise(&outcome.transcript());
            self.words
                .get_or_insert_with(ErrorCount::default)
                .add(ErrorCount::words(reference, &hypothesis));
        }
    }

    /// Records a recording that failed.
    pub fn failed(&mut self, error: &ClientError) {
        *self.errors.entry(code_name(error)).or_default() += 1;
    }

    /// Records a recording that outlived its time limit.
    pub fn timed_out(&mut self) {
        *self.errors.entry("DEADLINE_EXCEEDED".into()).or_default() += 1;
    }

    pub fn utterances(&self) -> usize {
        self.utterances
    }

    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    /// The summary; `server`, `streams`, `duration` and `chunk_ms` describe the test.
    pub fn summary(
        &self,
        server: &str,
        streams: usize,
        duration: Duration,
        chunk_ms: u32,
    ) -> LoadTestSummary {
        LoadTestSummary {
            server: server.to_owned(),
            streams,
            duration_s: duration.as_secs_f64(),
            chunk_ms,
            utterances: self.utterances,
            attempts: self.utterances + self.error_count(),
            finals: self.finals,
            audio_seconds: self.audio.as_secs_f64(),
            chunk_latency_ms: Percentiles::of(self.chunk_ms.clone()),
            final_latency_ms: Percentiles::of(self.final_ms.clone()),
            errors: self.errors.clone(),
            wer: self.words.map(|w| w.rate()),
        }
    }
}

/// One latency sample per partial: received − sent time of the chunk holding its end.
fn chunk_latencies(outcome: &StreamOutcome) -> impl Iterator<Item = f64> + '_ {
    let chunk = outcome.chunk.as_secs_f64().max(f64::EPSILON);
    outcome.partials.iter().filter_map(move |partial| {
        let end = partial.end_time.as_secs_f64();
        let ix = ((end / chunk).ceil() as usize).saturating_sub(1);
        let sent = outcome.chunks_sent.get(ix)?;
        Some(millis(partial.received, *sent))
    })
}

fn millis(later: Instant, earlier: Instant) -> f64 {
    later.saturating_duration_since(earlier).as_secs_f64() * 1000.0
}

/// The gRPC name of the status a client error stands for; failures to connect are
/// `UNAVAILABLE`, as gRPC clients report them.
pub fn code_name(error: &ClientError) -> String {
    let code = match error {
        ClientError::Rpc(status) => status.code(),
        ClientError::Connect { .. } => tonic::Code::Unavailable,
        ClientError::Url { .. }
        | ClientError::Audio(_)
        | ClientError::ReadCa { .. }
        | ClientError::Token => tonic::Code::InvalidArgument,
        ClientError::NoFinal => return "NO_FINAL_RESULT".into(),
    };
    crate::metrics::code_label(code).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).rev().map(f64::from).collect());
        assert_eq!(
            (p.count, p.p50, p.p95, p.p99, p.max),
            (100, Some(50.0), Some(95.0), Some(99.0), Some(100.0))
        );
        let one = Percentiles::of(vec![7.0]);
        assert_eq!((one.p50, one.p99), (Some(7.0), Some(7.0)));
        assert_eq!(Percentiles::of(Vec::new()).p95, None);
    }

    #[test]
    fn attempts_count_failures_and_finals_count_every_endpoint() {
        use crate::proto::StreamingRecognitionResult;
        let now = Instant::now();
        let outcome = StreamOutcome {
            final_result: StreamingRecognitionResult::default(),
            earlier_finals: vec![StreamingRecognitionResult::default(); 2],
            partials: Vec::new(),
            audio: Duration::from_secs(3),
            chunk: Duration::from_millis(100),
            chunks_sent: vec![now],
            final_received: now,
        };
        let mut recorder = Recorder::default();
        recorder.finished(&outcome, None);
        recorder.finished(
            &StreamOutcome {
                earlier_finals: Vec::new(),
                ..outcome
            },
            None,
        );
        recorder.failed(&ClientError::NoFinal);
        recorder.timed_out();
        let summary = recorder.summary("http://x", 1, Duration::from_secs(1), 100);
        assert_eq!(
            (summary.utterances, summary.attempts, summary.finals),
            (2, 4, 4)
        );
        assert!(summary
            .to_string()
            .contains("2 of 4 to their final (4 finals"));
    }

    #[test]
    fn status_codes_get_their_grpc_names() {
        let busy = ClientError::Rpc(tonic::Status::resource_exhausted("busy"));
        assert_eq!(code_name(&busy), "RESOURCE_EXHAUSTED");
        let bad = ClientError::Rpc(tonic::Status::invalid_argument("no"));
        assert_eq!(code_name(&bad), "INVALID_ARGUMENT");
        assert_eq!(code_name(&ClientError::NoFinal), "NO_FINAL_RESULT");
    }
}
