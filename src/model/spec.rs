//! `model.toml`: everything the server must know to feed a model exactly as it was trained.
//!
//! The contract (docs/model-contract.md) says neither side guesses, so parsing is strict and
//! [`ModelSpec::load`] validates every number before any audio arrives: a bad file fails at
//! start-up with a message naming the field, never mid-stream.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::AsrError;
use crate::features::{FbankOptions, StreamingFbank};

/// A parsed and validated `model.toml`.
///
/// Unknown top-level tables and `[model]` keys are ignored (they are metadata for people);
/// every table the server reads rejects unknown keys, so a typo cannot pass silently.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub model: ModelInfo,
    pub features: FbankOptions,
    pub frames: FrameSpec,
    pub onnx: OnnxNames,
    /// Recurrent state tensors, in the order the runtime feeds them.
    #[serde(rename = "state", default)]
    pub states: Vec<StateSpec>,
    pub vocab: VocabSpec,
    /// Folder holding `model.toml`; relative paths inside it resolve against this.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[model]`: identity of the model.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// ONNX file, relative to `model.toml`.
    pub onnx: PathBuf,
    pub variant: Variant,
    #[serde(default)]
    pub description: String,
}

/// How the recurrent layers are parameterised (informational: the ONNX graph says how).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    Dense,
    Lowrank,
    SharedLowrank,
    Toeplitz,
    Hybrid,
}

/// `[frames]`: low-frame-rate stacking of fbank frames into model frames.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameSpec {
    pub stack: usize,
    pub subsample: usize,
}

/// `[onnx]`: names of the feature input and log-probability output tensors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxNames {
    pub input: String,
    pub output: String,
}

/// One `[[state]]` entry: a recurrent tensor fed back from `output` to `input` each chunk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    pub input: String,
    pub output: String,
    /// Shape for batch size 1.
    pub shape: Vec<usize>,
    /// The axis that grows with batch size.
    pub batch_axis: usize,
}

impl StateSpec {
    /// The state's shape for `batch` streams run together.
    pub fn shape_for_batch(&self, batch: usize) -> Vec<usize> {
        let mut shape = self.shape.clone();
        shape[self.batch_axis] = batch;
        shape
    }
}

/// `[vocab]`: CTC output tokens; `" "` separates words.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocabSpec {
    pub blank_id: usize,
    pub tokens: Vec<String>,
}

impl ModelSpec {
    /// Reads and validates `model.toml` at `path`.
    pub fn load(path: &Path) -> Result<ModelSpec, AsrError> {
        let load_error = |reason: String| AsrError::ModelLoad {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| load_error(e.to_string()))?;
        let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        ModelSpec::parse(&text, base_dir).map_err(load_error)
    }

    /// Parses and validates `model.toml` text whose relative paths resolve against `base_dir`.
    pub fn parse(text: &str, base_dir: PathBuf) -> Result<ModelSpec, String> {
        let mut spec: ModelSpec = toml::from_str(text).map_err(|e| e.to_string())?;
        spec.base_dir = base_dir;
        spec.validate()?;
        Ok(spec)
    }

    /// Path of the ONNX graph.
    pub fn onnx_path(&self) -> PathBuf {
        self.base_dir.join(&self.model.onnx)
    }

    /// Values per model frame: `stack * num_mel_bins`.
    pub fn input_dim(&self) -> usize {
        self.frames.stack * self.features.num_mel_bins
    }

    /// Audio covered by one model frame's hop (30 ms for 3 × 10 ms).
    pub fn model_frame_duration(&self) -> Duration {
        Duration::from_secs_f64(
            self.frames.subsample as f64 * self.features.frame_shift_ms / 1000.0,
        )
    }

    fn validate(&self) -> Result<(), String> {
        if self.model.name.trim().is_empty() {
            return Err("[model] name is empty".into());
        }
        StreamingFbank::new(&self.features).map_err(|e| format!("[features] {e}"))?;
        if self.frames.stack == 0 || self.frames.subsample == 0 {
            return Err("[frames] stack and subsample must be at least 1".into());
        }
        if self.onnx.input.is_empty() || self.onnx.output.is_empty() {
            return Err("[onnx] input and output names must not be empty".into());
        }
        self.validate_states()?;
        self.validate_vocab()
    }

    fn validate_states(&self) -> Result<(), String> {
        let mut names: HashSet<&str> = [self.onnx.input.as_str(), self.onnx.output.as_str()].into();
        for (ix, state) in self.states.iter().enumerate() {
            let which = format!(
                "[[state]] #{} ({} -> {})",
                ix + 1,
                state.output,
                state.input
            );
            for name in [&state.input, &state.output] {
                if name.is_empty() || !names.insert(name) {
                    return Err(format!(
                        "{which}: tensor name {name:?} is empty or used twice"
                    ));
                }
            }
            if state.shape.is_empty() || state.shape.contains(&0) {
                return Err(format!(
                    "{which}: shape {:?} must be non-empty with no zero",
                    state.shape
                ));
            }
            if state.batch_axis >= state.shape.len() {
                return Err(format!(
                    "{which}: batch_axis {} is outside shape {:?}",
                    state.batch_axis, state.shape
                ));
            }
            if state.shape[state.batch_axis] != 1 {
                return Err(format!(
                    "{which}: shape {:?} is for batch 1, so its batch_axis {} must be 1",
                    state.shape, state.batch_axis
                ));
            }
        }
        Ok(())
    }

    fn validate_vocab(&self) -> Result<(), String> {
        let tokens = &self.vocab.tokens;
        if tokens.is_empty() {
            return Err("[vocab] tokens is empty".into());
        }
        if self.vocab.blank_id >= tokens.len() {
            return Err(format!(
                "[vocab] blank_id {} is outside the {} tokens",
                self.vocab.blank_id,
                tokens.len()
            ));
        }
        let mut seen = HashSet::new();
        if let Some(dup) = tokens.iter().find(|t| !seen.insert(t.as_str())) {
            return Err(format!("[vocab] token {dup:?} appears twice"));
        }
        Ok(())
    }
}
