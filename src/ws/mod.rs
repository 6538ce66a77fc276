//! The WebSocket front door: vosk-server's protocol on the same engine, pool, limits,
//! metrics, authentication and drain as the gRPC service, plus a browser demo page.
//!
//! Why a second front door: browsers cannot speak gRPC, and many speech clients are written
//! against vosk-server's WebSocket protocol. Why no second pipeline: a connection only
//! translates messages; recognition is [`crate::pipeline`], admission and shutdown the gRPC
//! server's own [`crate::server`] pieces, started and stopped with it by
//! [`crate::server::serve`] (`ws_listen`).
//!
//! - [`protocol`]: the messages (serde types) and their validation, pure.
//! - `connection`: one connection's message flow over a recognition stream.
//! - [`error`]: every failure and its close code, in one place.
//! - `listener`: the HTTP listener (upgrades and the page in `page/`).

mod connection;
pub mod error;
mod listener;
pub mod protocol;

pub(crate) use connection::Context;
pub use error::{close_code, WsError};
pub(crate) use listener::WsServer;
