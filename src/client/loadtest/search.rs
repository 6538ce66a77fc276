//! `loadtest --find-max`: the most concurrent streams a server holds with chunk-latency
//! p95 under a bound and no errors.
//!
//! Doubling from the starting count until a trial fails, then bisecting between the last
//! pass and the first failure until they are within about 5% (or 1 stream) of each other,
//! so the search costs O(log n) trials. Each trial is a full [`run`] of the configured
//! duration, with a pause between trials so the server drains.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{run, LoadTestConfig, LoadTestSummary, Utterance};

/// Pause between trials: streams of the previous trial have ended and the server is idle.
const SETTLE: Duration = Duration::from_secs(2);

/// One trial of the search.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub streams: usize,
    pub passed: bool,
    pub summary: LoadTestSummary,
}

/// The search's answer and every trial that led to it.
#[derive(Debug, Clone, Serialize)]
pub struct FindMaxReport {
    /// Most streams that passed (0 if none did).
    pub max_streams: usize,
    pub p95_bound_ms: f64,
    pub trials: Vec<Trial>,
}

/// Searches from `config.streams` streams up to at most `limit`.
pub async fn find_max(
    config: &LoadTestConfig,
    corpus: Arc<Vec<Utterance>>,
    p95_bound_ms: f64,
    limit: usize,
) -> FindMaxReport {
    let mut trials = Vec::new();
    let trial = |streams: usize, settle: bool| {
        let config = LoadTestConfig {
            streams,
            ..config.clone()
        };
        let corpus = Arc::clone(&corpus);
        async move {
            if settle {
                tokio::time::sleep(SETTLE).await;
            }
            let summary = run(&config, corpus).await;
            let passed = passes(&summary, p95_bound_ms);
            eprintln!(
                "find-max: {streams} streams: chunk p95 {} ms, {} errors -> {}",
                summary
                    .chunk_latency_ms
                    .p95
                    .map_or("n/a".into(), |p| format!("{p:.0}")),
                summary.error_count(),
                if passed { "pass" } else { "fail" }
            );
            Trial {
                streams,
                passed,
                summary,
            }
        }
    };
    let limit = limit.max(1);
    let (mut pass, mut fail) = (0, None);
    let mut streams = config.streams.clamp(1, limit);
    loop {
        let t = trial(streams, !trials.is_empty()).await;
        let passed = t.passed;
        trials.push(t);
        if !passed {
            fail = Some(streams);
            break;
        }
        pass = streams;
        if streams == limit {
            break;
        }
        streams = (streams * 2).min(limit);
    }
    while let Some(hi) = fail {
        if hi - pass <= (pass / 20).max(1) {
            break;
        }
        let mid = pass + (hi - pass) / 2;
        let t = trial(mid, true).await;
        if t.passed {
            pass = mid;
        } else {
            fail = Some(mid);
        }
        trials.push(t);
    }
    FindMaxReport {
        max_streams: pass,
        p95_bound_ms,
        trials,
    }
}

/// A trial passes with latency samples, p95 within the bound and no errors.
fn passes(summary: &LoadTestSummary, p95_bound_ms: f64) -> bool {
    summary.error_count() == 0
        && summary
            .chunk_latency_ms
            .p95
            .is_some_and(|p95| p95 <= p95_bound_ms)
}
