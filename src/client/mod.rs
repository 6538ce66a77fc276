//! Clients of our own gRPC API: the `transcribe --server` command, the bench, the load test
//! and the health probe.
//!
//! Why in the library: the CLI, the bench and the integration tests stream audio the same
//! way, so what the tests prove about streaming is what users run.

pub mod bench;
mod error;
pub mod health;
pub mod loadtest;
mod streaming;

pub use error::ClientError;
pub use streaming::{
    connect, connect_with_ca, linear16, stream_audio, Partial, StreamOptions, StreamOutcome,
};
