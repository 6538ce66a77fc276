//! The three sources of settings and their one precedence order:
//! command-line flags > `COMPACT_ASR_*` environment variables > the TOML file > defaults.
//!
//! Why it works this way: clap already resolves a flag over its environment variable, so
//! [`SettingsArgs`] holds "what the flags and environment said" (unset fields are `None`).
//! The same struct, read from TOML, is the file layer; its `deny_unknown_fields` turns a
//! misspelt key into an error naming it. Layers are merged as TOML tables over the
//! serialised defaults, so no field is merged by hand and a new key needs no merge code.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::decoder::DecoderKind;
use super::engine_args::EngineArgs;
use super::model_decoder;
#[cfg(test)]
use super::settings::DEFAULT_MODEL;
use super::settings::{LogFormat, Settings};
use super::ConfigError;

/// `serve` settings from flags and environment; every field also is a configuration-file
/// key of the same name (see `compact-asr config --print-default`).
///
/// Unknown keys in a file are refused by [`check_keys`] (serde cannot deny unknown fields
/// through the flattened [`EngineArgs`]).
#[derive(Debug, Clone, Default, clap::Args, Serialize, Deserialize)]
pub struct SettingsArgs {
    /// TOML configuration file; flags and COMPACT_ASR_* variables override its keys.
    #[arg(long, env = "COMPACT_ASR_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address (HOST:PORT) the gRPC server listens on.
    #[arg(long, env = "COMPACT_ASR_LISTEN", value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,

    /// Address (HOST:PORT) serving Prometheus metrics on /metrics over plain HTTP; "off" disables it.
    #[arg(long, env = "COMPACT_ASR_METRICS_LISTEN", value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,

    /// Address (HOST:PORT) of the WebSocket endpoint (vosk-server's protocol) and its browser
    /// demo page at /, over plain HTTP; "off" disables it.
    #[arg(long, env = "COMPACT_ASR_WS_LISTEN", value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_listen: Option<String>,

    /// The engine's keys, which `transcribe`, `eval` and `bench` take too.
    #[command(flatten)]
    #[serde(flatten)]
    pub engine: EngineArgs,

    /// After SIGTERM/SIGINT, how long open streams may run on before they are cut (they
    /// still get their final result, then UNAVAILABLE), in seconds.
    #[arg(long, env = "COMPACT_ASR_SHUTDOWN_GRACE_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_secs: Option<u64>,

    /// Largest audio_content of one streamed message, in bytes; a bigger one ends the call
    /// with INVALID_ARGUMENT.
    #[arg(long, env = "COMPACT_ASR_MAX_CHUNK_BYTES", value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_chunk_bytes: Option<usize>,

    /// Most audio one call may carry, in seconds: a stream gets its final result for the
    /// audio up to the limit, then OUT_OF_RANGE; a longer Recognize gets INVALID_ARGUMENT.
    #[arg(long, env = "COMPACT_ASR_MAX_AUDIO_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_audio_secs: Option<u64>,

    /// A stream with no request for this many seconds gets its final result, then
    /// DEADLINE_EXCEEDED, and its recognition session is freed.
    #[arg(long, env = "COMPACT_ASR_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_secs: Option<u64>,

    /// PEM certificate chain; with tls_key, the gRPC port speaks TLS only.
    #[arg(
        long,
        env = "COMPACT_ASR_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of tls_cert.
    #[arg(
        long,
        env = "COMPACT_ASR_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,

    /// Bearer token recognition calls must send ("authorization: Bearer TOKEN"); health
    /// checks stay open. Prefer auth_token_file or the environment to a flag.
    #[arg(
        long,
        env = "COMPACT_ASR_AUTH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,

    /// File of accepted bearer tokens, one per line ("#" comments and blank lines ignored);
    /// several lines let tokens be rotated without downtime.
    #[arg(long, env = "COMPACT_ASR_AUTH_TOKEN_FILE", value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token_file: Option<PathBuf>,

    /// Log format on stderr: "text" for people, "json" (one object per line) for collectors.
    #[arg(long, env = "COMPACT_ASR_LOG_FORMAT", value_name = "FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,

    /// Which log lines to write, as a tracing filter ("info", "compact_asr=debug,warn").
    #[arg(long, env = "COMPACT_ASR_LOG_FILTER", value_name = "FILTER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_filter: Option<String>,
}

impl SettingsArgs {
    /// Resolves flags and environment over the `--config` file (if any) over the model's
    /// `[decoder]` table (if any) over the defaults.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        let flags = toml::Table::try_from(self).map_err(ConfigError::Serialize)?;
        let mut merged =
            toml::Table::try_from(Settings::default()).map_err(ConfigError::Serialize)?;
        let model = [&flags, &file, &merged]
            .iter()
            .find_map(|layer| layer.get("model").and_then(toml::Value::as_str))
            .map(PathBuf::from)
            .unwrap_or_default();
        merged.extend(model_decoder::layer(&model)?);
        merged.extend(file);
        merged.extend(flags);
        let settings: Settings = merged.try_into().map_err(ConfigError::Merge)?;
        check(&settings)?;
        Ok(settings)
    }
}

/// The file's keys, checked against [`SettingsArgs`] (names and types) with the file named
/// in any error.
fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let table = parse_file(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })?;
    match check_keys(&table) {
        Some(key) => Err(ConfigError::UnknownKey {
            path: path.to_owned(),
            key,
        }),
        None => Ok(table),
    }
}

/// The file as a table whose values have the keys' types.
fn parse_file(text: &str) -> Result<toml::Table, toml::de::Error> {
    toml::from_str::<SettingsArgs>(text)?;
    toml::from_str(text)
}

/// The first key of `table` that is no setting (a flag's id is its key), if any.
fn check_keys(table: &toml::Table) -> Option<String> {
    let command = <SettingsArgs as clap::Args>::augment_args(clap::Command::new("serve"));
    let known: Vec<&str> = command
        .get_arguments()
        .map(|arg| arg.get_id().as_str())
        .filter(|id| *id != "config")
        .collect();
    table
        .keys()
        .find(|key| !known.contains(&key.as_str()))
        .cloned()
}

fn check(settings: &Settings) -> Result<(), ConfigError> {
    if settings.tls_cert.is_some() != settings.tls_key.is_some() {
        return Err(ConfigError::Invalid(
            "tls_cert and tls_key must be given together".into(),
        ));
    }
    for (key, value) in [
        ("max_chunk_bytes", settings.max_chunk_bytes as u64),
        ("max_audio_secs", settings.max_audio_secs),
        ("idle_timeout_secs", settings.idle_timeout_secs),
    ] {
        if value == 0 {
            return Err(ConfigError::Invalid(format!("{key} must be at least 1")));
        }
    }
    if settings.decoder == DecoderKind::Beam && settings.beam_width == 0 {
        return Err(ConfigError::Invalid("beam_width must be at least 1".into()));
    }
    if settings
        .auth_token
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        return Err(ConfigError::Invalid(
            "auth_token is empty; leave it unset to disable authentication".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        settings: SettingsArgs,
    }

    fn flags(args: &[&str]) -> SettingsArgs {
        let argv = std::iter::once("serve").chain(args.iter().copied());
        Cli::try_parse_from(argv).unwrap().settings
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn flags_beat_environment_beat_file_beat_defaults() {
        // The only test that sets these variables (the process environment is shared).
        std::env::set_var("COMPACT_ASR_CHUNK_MS", "200");
        std::env::set_var("COMPACT_ASR_POOL_SIZE", "5");
        let file = write(
            "pool_size = 3\nchunk_ms = 40\nshutdown_grace_secs = 9\nlisten = \"127.0.0.1:1\"\n",
        );
        let path = file.path().to_str().unwrap();
        let settings = flags(&["--config", path, "--pool-size", "11"]).resolve();
        std::env::remove_var("COMPACT_ASR_CHUNK_MS");
        std::env::remove_var("COMPACT_ASR_POOL_SIZE");
        let settings = settings.unwrap();
        assert_eq!(settings.pool_size, 11, "flag over environment and file");
        assert_eq!(settings.chunk_ms, 200, "environment over file");
        assert_eq!(settings.shutdown_grace_secs, 9, "file over default");
        assert_eq!(settings.listen, "127.0.0.1:1");
        let defaults = Settings::default();
        assert_eq!(settings.interim_interval_ms, defaults.interim_interval_ms);
        assert_eq!(settings.metrics_listen, defaults.metrics_listen);
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key_and_the_file() {
        let file = write("listen = \"0.0.0.0:1\"\npool_sise = 4\n");
        let err = SettingsArgs {
            config: Some(file.path().to_owned()),
            ..SettingsArgs::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(err.contains("pool_sise"), "{err}");
        assert!(err.contains(&file.path().display().to_string()), "{err}");
    }

    #[test]
    fn wrong_types_and_half_tls_are_errors() {
        let err = parse_file("pool_size = \"many\"").unwrap_err().to_string();
        assert!(err.contains("pool_size"), "{err}");
        let half = SettingsArgs {
            tls_cert: Some("cert.pem".into()),
            ..SettingsArgs::default()
        };
        assert!(matches!(half.resolve(), Err(ConfigError::Invalid(_))));
        assert!(Cli::try_parse_from(["serve", "--tls-cert", "c.pem"]).is_err());
    }

    #[test]
    fn decoder_keys_follow_the_same_precedence() {
        // The only test that sets these variables (the process environment is shared).
        std::env::set_var("COMPACT_ASR_DECODER", "beam");
        std::env::set_var("COMPACT_ASR_LM_WEIGHT", "0.75");
        let file = write("decoder = \"greedy\"\nbeam_width = 8\nlm_weight = 0.25\nendpointing = false\nlm = \"\"\n");
        let path = file.path().to_str().unwrap();
        let settings = flags(&["--config", path, "--beam-width", "4"]).resolve();
        std::env::remove_var("COMPACT_ASR_DECODER");
        std::env::remove_var("COMPACT_ASR_LM_WEIGHT");
        let settings = settings.unwrap();
        assert_eq!(settings.decoder, DecoderKind::Beam, "environment over file");
        assert_eq!(settings.beam_width, 4, "flag over file");
        assert_eq!(settings.lm_weight, 0.75, "environment over file");
        assert!(!settings.endpointing, "file over default");
        assert_eq!(settings.lm_path(), None, "an empty lm is no LM");
        assert_eq!(
            settings.word_bonus,
            default_models_weight("word_bonus"),
            "model over default"
        );
    }

    /// A weight (`lm_weight`, `word_bonus`) the default model's `[decoder]` table recommends:
    /// they are tuned per model, so tests read them rather than assume the built-in defaults.
    fn default_models_weight(key: &str) -> f32 {
        let table = model_decoder::layer(Path::new(DEFAULT_MODEL)).unwrap();
        table[key].as_float().unwrap() as f32
    }

    #[test]
    fn an_unknown_decoder_is_an_error_naming_the_allowed_values() {
        let file = write("decoder = \"viterbi\"\n");
        let err = SettingsArgs {
            config: Some(file.path().to_owned()),
            ..SettingsArgs::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        for word in ["viterbi", "greedy", "beam"] {
            assert!(err.contains(word), "{word} missing: {err}");
        }
        let flag = Cli::try_parse_from(["serve", "--decoder", "viterbi"])
            .unwrap_err()
            .to_string();
        assert!(flag.contains("greedy") && flag.contains("beam"), "{flag}");
        let zero = SettingsArgs {
            engine: EngineArgs {
                decoder: Some(DecoderKind::Beam),
                beam_width: Some(0),
                ..EngineArgs::default()
            },
            ..SettingsArgs::default()
        };
        assert!(matches!(zero.resolve(), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn input_limits_are_keys_and_zero_is_refused() {
        let settings = flags(&["--max-chunk-bytes", "4096", "--idle-timeout-secs", "5"])
            .resolve()
            .unwrap();
        assert_eq!(settings.stream_limits().max_chunk_bytes, 4096);
        assert_eq!(settings.idle_timeout(), std::time::Duration::from_secs(5));
        assert_eq!(settings.max_audio_secs, Settings::default().max_audio_secs);
        let err = flags(&["--max-audio-secs", "0"]).resolve().unwrap_err();
        assert!(err.to_string().contains("max_audio_secs"), "{err}");
    }

    #[test]
    fn no_sources_give_the_defaults_with_the_default_models_decoder() {
        // models/hybrid/model.toml recommends beam search with its LM (models/README.md).
        let resolved = SettingsArgs::default().resolve().unwrap();
        assert_eq!(resolved.decoder, DecoderKind::Beam);
        let lm = Path::new(DEFAULT_MODEL).with_file_name("lm.arpa");
        assert_eq!(resolved.lm_path(), Some(lm));
        assert_eq!(resolved.lm_weight, default_models_weight("lm_weight"));
        assert_eq!(resolved.word_bonus, default_models_weight("word_bonus"));
        assert_eq!(
            Settings {
                decoder: DecoderKind::Greedy,
                lm: None,
                lm_weight: Settings::default().lm_weight,
                word_bonus: Settings::default().word_bonus,
                ..resolved.clone()
            },
            Settings::default()
        );
        // Any layer above the model still wins: here a flag, and an empty lm turns it off.
        let greedy = flags(&["--decoder", "greedy", "--lm", ""])
            .resolve()
            .unwrap();
        assert_eq!(
            (greedy.decoder, greedy.lm_path()),
            (DecoderKind::Greedy, None)
        );
        let other = flags(&["--model", "tests/data/tiny_model/model.toml"])
            .resolve()
            .unwrap();
        assert_eq!(
            other.decoder,
            DecoderKind::Greedy,
            "the tiny model sets none"
        );
        let json = flags(&["--log-format", "json"]).resolve().unwrap();
        assert_eq!(json.log_format, LogFormat::Json);
    }
}
