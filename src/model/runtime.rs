//! The acoustic model: the ONNX graph loaded, typed and optimised ONCE, then shared.
//!
//! Optimising a graph takes far longer than running a chunk, so the plan is built at start-up
//! with symbolic batch and time axes and every stream runs that same plan. What differs per
//! stream is the recurrent state ([`RecurrentState`]); chunked runs that carry the state
//! equal one whole-utterance run, and several streams' chunks of equal length can run as one
//! batch ([`AcousticModel::run_batch`]) without their rows ever mixing.
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

/// The optimised model plans plus the tensor layout the contract promises.
#[derive(Debug)]
pub struct AcousticModel {
    /// Any batch size.
    plan: Arc<TypedRunnableModel>,
    /// Batch fixed at 1, any length: a lone stream's odd-length chunk, a whole file. With
    /// the batch known tract evaluates fewer symbolic shapes in each op of each LSTM step.
    single: Arc<TypedRunnableModel>,
    /// Batch 1 at the engine's chunk length, every shape known: a lone stream's regular
    /// chunk (unbatched sessions, a quiet server) is the commonest call, and this plan runs
    /// it ~20 % faster than the any-batch one (docs/benchmarks.md).
    single_chunk: Option<(usize, Arc<TypedRunnableModel>)>,
    states: Vec<StateSpec>,
    input_dim: usize,
    vocab: usize,
}

impl AcousticModel {
    /// Loads `spec`'s ONNX file and optimises it for any batch size and chunk length, and
    /// for one stream's chunk of `chunk_frames` frames when given (the engine's chunk).
    pub fn load(spec: &ModelSpec, chunk_frames: Option<usize>) -> Result<AcousticModel, AsrError> {
        let path = spec.onnx_path();
        let load_error = |reason: String| AsrError::ModelLoad {
            path: path.clone(),
            reason,
        };
        // Parsed once; each plan optimises its own copy.
        let parsed = parse(spec).map_err(|e| load_error(format!("{e:#}")))?;
        let build = |batch, time| {
            build_plan(parsed.clone(), spec, batch, time).map_err(|e| load_error(format!("{e:#}")))
        };
        let single_chunk = match chunk_frames {
            Some(frames) => Some((frames, build(Some(1), Some(frames))?)),
            None => None,
        };
        let model = AcousticModel {
            plan: build(None, None)?,
            single: build(Some(1), None)?,
            single_chunk,
            states: spec.states.clone(),
            input_dim: spec.input_dim(),
            vocab: spec.vocab.tokens.len(),
        };
        model.check_output_layout().map_err(load_error)?;
        model.check_trial_run(spec).map_err(load_error)?;
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

    /// A fresh unbatched session for one stream: zero state, every chunk run on its own.
    pub fn session(self: &Arc<Self>) -> ModelSession {
        ModelSession {
            model: Arc::clone(self),
            state: self.zero_state(),
        }
    }

    /// The state of a stream that has heard nothing yet (batch 1).
    pub fn zero_state(&self) -> RecurrentState {
        RecurrentState(
            self.states
                .iter()
                .map(|s| tract_ndarray::ArrayD::<f32>::zeros(s.shape_for_batch(1)).into_tensor())
                .collect(),
        )
    }

    /// Runs the next `time` frames of several streams in ONE model call and returns each
    /// stream's `[time, vocab]` log-probs, in order.
    ///
    /// Each job is a stream's features (row-major `[time, input_dim]`) and its state, which
    /// is replaced by the state after those frames. Features are stacked into
    /// `[batch, time, dim]` and states concatenated on their batch axis, so the recurrent
    /// layers do matrix-matrix work; the rows never mix, so each stream gets exactly what it
    /// would get alone. All jobs must have the same `time`: padding a shorter chunk would
    /// run the LSTM over the padding and corrupt its state. On error the states are kept.
    pub fn run_batch(
        &self,
        time: usize,
        jobs: &mut [(&[f32], &mut RecurrentState)],
    ) -> Result<Vec<Vec<f32>>, AsrError> {
        let dim = self.input_dim;
        if let Some((frames, _)) = jobs.iter().find(|(f, _)| f.len() != time * dim) {
            return Err(AsrError::Internal(format!(
                "{} feature values are not {time} frames of {dim}",
                frames.len()
            )));
        }
        if time == 0 || jobs.is_empty() {
            return Ok(vec![Vec::new(); jobs.len()]);
        }
        self.run_frames(time, jobs)
            .map_err(|e| AsrError::Model(format!("{e:#}")))
    }

    fn run_frames(
        &self,
        time: usize,
        jobs: &mut [(&[f32], &mut RecurrentState)],
    ) -> TractResult<Vec<Vec<f32>>> {
        let batch = jobs.len();
        let mut features = Vec::with_capacity(batch * time * self.input_dim);
        for (frames, _) in jobs.iter() {
            features.extend_from_slice(frames);
        }
        let features = Tensor::from_shape(&[batch, time, self.input_dim], &features)?;
        let mut inputs: TVec<TValue> = tvec![features.into_tvalue()];
        for (ix, spec) in self.states.iter().enumerate() {
            let parts: Vec<&Tensor> = jobs.iter().map(|(_, state)| &state.0[ix]).collect();
            inputs.push(Tensor::stack_tensors(spec.batch_axis, &parts)?.into_tvalue());
        }
        let plan = match &self.single_chunk {
            _ if batch > 1 => &self.plan,
            Some((frames, plan)) if *frames == time => plan,
            _ => &self.single,
        };
        let outputs = plan.run(inputs)?;
        let mut outputs = outputs.into_iter();
        let log_probs = outputs.next().context("model returned no log_probs")?;
        let expected = [batch, time, self.vocab];
        ensure!(
            log_probs.shape() == expected,
            "log_probs {:?}, expected {expected:?}",
            log_probs.shape()
        );
        for ((ix, spec), value) in self.states.iter().enumerate().zip(outputs) {
            for (b, (_, state)) in jobs.iter_mut().enumerate() {
                state.0[ix] = value.slice(spec.batch_axis, b, b + 1)?;
            }
        }
        let log_probs = log_probs.to_plain_array_view::<f32>()?;
        let flat = log_probs
            .as_slice()
            .context("log_probs are not contiguous")?;
        Ok(flat
            .chunks_exact(time * self.vocab)
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// One frame of zeros must run: the input width is fixed by model.toml (`stack ×
    /// num_mel_bins`) and tract's analysis does not always check it against the graph's
    /// weights, so a mismatch would otherwise fail every stream instead of the start-up.
    fn check_trial_run(&self, spec: &ModelSpec) -> Result<(), String> {
        let time = self.single_chunk.as_ref().map_or(1, |(frames, _)| *frames);
        let frames = vec![0.0; 2 * time * self.input_dim];
        let (one, two) = frames.split_at(time * self.input_dim);
        let (mut a, mut b) = (self.zero_state(), self.zero_state());
        // Every plan: one stream's chunk, one odd-length chunk, a batch of two.
        self.run_batch(time, &mut [(one, &mut a)])
            .and_then(|_| {
                self.run_batch(
                    time + 1,
                    &mut [(&frames[..(time + 1) * self.input_dim], &mut a)],
                )
            })
            .and_then(|_| self.run_batch(time, &mut [(one, &mut a), (two, &mut b)]))
            .map(drop)
            .map_err(|e| {
                format!(
                    "a trial run on one frame of {} values ([frames] stack {} x [features] \
                     num_mel_bins {}) failed: {e}",
                    self.input_dim, spec.frames.stack, spec.features.num_mel_bins
                )
            })
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

/// The plan [`AcousticModel`] runs for a batch and chunk length (`None`: any), built the same
/// way: for tools that look inside it (examples/op_profile.rs times each of its nodes).
pub fn optimised_plan(
    spec: &ModelSpec,
    fixed_batch: Option<usize>,
    fixed_time: Option<usize>,
) -> TractResult<Arc<TypedRunnableModel>> {
    build_plan(parse(spec)?, spec, fixed_batch, fixed_time)
}

/// Loads the ONNX file and names inputs/outputs in contract order.
fn parse(spec: &ModelSpec) -> TractResult<InferenceModel> {
    let mut model = tract_onnx::onnx().model_for_path(spec.onnx_path())?;
    let inputs = std::iter::once(&spec.onnx.input).chain(spec.states.iter().map(|s| &s.input));
    let outputs = std::iter::once(&spec.onnx.output).chain(spec.states.iter().map(|s| &s.output));
    model.set_input_names(inputs)?;
    model.select_outputs_by_name(outputs)?;
    // Without these tract cannot prove that a `[B, 256]` tensor holds more than a handful
    // of values, so the elementwise ops of every LSTM step stay on its generic broadcasting
    // path instead of the SIMD kernels: half the run time of a compact model (perf, lowrank_r32).
    // Once here: the copies `build_plan` optimises share this symbol scope.
    model.symbols.add_assertion("B >= 1")?;
    model.symbols.add_assertion("T >= 1")?;
    Ok(model)
}

/// Optimises a copy of the parsed model with symbolic batch `B` and time `T`, or either fixed.
fn build_plan(
    mut model: InferenceModel,
    spec: &ModelSpec,
    fixed_batch: Option<usize>,
    fixed_time: Option<usize>,
) -> TractResult<Arc<TypedRunnableModel>> {
    let batch: TDim = match fixed_batch {
        Some(b) => b.into(),
        None => model.sym("B").into(),
    };
    let time: TDim = match fixed_time {
        Some(t) => t.into(),
        None => model.sym("T").into(),
    };
    model.set_input_fact(
        0,
        f32::fact(dims!(batch.clone(), time.clone(), spec.input_dim())).into(),
    )?;
    for (ix, state) in spec.states.iter().enumerate() {
        let shape: TVec<TDim> = state
            .shape
            .iter()
            .enumerate()
            .map(|(axis, &d)| {
                if axis == state.batch_axis {
                    batch.clone()
                } else {
                    d.into()
                }
            })
            .collect();
        model.set_input_fact(ix + 1, f32::fact(shape).into())?;
    }
    model.into_optimized()?.into_runnable()
}

/// One stream's recurrent tensors at batch size 1, in `[[state]]` order.
/// Empty by default: only a placeholder while the tensors are away in a batch.
#[derive(Debug, Clone, Default)]
pub struct RecurrentState(Vec<Tensor>);

/// One stream's unbatched handle on the model: its state, each chunk run on its own (the
/// reference the batch scheduler is tested against).
#[derive(Debug)]
pub struct ModelSession {
    model: Arc<AcousticModel>,
    state: RecurrentState,
}

impl ModelSession {
    /// The model this session runs.
    pub fn model(&self) -> &AcousticModel {
        &self.model
    }

    /// Runs `frames` (row-major `[time, input_dim]`) and returns `[time, vocab]` log-probs,
    /// carrying the recurrent state into the next call.
    pub fn run(&mut self, frames: &[f32]) -> Result<Vec<f32>, AsrError> {
        let time = whole_frames(frames, self.model.input_dim)?;
        let mut outputs = self
            .model
            .run_batch(time, &mut [(frames, &mut self.state)])?;
        Ok(outputs.pop().unwrap_or_default())
    }
}

/// How many frames of `dim` values `frames` holds; an error if not a whole number.
pub(crate) fn whole_frames(frames: &[f32], dim: usize) -> Result<usize, AsrError> {
    if frames.len().is_multiple_of(dim) {
        Ok(frames.len() / dim)
    } else {
        Err(AsrError::Internal(format!(
            "{} feature values are not whole frames of {dim}",
            frames.len()
        )))
    }
}
