//! How the server runs, beyond the engine: TLS, authentication, the shutdown deadline and
//! the limits on what one call may send.
//!
//! Why resolved here from [`Settings`]: files named in the settings (certificate, key, token
//! file) are read once, at start-up, so a bad path fails `serve` before it listens.

use std::path::Path;
use std::time::Duration;

use tonic::transport::Identity;

use crate::config::Settings;

use super::auth::load_tokens;
use super::protocol::StreamLimits;
use super::ServeError;

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

impl ServerOptions {
    /// Reads the TLS files and auth tokens the settings name.
    pub fn from_settings(settings: &Settings) -> Result<ServerOptions, ServeError> {
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(Identity::from_pem(
                read("TLS certificate", cert)?,
                read("TLS key", key)?,
            )),
            _ => None,
        };
        let auth_tokens = load_tokens(
            settings.auth_token.as_deref(),
            settings.auth_token_file.as_deref(),
        )?;
        Ok(ServerOptions {
            tls,
            auth_tokens,
            shutdown_grace: settings.shutdown_grace(),
            limits: settings.stream_limits(),
            idle_timeout: settings.idle_timeout(),
            ws_listen: settings.ws_addr().map(str::to_owned),
        })
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_files_are_read_and_missing_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, "t1\n").unwrap();
        let settings = Settings {
            auth_token_file: Some(tokens),
            shutdown_grace_secs: 7,
            max_audio_secs: 60,
            idle_timeout_secs: 9,
            ..Settings::default()
        };
        let options = ServerOptions::from_settings(&settings).unwrap();
        assert_eq!(options.limits.max_audio, Duration::from_secs(60));
        assert_eq!(options.idle_timeout, Duration::from_secs(9));
        assert_eq!(options.auth_tokens, ["t1"]);
        assert_eq!(options.shutdown_grace, Duration::from_secs(7));
        assert!(options.tls.is_none());

        let missing = dir.path().join("absent.pem");
        let settings = Settings {
            tls_cert: Some(missing.clone()),
            tls_key: Some(missing.clone()),
            ..Settings::default()
        };
        let err = ServerOptions::from_settings(&settings)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TLS certificate") && err.contains("absent.pem"),
            "{err}"
        );
    }
}
