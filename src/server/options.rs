//! How the server runs, beyond the engine: TLS, authentication, the shutdown deadline and
//! the limits on what one call may send.
//!
//! Built from the settings by `config::Settings::server_options` (configuration depends on
//! the server, never the other way), which reads the files they name once, at start-up.

use std::time::Duration;

use tonic::transport::Identity;

use super::protocol::StreamLimits;

/// What `serve` needs besides the engine and the listener.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Certificate and key: with them the port speaks TLS only.
    pub tls: Option<Identity>,
    /// Accepted bearer tokens; empty means recognition calls need none.
    pub auth_tokens: Vec<String>,
    /// How long open streams may run on after shutdown begins.
    pub shutdown_grace: Duration,
    /// Largest streamed chunk and most audio per call (stream or `Recognize`).
    pub limits: StreamLimits,
    /// A stream with no request for this long is ended (final result, then
    /// DEADLINE_EXCEEDED) and its session freed.
    pub idle_timeout: Duration,
    /// Where to serve the WebSocket endpoint and its demo page ("HOST:PORT"; port 0 picks a
    /// free one); `None`: not at all.
    pub ws_listen: Option<String>,
}

impl Default for ServerOptions {
    /// Plain text, no authentication, 30 s grace, [`StreamLimits::default`], 30 s idle
    /// timeout, no WebSocket endpoint (the `ws_listen` setting has one; in-process servers
    /// ask for it).
    fn default() -> Self {
        ServerOptions {
            tls: None,
            auth_tokens: Vec::new(),
            shutdown_grace: Duration::from_secs(30),
            limits: StreamLimits::default(),
            idle_timeout: Duration::from_secs(30),
            ws_listen: None,
        }
    }
}
