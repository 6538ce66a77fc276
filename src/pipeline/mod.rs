//! One stream's way from audio to text, shared by the gRPC server and the in-process
//! `transcribe`/`eval` commands so both always run the same code.
//!
//! [`Engine`] holds what is loaded once (model plan, session pool); each
//! [`RecognitionStream`] holds one stream's carry-over through every stage.

mod engine;
mod hypothesis;
mod stream;

pub use engine::{Engine, EngineConfig, StreamSettings, MAX_CHANNELS, SAMPLE_RATES_HZ};
pub use hypothesis::{Hypothesis, WordTiming};
pub use stream::{RecognitionStream, StreamEvent};
