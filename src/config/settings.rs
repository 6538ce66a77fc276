//! The resolved `serve` settings: every key of the configuration file, with its default.
//!
//! Why one flat struct: each key maps one-to-one onto a flag (`--pool-size`) and an
//! environment variable (`COMPACT_ASR_POOL_SIZE`), so an operator can move a setting between
//! the three places without translating names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::Identity;

use serde::{Deserialize, Serialize};

use super::decoder::{DecoderKind, DecoderSettings};
use crate::model::BatchConfig;
use crate::pipeline::EngineConfig;
use crate::server::protocol::StreamLimits;
use crate::server::{load_tokens, ServeError, ServerOptions};

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The shipped default model (the compressed hybrid LSTM, models/README.md), relative to the
/// working directory: `cargo run` from the repository root and the image's WORKDIR both find it.
pub const DEFAULT_MODEL: &str = "models/hybrid/model.toml";

/// Everything `compact-asr serve` can be told; see `compact-asr config --print-default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    pub metrics_listen: String,
    pub ws_listen: String,
    pub model: PathBuf,
    pub pool_size: usize,
    pub max_batch: usize,
    pub batch_wait_ms: u64,
    pub batch_workers: usize,
    pub acquire_timeout_ms: u64,
    pub chunk_ms: u32,
    pub interim_interval_ms: u32,
    pub decoder: DecoderKind,
    pub beam_width: usize,
    /// "" (the default) means no LM, like leaving it unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lm: Option<PathBuf>,
    pub lm_weight: f32,
    pub word_bonus: f32,
    pub endpointing: bool,
    pub endpoint_silence_ms: u64,
    pub endpoint_silence_no_speech_ms: u64,
    pub max_utterance_ms: u64,
    pub shutdown_grace_secs: u64,
    pub max_chunk_bytes: usize,
    pub max_audio_secs: u64,
    pub idle_timeout_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token_file: Option<PathBuf>,
    pub log_format: LogFormat,
    pub log_filter: String,
}

impl Default for Settings {
    fn default() -> Self {
        let engine = EngineConfig::new(DEFAULT_MODEL);
        let decoder = DecoderSettings::default();
        let server = ServerOptions::default();
        Settings {
            listen: "0.0.0.0:50051".into(),
            metrics_listen: "0.0.0.0:9090".into(),
            // vosk-server's port, so its clients only need the host changed.
            ws_listen: "0.0.0.0:2700".into(),
            model: engine.model_path,
            pool_size: engine.pool_size,
            max_batch: engine.batch.max_batch,
            batch_wait_ms: u64::try_from(engine.batch.max_wait.as_millis()).unwrap_or(u64::MAX),
            // 0 (one worker per core) rather than this machine's core count.
            batch_workers: 0,
            acquire_timeout_ms: u64::try_from(engine.acquire_timeout.as_millis())
                .unwrap_or(u64::MAX),
            chunk_ms: engine.chunk_ms,
            interim_interval_ms: engine.interim_interval_ms,
            decoder: decoder.decoder,
            beam_width: decoder.beam_width,
            lm: None,
            lm_weight: decoder.lm_weight,
            word_bonus: decoder.word_bonus,
            endpointing: decoder.endpointing,
            endpoint_silence_ms: decoder.endpoint_silence_ms,
            endpoint_silence_no_speech_ms: decoder.endpoint_silence_no_speech_ms,
            max_utterance_ms: decoder.max_utterance_ms,
            shutdown_grace_secs: 30,
            max_chunk_bytes: server.limits.max_chunk_bytes,
            max_audio_secs: server.limits.max_audio.as_secs(),
            idle_timeout_secs: server.idle_timeout.as_secs(),
            tls_cert: None,
            tls_key: None,
            auth_token: None,
            auth_token_file: None,
            log_format: LogFormat::Text,
            log_filter: "info".into(),
        }
    }
}

impl Settings {
    /// Where to serve `/metrics`, or `None` when `metrics_listen` is "" or "off".
    pub fn metrics_addr(&self) -> Option<&str> {
        match self.metrics_listen.trim() {
            "" | "off" => None,
            addr => Some(addr),
        }
    }

    /// Where to serve the WebSocket endpoint and demo page, or `None` when `ws_listen` is ""
    /// or "off".
    pub fn ws_addr(&self) -> Option<&str> {
        match self.ws_listen.trim() {
            "" | "off" => None,
            addr => Some(addr),
        }
    }

    /// How long open streams may run on after a shutdown signal.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// Largest streamed chunk and most audio per call.
    pub fn stream_limits(&self) -> StreamLimits {
        StreamLimits {
            max_chunk_bytes: self.max_chunk_bytes,
            max_audio: Duration::from_secs(self.max_audio_secs),
        }
    }

    /// How long a stream may go without a request before it is ended.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// The decoder part, as `transcribe` and `eval` take it from their flags.
    pub fn decoder_settings(&self) -> DecoderSettings {
        DecoderSettings {
            decoder: self.decoder,
            beam_width: self.beam_width,
            lm_weight: self.lm_weight,
            word_bonus: self.word_bonus,
            endpointing: self.endpointing,
            endpoint_silence_ms: self.endpoint_silence_ms,
            endpoint_silence_no_speech_ms: self.endpoint_silence_no_speech_ms,
            max_utterance_ms: self.max_utterance_ms,
        }
    }

    /// The LM file, or `None` when `lm` is unset or "".
    pub fn lm_path(&self) -> Option<PathBuf> {
        self.lm.clone().filter(|path| !path.as_os_str().is_empty())
    }

    /// The server part: reads the TLS files and auth tokens the settings name, so a bad
    /// path fails `serve` before it listens.
    pub fn server_options(&self) -> Result<ServerOptions, ServeError> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(Identity::from_pem(
                read("TLS certificate", cert)?,
                read("TLS key", key)?,
            )),
            _ => None,
        };
        let auth_tokens = load_tokens(self.auth_token.as_deref(), self.auth_token_file.as_deref())?;
        Ok(ServerOptions {
            tls,
            auth_tokens,
            shutdown_grace: self.shutdown_grace(),
            limits: self.stream_limits(),
            idle_timeout: self.idle_timeout(),
            ws_listen: self.ws_addr().map(str::to_owned),
        })
    }

    /// The engine part: model, pool, batching, chunking and decoding.
    pub fn engine_config(&self) -> EngineConfig {
        let batch_defaults = BatchConfig::default();
        EngineConfig {
            pool_size: self.pool_size,
            batch: BatchConfig {
                max_batch: self.max_batch,
                max_wait: Duration::from_millis(self.batch_wait_ms),
                workers: match self.batch_workers {
                    0 => batch_defaults.workers,
                    n => n,
                },
            },
            acquire_timeout: Duration::from_millis(self.acquire_timeout_ms),
            chunk_ms: self.chunk_ms,
            interim_interval_ms: self.interim_interval_ms,
            decoder: self.decoder_settings().decoder_config(),
            lm: self.lm_path(),
            ..EngineConfig::new(&self.model)
        }
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
        let options = settings.server_options().unwrap();
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
        let err = settings.server_options().unwrap_err().to_string();
        assert!(
            err.contains("TLS certificate") && err.contains("absent.pem"),
            "{err}"
        );
    }

    #[test]
    fn metrics_can_be_switched_off() {
        let mut settings = Settings::default();
        assert_eq!(settings.metrics_addr(), Some("0.0.0.0:9090"));
        for off in ["", "off", " off "] {
            settings.metrics_listen = off.into();
            assert_eq!(settings.metrics_addr(), None, "{off:?}");
        }
    }

    #[test]
    fn the_websocket_endpoint_is_on_vosks_port_and_can_be_switched_off() {
        let mut settings = Settings::default();
        assert_eq!(settings.ws_addr(), Some("0.0.0.0:2700"));
        for off in ["", "off", " off "] {
            settings.ws_listen = off.into();
            assert_eq!(settings.ws_addr(), None, "{off:?}");
        }
    }

    #[test]
    fn engine_config_carries_the_engine_settings() {
        let settings = Settings {
            model: "m/model.toml".into(),
            pool_size: 7,
            max_batch: 4,
            batch_wait_ms: 3,
            batch_workers: 2,
            acquire_timeout_ms: 250,
            chunk_ms: 80,
            interim_interval_ms: 320,
            ..Settings::default()
        };
        let engine = settings.engine_config();
        assert_eq!(engine.model_path, PathBuf::from("m/model.toml"));
        assert_eq!(engine.pool_size, 7);
        assert_eq!(engine.batch.max_batch, 4);
        assert_eq!(engine.batch.max_wait, Duration::from_millis(3));
        assert_eq!(engine.batch.workers, 2);
        let per_core = Settings::default().engine_config().batch.workers;
        assert_eq!(per_core, BatchConfig::default().workers);
        assert_eq!(engine.acquire_timeout, Duration::from_millis(250));
        assert_eq!(engine.chunk_ms, 80);
        assert_eq!(engine.interim_interval_ms, 320);
        assert!(engine.lm.is_none());
        assert_eq!(engine.decoder, DecoderSettings::default().decoder_config());
    }

    #[test]
    fn engine_config_carries_the_decoder_settings_and_an_empty_lm_is_none() {
        let settings = Settings {
            decoder: DecoderKind::Beam,
            beam_width: 3,
            lm: Some("models/baseline/lm.arpa".into()),
            endpointing: false,
            ..Settings::default()
        };
        let engine = settings.engine_config();
        assert_eq!(engine.decoder, settings.decoder_settings().decoder_config());
        assert!(engine.decoder.endpoint.is_none());
        assert_eq!(engine.lm, Some(PathBuf::from("models/baseline/lm.arpa")));
        let empty = Settings {
            lm: Some(PathBuf::new()),
            ..Settings::default()
        };
        assert!(empty.engine_config().lm.is_none());
    }
}
