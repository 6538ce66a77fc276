//! Configuration of `compact-asr serve`: a TOML file, `COMPACT_ASR_*` environment variables
//! and command-line flags, in one precedence order (flags > environment > file > defaults).
//!
//! Why a module of its own: operators set the same knobs in different places (a ConfigMap
//! file, a Deployment's env, a flag while debugging); keeping the keys, their documentation
//! and the merge rules together is what makes `config --print-default` trustworthy.

mod decoder;
mod engine_args;
mod layers;
mod model_decoder;
mod print;
mod settings;

use std::path::PathBuf;

pub use decoder::{DecoderKind, DecoderSettings};
pub use engine_args::EngineArgs;
pub use layers::SettingsArgs;
pub use print::default_toml;
pub use settings::{LogFormat, Settings, DEFAULT_MODEL};

/// Why the settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error(
        "invalid configuration file {path}: unknown key `{key}` \
         (`compact-asr config --print-default` lists the keys)"
    )]
    UnknownKey { path: PathBuf, key: String },
    #[error("invalid configuration: {0}")]
    Merge(toml::de::Error),
    #[error("cannot represent the settings as TOML: {0}")]
    Serialize(toml::ser::Error),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}
