//! The acoustic model: its `model.toml` contract ([`spec`]), the ONNX plan built once and run
//! per chunk ([`runtime`]), and the bounded pool of per-stream sessions ([`pool`]).

pub mod pool;
pub mod runtime;
pub mod spec;

pub use pool::{PooledSession, SessionPool};
pub use runtime::{AcousticModel, ModelSession};
pub use spec::ModelSpec;
