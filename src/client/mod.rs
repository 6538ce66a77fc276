//! Clients of our own gRPC API: the `transcribe --server` command and the bench.
//!
//! Why in the library: the CLI, the bench and the integration tests stream audio the same
//! way, so what the tests prove about streaming is what users run.

pub mod bench;
mod error;
mod streaming;

pub use error::ClientError;
pub use streaming::{connect, linear16, stream_audio, StreamOptions, StreamOutcome};
