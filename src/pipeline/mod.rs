//! One stream's way from audio to text, shared by the gRPC server and the in-process
//! `transcribe`/`eval` commands so both always run the same code.
//!
//! [`Engine`] holds what is loaded once (model plan, batch scheduler, session pool); each
//! [`RecognitionStream`] holds one stream's carry-over through every stage.

mod blocking;
mod decoding;
mod engine;
mod hypothesis;
mod stream;

pub use blocking::run_blocking;
pub use decoding::DecodeOptions;
pub use engine::{Engine, EngineConfig, StreamSettings, MAX_CHANNELS, SAMPLE_RATES_HZ};
pub use hypothesis::{Alternative, Hypothesis, WordTiming};
pub use stream::{RecognitionStream, StreamEvent};
