//! One stream's way from audio to text, shared by the gRPC server and the in-process
//! `transcribe`/`eval` commands so both always run the same code.
//!
//! [`Engine`] holds what is loaded once (model plan, batch scheduler, session pool); each
//! [`RecognitionStream`] holds one stream's carry-over through every stage; [`recognize`]
//! runs a whole recording through one.

mod decoding;
mod engine;
mod hypothesis;
mod stream;
mod whole;

pub use decoding::DecodeOptions;
pub use engine::{Engine, EngineConfig, MAX_CHANNELS, SAMPLE_RATES_HZ};
pub use hypothesis::{Alternative, Hypothesis, WordTiming};
pub use stream::{RecognitionStream, StreamEvent, StreamSettings};
pub use whole::{recognize, Recording, Transcript};
