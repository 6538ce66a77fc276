//! The one error type of the recognition core.
//!
//! Every failure a caller can act on differently has its own variant, so the gRPC layer can
//! map them to status codes in one place (bad request, resource exhausted, server fault)
//! without parsing messages.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while loading a model or recognising a stream.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// The caller asked for something unsupported (rate, channels, encoding, settings).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The audio itself could not be decoded or read.
    #[error("invalid audio: {0}")]
    InvalidAudio(String),
    /// Every recognition session stayed busy for the whole acquire timeout.
    #[error("all recognition sessions are busy (waited {waited:?}); retry later")]
    PoolExhausted { waited: Duration },
    /// The model failed while running a chunk.
    #[error("model inference failed: {0}")]
    Model(String),
    /// The model files are missing, malformed or break the model contract.
    #[error("cannot load model {}: {reason}", path.display())]
    ModelLoad { path: PathBuf, reason: String },
    /// A broken invariant inside the server.
    #[error("internal error: {0}")]
    Internal(String),
}
