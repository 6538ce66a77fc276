//! The one error type of the recognition core.
//!
//! Every failure a caller can act on differently has its own variant, so the gRPC layer can
//! map them to status codes in one place (bad request, resource exhausted, server fault)
//! without parsing messages.

use std::path::PathBuf;
use std::time::Duration;

use crate::audio::AudioError;
use crate::decode::{BoostError, DecodeError};
use crate::features::FeatureError;

/// What went wrong while loading a model or recognising a stream.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// The caller asked for something unsupported (rate, channels, encoding, settings).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The audio could not be decoded, read or resampled (the variant says whose fault).
    #[error("invalid audio: {0}")]
    Audio(#[from] AudioError),
    /// A stream used against its rules (audio after `finish`, samples at another rate).
    #[error("invalid use of the stream: {0}")]
    StreamMisuse(String),
    /// The request's phrases cannot be boosted.
    #[error("invalid phrase boost: {0}")]
    Boost(#[from] BoostError),
    /// The model's feature settings cannot be honoured (a model contract fault).
    #[error("feature extraction: {0}")]
    Features(#[from] FeatureError),
    /// The decoder was handed model output it cannot read (a broken invariant).
    #[error("decoding failed: {0}")]
    Decode(#[from] DecodeError),
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
