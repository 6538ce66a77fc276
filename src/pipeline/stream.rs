//! One stream's audio → text state machine.
//!
//! Bytes are decoded to mono, resampled to the model's rate, turned into fbank frames,
//! stacked into model frames, run through the model a chunk at a time with the recurrent
//! state carried along, and decoded by greedy CTC. Every stage keeps its own carry-over, so
//! how the caller splits the audio never changes the result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audio::{PcmDecoder, Resampler};
use crate::decode::CtcGreedy;
use crate::error::AsrError;
use crate::features::{FeatureError, FrameStacker, StreamingFbank};
use crate::model::PooledSession;
use crate::pipeline::engine::{EngineInner, StreamSettings};
use crate::pipeline::hypothesis::Hypothesis;

/// Something worth telling the client before the stream ends.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The text so far changed (greedy CTC on a causal model: later audio only extends it).
    Partial(Hypothesis),
}

/// A stream being recognised. Owns its pooled session, which goes back to the pool (state
/// reset) when the stream is dropped, finished or not.
#[derive(Debug)]
pub struct RecognitionStream {
    engine: Arc<EngineInner>,
    session: PooledSession,
    decoder: PcmDecoder,
    resampler: Resampler,
    fbank: StreamingFbank,
    stacker: FrameStacker,
    ctc: CtcGreedy,
    input_rate: u32,
    interim_results: bool,
    /// Scratch buffers, kept to avoid allocating per call.
    mono: Vec<f32>,
    resampled: Vec<f32>,
    fbank_frames: Vec<f32>,
    /// Stacked model frames not run yet (fewer than a chunk, until `finish`).
    pending: Vec<f32>,
    input_samples: u64,
    compute: Duration,
    /// Model frames decoded and text at the last partial sent.
    last_partial: (u64, String),
    finished: bool,
}

impl RecognitionStream {
    pub(crate) fn new(
        engine: Arc<EngineInner>,
        session: PooledSession,
        decoder: PcmDecoder,
        settings: &StreamSettings,
    ) -> Result<RecognitionStream, AsrError> {
        let spec = &engine.spec;
        let model_rate = spec.features.sample_rate;
        let resampler = Resampler::new(settings.sample_rate_hz, model_rate)
            .map_err(|e| AsrError::InvalidConfig(e.to_string()))?;
        let internal = |e: FeatureError| AsrError::Internal(e.to_string());
        let fbank = StreamingFbank::new(&spec.features).map_err(internal)?;
        let bins = spec.features.num_mel_bins;
        let stacker =
            FrameStacker::new(spec.frames.stack, spec.frames.subsample, bins).map_err(internal)?;
        let ctc = CtcGreedy::new(spec.vocab.blank_id, spec.vocab.tokens.clone());
        Ok(RecognitionStream {
            session,
            decoder,
            resampler,
            fbank,
            stacker,
            ctc,
            input_rate: settings.sample_rate_hz,
            interim_results: settings.interim_results,
            mono: Vec::new(),
            resampled: Vec::new(),
            fbank_frames: Vec::new(),
            pending: Vec::new(),
            input_samples: 0,
            compute: Duration::ZERO,
            last_partial: (0, String::new()),
            finished: false,
            engine,
        })
    }

    /// Feeds encoded audio bytes (any split, even mid-sample); returns partials, if any.
    /// CPU-bound: async callers run it on a blocking thread.
    pub fn accept_audio(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, AsrError> {
        self.ensure_open()?;
        let started = Instant::now();
        let mut mono = std::mem::take(&mut self.mono);
        mono.clear();
        self.decoder.push(bytes, &mut mono);
        let result = self.accept_mono(&mono);
        self.mono = mono;
        self.compute += started.elapsed();
        result
    }

    /// Feeds already-decoded mono samples at `rate_hz`, which must be the stream's rate.
    pub fn accept_samples(
        &mut self,
        mono: &[f32],
        rate_hz: u32,
    ) -> Result<Vec<StreamEvent>, AsrError> {
        self.ensure_open()?;
        if rate_hz != self.input_rate {
            return Err(AsrError::InvalidAudio(format!(
                "samples at {rate_hz} Hz sent to a stream opened at {} Hz",
                self.input_rate
            )));
        }
        let started = Instant::now();
        let result = self.accept_mono(mono);
        self.compute += started.elapsed();
        result
    }

    /// Ends the stream: flushes every stage, runs the last frames, returns the final result.
    pub fn finish(&mut self) -> Result<Hypothesis, AsrError> {
        self.ensure_open()?;
        self.finished = true;
        let started = Instant::now();
        let result = self.flush().map(|()| self.hypothesis());
        self.compute += started.elapsed();
        result
    }

    /// Seconds of audio received so far.
    pub fn audio_seconds(&self) -> f64 {
        self.input_samples as f64 / f64::from(self.input_rate)
    }

    /// Seconds spent computing on this stream so far.
    pub fn compute_seconds(&self) -> f64 {
        self.compute.as_secs_f64()
    }

    fn ensure_open(&self) -> Result<(), AsrError> {
        if self.finished {
            return Err(AsrError::InvalidAudio(
                "the stream has already finished".into(),
            ));
        }
        Ok(())
    }

    fn accept_mono(&mut self, mono: &[f32]) -> Result<Vec<StreamEvent>, AsrError> {
        self.input_samples += mono.len() as u64;
        let mut resampled = std::mem::take(&mut self.resampled);
        resampled.clear();
        let result = self.resampler.process(mono, &mut resampled);
        self.extract_frames(&resampled);
        self.resampled = resampled;
        result.map_err(|e| AsrError::Internal(e.to_string()))?;
        self.run_pending(false)?;
        Ok(self
            .partial()
            .map(StreamEvent::Partial)
            .into_iter()
            .collect())
    }

    /// Pushes out the resampler's tail and runs every remaining frame.
    fn flush(&mut self) -> Result<(), AsrError> {
        let mut tail = std::mem::take(&mut self.resampled);
        tail.clear();
        let result = self.resampler.flush(&mut tail);
        self.extract_frames(&tail);
        self.resampled = tail;
        result.map_err(|e| AsrError::Internal(e.to_string()))?;
        self.run_pending(true)
    }

    /// Model-rate samples → fbank frames → stacked model frames waiting to run.
    fn extract_frames(&mut self, samples: &[f32]) {
        self.fbank_frames.clear();
        self.fbank.accept(samples, &mut self.fbank_frames);
        self.stacker.push(&self.fbank_frames, &mut self.pending);
    }

    /// Runs whole chunks of pending frames (all of them when `last`) and decodes them.
    fn run_pending(&mut self, last: bool) -> Result<(), AsrError> {
        let dim = self.session.model().input_dim();
        let ready = self.pending.len() / dim;
        let chunk = self.engine.chunk_frames;
        let frames = if last { ready } else { ready / chunk * chunk };
        if frames == 0 {
            return Ok(());
        }
        let log_probs = self.session.run(&self.pending[..frames * dim])?;
        self.pending.drain(..frames * dim);
        let vocab = self.session.model().vocab();
        self.ctc
            .push(&log_probs, vocab)
            .map_err(|e| AsrError::Model(e.to_string()))
    }

    /// A partial when asked for, enough audio passed since the last one, and the text moved.
    fn partial(&mut self) -> Option<Hypothesis> {
        let frames = self.ctc.frames_seen();
        if !self.interim_results || frames < self.last_partial.0 + self.engine.interim_frames {
            return None;
        }
        let hypothesis = self.hypothesis();
        if hypothesis.text == self.last_partial.1 {
            return None;
        }
        self.last_partial = (frames, hypothesis.text.clone());
        Some(hypothesis)
    }

    fn hypothesis(&self) -> Hypothesis {
        Hypothesis::from_ctc(&self.ctc, self.engine.spec.model_frame_duration())
    }
}
