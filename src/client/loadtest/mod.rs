//! `compact-asr loadtest`: many live callers at once against a running server.
//!
//! Why a tool of our own: fleet sizing needs "how many real-time streams does a replica
//! hold at a latency bound", measured the way callers see it. Each of N concurrent
//! streams connects once and streams recordings from a folder back to back, paced at real
//! time with partial results on, until the test's duration has passed; starts are
//! staggered so chunks do not arrive in lockstep. Everything is bounded: the number of
//! streams, the time to start new recordings, and each recording's own deadline (its
//! length plus a grace period), after which it counts as `DEADLINE_EXCEEDED`.

mod corpus;
mod search;
mod summary;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use super::{connect, stream_audio, StreamOptions};

pub use corpus::{load_corpus, normalise, CorpusError, Utterance};
pub use search::{find_max, FindMaxReport, Trial};
pub use summary::{code_name, LoadTestSummary, Percentiles, Recorder};

/// How long a recording may run past its own length before it counts as timed out.
const GRACE: Duration = Duration::from_secs(30);
/// Pause before a stream retries after a failure, so an unreachable server is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// Starts are spread over at most this long (or a quarter of the test, if shorter).
const MAX_STAGGER: Duration = Duration::from_secs(2);

/// One load test.
#[derive(Debug, Clone)]
pub struct LoadTestConfig {
    /// The server, e.g. `http://127.0.0.1:50051`.
    pub server: String,
    /// Concurrent streams.
    pub streams: usize,
    /// New recordings start until this much time has passed.
    pub duration: Duration,
    /// Audio per request; chunks are sent one chunk duration apart.
    pub chunk_ms: u32,
    /// Draw a progress bar on stderr (only drawn when stderr is a terminal).
    pub progress: bool,
}

/// Runs one load test with `corpus` and summarises it.
pub async fn run(config: &LoadTestConfig, corpus: Arc<Vec<Utterance>>) -> LoadTestSummary {
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let start = Instant::now();
    let deadline = start + config.duration;
    let stagger = (config.duration / 4).min(MAX_STAGGER);
    let streams = config.streams.max(1);
    let tasks: Vec<_> = (0..streams)
        .map(|k| {
            let begin = start + stagger.mul_f64(k as f64 / streams as f64);
            let worker = Worker {
                id: k,
                server: config.server.clone(),
                chunk_ms: config.chunk_ms,
                corpus: Arc::clone(&corpus),
                recorder: Arc::clone(&recorder),
            };
            tokio::spawn(async move { worker.run(begin, deadline).await })
        })
        .collect();
    let bar = config.progress.then(|| progress_bar(config));
    let mut tasks = tasks;
    while !tasks.is_empty() {
        if let Some(bar) = &bar {
            let recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
            bar.set_position(start.elapsed().as_secs().min(config.duration.as_secs()));
            bar.set_message(format!(
                "{} streams · {} done · {} errors",
                streams,
                recorder.utterances(),
                recorder.error_count()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        tasks.retain(|task| !task.is_finished());
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
    recorder.summary(&config.server, streams, config.duration, config.chunk_ms)
}

fn progress_bar(config: &LoadTestConfig) -> ProgressBar {
    let bar = ProgressBar::new(config.duration.as_secs());
    let style = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} s  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// One concurrent stream: a connection and recordings streamed back to back.
struct Worker {
    id: usize,
    server: String,
    chunk_ms: u32,
    corpus: Arc<Vec<Utterance>>,
    recorder: Arc<Mutex<Recorder>>,
}

impl Worker {
    async fn run(self, begin: Instant, deadline: Instant) {
        tokio::time::sleep_until(begin).await;
        let options = StreamOptions {
            chunk_ms: self.chunk_ms,
            realtime: true,
            interim_results: true,
            word_time_offsets: false,
            bearer_token: None,
        };
        let mut client = None;
        let mut next = self.id;
        while Instant::now() < deadline {
            let utterance = &self.corpus[next % self.corpus.len()];
            next += 1;
            let connected = match client.take() {
                Some(c) => Ok(c),
                None => connect(&self.server).await,
            };
            let mut c = match connected {
                Ok(c) => c,
                Err(err) => {
                    self.record(|r| r.failed(&err));
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            };
            let audio_length = Duration::from_secs_f64(
                utterance.audio.samples.len() as f64
                    / f64::from(utterance.audio.sample_rate.max(1)),
            );
            let outcome = tokio::time::timeout(
                audio_length + GRACE,
                stream_audio(&mut c, &utterance.audio, &options),
            )
            .await;
            match outcome {
                Ok(Ok(outcome)) => {
                    self.record(|r| r.finished(&outcome, utterance.reference.as_deref()));
                    client = Some(c);
                }
                Ok(Err(err)) => {
                    self.record(|r| r.failed(&err));
                    client = Some(c);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(_elapsed) => self.record(Recorder::timed_out),
            }
        }
    }

    fn record(&self, f: impl FnOnce(&mut Recorder)) {
        f(&mut self.recorder.lock().unwrap_or_else(PoisonError::into_inner));
    }
}
