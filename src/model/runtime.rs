//! The acoustic model: the ONNX graph loaded, typed and optimised ONCE, then shared.
//!
//! Optimising a graph takes far longer than running a chunk, so the plan is built at start-up
//! with symbolic batch and time axes and every stream runs that same plan. What differs per
//! stream is the recurrent state, which lives in a [`ModelSession`]; chunked runs that carry
//! the state equal one whole-utterance run.
//!
//! Each run gets a fresh tract execution state: tract's `Scan` (what an ONNX `LSTM` becomes)
//! keeps its hidden state inside the execution state after the first run and then ignores
//! the `h_in`/`c_in` inputs, which would break resets and any sharing of a plan state.

use std::sync::Arc;

use anyhow::{ensure, Context};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::dims;
use tract_onnx::tract_core::internal::DimLike;

use crate::error::AsrError;
use crate::model::spec::{ModelSpec, StateSpec};

/// The optimised model plan plus the tensor layout the contract promises.
#[derive(Debug)]
pub struct AcousticModel {
    plan: Arc<TypedRunnableModel>,
    states: Vec<StateSpec>,
    input_dim: usize,
    vocab: usize,
}

impl AcousticModel {
    /// Loads `spec`'s ONNX file and optimises it for any batch size and chunk length.
    pub fn load(spec: &ModelSpec) -> Result<AcousticModel, AsrError> {
        let path = spec.onnx_path();
        let load_error = |reason: String| AsrError::ModelLoad {
            path: path.clone(),
            reason,
        };
        let plan = build_plan(spec).map_err(|e| load_error(format!("{e:#}")))?;
        let model = AcousticModel {
            plan,
            states: spec.states.clone(),
            input_dim: spec.input_dim(),
            vocab: spec.vocab.tokens.len(),
        };
        model.check_output_layout().map_err(load_error)?;
        Ok(model)
    }

    /// Values per model frame (`stack * num_mel_bins`).
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// Classes per output frame.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// A fresh session for one stream: zero state, batch size 1.
    pub fn session(self: &Arc<Self>) -> ModelSession {
        ModelSession {
            model: Arc::clone(self),
            state: self.zero_state(1),
        }
    }

    fn zero_state(&self, batch: usize) -> Vec<Tensor> {
        self.states
            .iter()
            .map(|s| tract_ndarray::ArrayD::<f32>::zeros(s.shape_for_batch(batch)).into_tensor())
            .collect()
    }

    /// The graph's outputs must be `[batch, time, vocab]` log-probs and states shaped as
    /// declared; checked once here so a mismatched model.toml fails at start-up.
    fn check_output_layout(&self) -> Result<(), String> {
        let model = self.plan.model();
        let log_probs = model.output_fact(0).map_err(|e| e.to_string())?;
        let rank = log_probs.shape.len();
        let classes = log_probs
            .shape
            .iter()
            .last()
            .and_then(|d| d.to_usize().ok());
        if rank != 3 || classes != Some(self.vocab) {
            return Err(format!(
                "log_probs is {:?}, expected [batch, time, {}] for the {} vocab tokens",
                log_probs.shape, self.vocab, self.vocab
            ));
        }
        for (ix, state) in self.states.iter().enumerate() {
            let fact = model.output_fact(ix + 1).map_err(|e| e.to_string())?;
            let ok =
                fact.shape.len() == state.shape.len()
                    && fact.shape.iter().zip(&state.shape).enumerate().all(
                        |(axis, (dim, &want))| {
                            axis == state.batch_axis || dim.to_usize().ok() == Some(want)
                        },
                    );
            if !ok {
                return Err(format!(
                    "state output {} is {:?}, but model.toml declares {:?}",
                    state.output, fact.shape, state.shape
                ));
            }
        }
        Ok(())
    }
}

/// Loads the ONNX file, names inputs/outputs in contract order and optimises with symbolic
/// batch `B` and time `T`.
fn build_plan(spec: &ModelSpec) -> TractResult<Arc<TypedRunnableModel>> {
    let mut model = tract_onnx::onnx().model_for_path(spec.onnx_path())?;
    let inputs = std::iter::once(&spec.onnx.input).chain(spec.states.iter().map(|s| &s.input));
    let outputs = std::iter::once(&spec.onnx.output).chain(spec.states.iter().map(|s| &s.output));
    model.set_input_names(inputs)?;
    model.select_outputs_by_name(outputs)?;
    let batch = model.sym("B");
    let time = model.sym("T");
    model.set_input_fact(0, f32::fact(dims!(batch, time, spec.input_dim())).into())?;
    for (ix, state) in spec.states.iter().enumerate() {
        let shape: TVec<TDim> = state
            .shape
            .iter()
            .enumerate()
            .map(|(axis, &d)| {
                if axis == state.batch_axis {
                    batch.clone().into()
                } else {
                    d.into()
                }
            })
            .collect();
        model.set_input_fact(ix + 1, f32::fact(shape).into())?;
    }
    model.into_optimized()?.into_runnable()
}

/// One stream's handle on the model: its recurrent tensors.
#[derive(Debug)]
pub struct ModelSession {
    model: Arc<AcousticModel>,
    state: Vec<Tensor>,
}

impl ModelSession {
    /// The model this session runs.
    pub fn model(&self) -> &AcousticModel {
        &self.model
    }

    /// Runs `frames` (row-major `[time, input_dim]`) and returns `[time, vocab]` log-probs,
    /// carrying the recurrent state into the next call.
    pub fn run(&mut self, frames: &[f32]) -> Result<Vec<f32>, AsrError> {
        let dim = self.model.input_dim;
        if !frames.len().is_multiple_of(dim) {
            return Err(AsrError::Internal(format!(
                "{} feature values are not whole frames of {dim}",
                frames.len()
            )));
        }
        let time = frames.len() / dim;
        if time == 0 {
            return Ok(Vec::new());
        }
        self.run_frames(frames, time)
            .map_err(|e| AsrError::Model(format!("{e:#}")))
    }

    fn run_frames(&mut self, frames: &[f32], time: usize) -> TractResult<Vec<f32>> {
        let features = Tensor::from_shape(&[1, time, self.model.input_dim], frames)?;
        let mut inputs: TVec<TValue> = tvec![features.into_tvalue()];
        inputs.extend(
            self.state
                .iter_mut()
                .map(|t| std::mem::take(t).into_tvalue()),
        );
        let outputs = self.model.plan.run(inputs)?;
        let mut outputs = outputs.into_iter();
        let log_probs = outputs.next().context("model returned no log_probs")?;
        let expected = [1, time, self.model.vocab];
        ensure!(
            log_probs.shape() == expected,
            "log_probs {:?}, expected {expected:?}",
            log_probs.shape()
        );
        for (slot, value) in self.state.iter_mut().zip(outputs) {
            *slot = value.into_tensor();
        }
        Ok(log_probs
            .to_plain_array_view::<f32>()?
            .iter()
            .copied()
            .collect())
    }

    /// Forgets the stream: zero state, ready for the next one.
    pub fn reset(&mut self) {
        self.state = self.model.zero_state(1);
    }
}
