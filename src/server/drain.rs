//! Graceful shutdown: stop admitting calls, let open ones finish up to a deadline, then cut
//! the rest after their final result.
//!
//! Why not just tonic's own graceful shutdown: it closes the listener at once (so a
//! readiness probe can no longer see NOT_SERVING) and waits for open streams forever. A
//! live stream may never half-close on its own, so the server needs a deadline, and a
//! stream cut at the deadline must still get the transcript of what it sent.

use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

/// How long streams cut at the deadline get to compute and send their final results.
const CUT_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's open calls and its shutdown deadline; clones share both.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    calls: TaskTracker,
    deadline: CancellationToken,
}

impl Drain {
    /// Admits a call, or `None` once draining has begun. The call counts as open until the
    /// returned token is dropped.
    pub fn admit(&self) -> Option<TaskTrackerToken> {
        (!self.calls.is_closed()).then(|| self.calls.token())
    }

    /// Completes when open streams must stop reading audio and send their final result.
    pub fn deadline(&self) -> WaitForCancellationFuture<'_> {
        self.deadline.cancelled()
    }

    /// Refuses new calls from now on, waits up to `grace` for open calls to end, then cuts
    /// the remaining ones and waits (briefly) for them to send their finals.
    pub async fn run(&self, grace: Duration) {
        self.run_with(grace, CUT_TIMEOUT).await;
    }

    async fn run_with(&self, grace: Duration, cut_timeout: Duration) {
        self.calls.close();
        tracing::info!(
            open_calls = self.calls.len(),
            grace_secs = grace.as_secs_f64(),
            "draining: refusing new calls, waiting for open ones"
        );
        if tokio::time::timeout(grace, self.calls.wait()).await.is_ok() {
            tracing::info!("drained: every call finished");
            return;
        }
        tracing::warn!(
            open_calls = self.calls.len(),
            "shutdown deadline: cutting open streams after their final results"
        );
        self.deadline.cancel();
        if tokio::time::timeout(cut_timeout, self.calls.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open_calls = self.calls.len(),
                "calls still open after being cut; closing their connections"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn about(elapsed: Duration, expected: Duration) -> bool {
        elapsed >= expected && elapsed < expected + Duration::from_secs(1)
    }

    #[tokio::test]
    async fn finished_calls_end_the_drain_before_the_deadline() {
        let drain = Drain::default();
        let call = drain.admit().unwrap();
        let ender = tokio::spawn(async move {
            tokio::time::sleep(100 * MS).await;
            drop(call);
        });
        let started = Instant::now();
        drain.run(Duration::from_secs(30)).await;
        assert!(
            about(started.elapsed(), 100 * MS),
            "{:?}",
            started.elapsed()
        );
        assert!(drain.admit().is_none(), "no calls admitted while draining");
        assert!(!drain.deadline.is_cancelled(), "nobody was cut");
        ender.await.unwrap();
    }

    #[tokio::test]
    async fn calls_open_at_the_deadline_are_cut_and_waited_for() {
        let drain = Drain::default();
        let call = drain.admit().unwrap();
        let stream = {
            let drain = drain.clone();
            tokio::spawn(async move {
                drain.deadline().await;
                // The final result takes a moment to compute and send.
                tokio::time::sleep(100 * MS).await;
                drop(call);
            })
        };
        let started = Instant::now();
        drain.run(200 * MS).await;
        assert!(
            about(started.elapsed(), 300 * MS),
            "{:?}",
            started.elapsed()
        );
        stream.await.unwrap();
    }

    #[tokio::test]
    async fn a_stuck_call_delays_the_end_by_at_most_the_cut_timeout() {
        let drain = Drain::default();
        let _stuck = drain.admit().unwrap();
        let started = Instant::now();
        drain.run_with(100 * MS, 200 * MS).await;
        assert!(
            about(started.elapsed(), 300 * MS),
            "{:?}",
            started.elapsed()
        );
    }
}
