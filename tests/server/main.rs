//! The server integration tests, one binary (one link of the library and tract).

// A failed unwrap here is a failed test, never a crashed server.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
pub mod common;

mod baseline;
mod browser;
mod cli;
mod decoding;
mod inputs;
mod ops_cli;
mod ops_decoder;
mod protocol;
mod python;
mod security;
mod shutdown;
mod streaming;
mod websocket;
