//! The acoustic model: its `model.toml` contract ([`spec`]), the ONNX plan built once and run
//! on batches of streams ([`runtime`]), the scheduler that forms those batches from
//! concurrent streams' chunks ([`scheduler`]), and stream admission ([`admission`]).

pub mod admission;
pub mod runtime;
pub mod scheduler;
pub mod spec;

pub use admission::{Admission, AdmittedSession};
pub use runtime::{AcousticModel, ModelSession, RecurrentState};
pub use scheduler::{BatchConfig, BatchScheduler, BatchStats, BatchedSession};
pub use spec::ModelSpec;
