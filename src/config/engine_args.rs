//! The engine's settings as flags and environment variables: the keys every command that
//! runs the model takes (`serve`, `transcribe`, `eval`, `bench`).
//!
//! Why a struct of its own: `serve` flattens it into [`SettingsArgs`](super::SettingsArgs)
//! and the other commands flatten it alone, so each key has one name, one flag, one
//! environment variable and one default (resolved by [`EngineArgs::resolve`] through the
//! same merge as `serve`), as ripgrep resolves its flags once.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::decoder::DecoderKind;
use super::layers::SettingsArgs;
use super::ConfigError;
use crate::pipeline::EngineConfig;

/// Model, pool, batching, chunking and decoding keys; unset fields are `None`.
#[derive(Debug, Clone, Default, clap::Args, Serialize, Deserialize)]
pub struct EngineArgs {
    /// The model's model.toml.
    #[arg(long, env = "COMPACT_ASR_MODEL", value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,

    /// Streams that can recognise at once; more wait up to acquire_timeout_ms.
    #[arg(long, env = "COMPACT_ASR_POOL_SIZE", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<usize>,

    /// Most streams' chunks run in one model call (1 = no batching).
    #[arg(long, env = "COMPACT_ASR_MAX_BATCH", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<usize>,

    /// Longest a chunk waits for other streams' chunks to join its batch, in milliseconds.
    #[arg(long, env = "COMPACT_ASR_BATCH_WAIT_MS", value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_wait_ms: Option<u64>,

    /// Threads running model batches; 0 means one per CPU core.
    #[arg(long, env = "COMPACT_ASR_BATCH_WORKERS", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_workers: Option<usize>,

    /// How long a new stream waits for a free slot before RESOURCE_EXHAUSTED, in milliseconds.
    #[arg(long, env = "COMPACT_ASR_ACQUIRE_TIMEOUT_MS", value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquire_timeout_ms: Option<u64>,

    /// Audio per model run, in milliseconds: longer is cheaper per second, shorter answers sooner.
    #[arg(long, env = "COMPACT_ASR_CHUNK_MS", value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_ms: Option<u32>,

    /// Least audio between two partial results of a stream, in milliseconds.
    #[arg(long, env = "COMPACT_ASR_INTERIM_INTERVAL_MS", value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interim_interval_ms: Option<u32>,

    /// Search: "greedy" (fastest; no LM, no phrase boosts, one alternative) or "beam"
    /// (CTC prefix beam search with the LM and per-request phrase boosts).
    #[arg(long, env = "COMPACT_ASR_DECODER", value_name = "greedy|beam")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder: Option<DecoderKind>,

    /// Prefixes kept per frame (beam only): wider is more accurate and slower.
    #[arg(long, env = "COMPACT_ASR_BEAM_WIDTH", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beam_width: Option<usize>,

    /// ARPA word LM for beam search, e.g. models/baseline/lm.arpa; "" means none (unset: the
    /// model's [decoder] table's, if any).
    #[arg(long, env = "COMPACT_ASR_LM", value_name = "FILE", value_parser = any_path)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lm: Option<PathBuf>,

    /// Weight of the LM's log-probabilities (beam with an LM).
    #[arg(long, env = "COMPACT_ASR_LM_WEIGHT", value_name = "W")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lm_weight: Option<f32>,

    /// Score added per word with an LM (beam with an LM).
    #[arg(long, env = "COMPACT_ASR_WORD_BONUS", value_name = "B")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word_bonus: Option<f32>,

    /// End utterances on trailing silence (a final mid-stream); false: one final per stream.
    #[arg(long, env = "COMPACT_ASR_ENDPOINTING", value_name = "true|false")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpointing: Option<bool>,

    /// Trailing silence that ends an utterance after speech, in milliseconds.
    #[arg(long, env = "COMPACT_ASR_ENDPOINT_SILENCE_MS", value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_silence_ms: Option<u64>,

    /// Trailing silence that ends an utterance in which nothing was said, in milliseconds.
    #[arg(
        long,
        env = "COMPACT_ASR_ENDPOINT_SILENCE_NO_SPEECH_MS",
        value_name = "MS"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_silence_no_speech_ms: Option<u64>,

    /// Longest utterance, in milliseconds; it is cut there even mid-speech.
    #[arg(long, env = "COMPACT_ASR_MAX_UTTERANCE_MS", value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_utterance_ms: Option<u64>,
}

/// A path that may be empty ("" turns the LM off), unlike clap's own path parser.
fn any_path(value: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(value))
}

impl EngineArgs {
    /// The engine configuration these flags and variables give over the defaults, checked
    /// as `serve` checks its settings.
    pub fn resolve(&self) -> Result<EngineConfig, ConfigError> {
        let settings = SettingsArgs {
            engine: self.clone(),
            ..SettingsArgs::default()
        }
        .resolve()?;
        Ok(settings.engine_config())
    }
}
