//! The model integration tests, one binary (one link of the library and tract).

// A failed unwrap here is a failed test, never a crashed server.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
pub mod common;

mod batch;
mod pool;
mod runtime;
mod spec;
mod variants;
