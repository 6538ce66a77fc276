//! Why a client call failed.

/// A failure talking to a compact-asr server or reading the audio to send.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid server URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("server answered {}: {}", .0.code(), .0.message())]
    Rpc(#[from] tonic::Status),
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
    #[error("the server ended the stream without a final result")]
    NoFinal,
    #[error("cannot read CA certificate {path}: {source}")]
    ReadCa {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the bearer token is not valid metadata (printable ASCII only)")]
    Token,
}
