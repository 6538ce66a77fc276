//! Running a stream's CPU-bound work from async code.
//!
//! Why here: every network front door (the gRPC service, the WebSocket endpoint) feeds a
//! [`RecognitionStream`] from a tokio task, and each must keep features and model runs off
//! the I/O threads the same way, so one busy stream never stalls another's network I/O.

use tokio::task::spawn_blocking;

use crate::error::AsrError;
use crate::pipeline::RecognitionStream;

/// Runs `work` on the stream on tokio's blocking pool and hands the stream back with its
/// result. A panic in `work` (a bug) is an [`AsrError::Internal`] and loses the stream, so
/// its pool session is freed.
pub async fn run_blocking<T, F>(
    mut stream: RecognitionStream,
    work: F,
) -> Result<(RecognitionStream, T), AsrError>
where
    T: Send + 'static,
    F: FnOnce(&mut RecognitionStream) -> Result<T, AsrError> + Send + 'static,
{
    let (stream, result) = spawn_blocking(move || {
        let result = work(&mut stream);
        (stream, result)
    })
    .await
    .map_err(|e| AsrError::Internal(format!("recognition task failed: {e}")))?;
    Ok((stream, result?))
}
