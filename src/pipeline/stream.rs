//! One stream's audio → text state machine.
//!
//! Bytes are decoded to mono, resampled to the model's rate, turned into fbank frames,
//! stacked into model frames, run through the model a chunk at a time with the recurrent
//! state carried along, and decoded by the stream's [`StreamingDecoder`] (greedy or beam
//! search, with endpointing). Every stage keeps its own carry-over, so how the caller
//! splits the audio never changes the result. An endpoint mid-stream yields a final for
//! that utterance and recognition goes on with the next one.

use std::time::{Duration, Instant};

use crate::audio::Encoding;
use crate::audio::{PcmDecoder, Resampler};
use crate::decode::StreamingDecoder;
use crate::error::AsrError;
use crate::features::{FrameStacker, StreamingFbank};
use crate::model::{AdmittedSession, ModelSpec};
use crate::pipeline::hypothesis::{FrameClock, Hypothesis};

/// What a client says about the audio it will send.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub encoding: Encoding,
    pub sample_rate_hz: u32,
    pub channels: u16,
    /// Emit partial hypotheses while audio arrives.
    pub interim_results: bool,
}

impl StreamSettings {
    /// Bytes of one sample frame (every channel's sample at one instant).
    pub fn frame_bytes(&self) -> usize {
        self.encoding.bytes_per_sample() * usize::from(self.channels)
    }
}

/// The engine's pacing of every stream, in model frames.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    /// Frames per model run.
    pub chunk: usize,
    /// Frames of audio between two partials.
    pub interim: u64,
}

/// Something worth telling the client before the stream ends.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The guess of the utterance in progress changed; `stability` says how settled it is.
    Partial(Hypothesis),
    /// An utterance ended at an endpoint (a pause, or the longest utterance): its final
    /// result. The stream goes on with the next utterance.
    Final(Hypothesis),
}

/// A stream being recognised. Owns its pooled session (its model state; its chunks run in
/// the engine's shared batches), whose pool slot comes free when the stream is dropped,
/// finished or not.
#[derive(Debug)]
pub struct RecognitionStream {
    pacing: Pacing,
    session: AdmittedSession,
    /// Client bytes to mono samples.
    pcm: PcmDecoder,
    resampler: Resampler,
    fbank: StreamingFbank,
    stacker: FrameStacker,
    /// The CTC search over the model's output.
    ctc: StreamingDecoder,
    clock: FrameClock,
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
    /// Model frames decoded and text at the last partial sent (text reset at each final).
    last_partial: (u64, String),
    finished: bool,
}

impl RecognitionStream {
    pub(crate) fn new(
        spec: &ModelSpec,
        pacing: Pacing,
        session: AdmittedSession,
        pcm: PcmDecoder,
        ctc: StreamingDecoder,
        settings: &StreamSettings,
    ) -> Result<RecognitionStream, AsrError> {
        let model_rate = spec.features.sample_rate;
        let resampler = Resampler::new(settings.sample_rate_hz, model_rate)?;
        let fbank = StreamingFbank::new(&spec.features)?;
        let bins = spec.features.num_mel_bins;
        let stacker = FrameStacker::new(spec.frames.stack, spec.frames.subsample, bins)?;
        let clock = FrameClock {
            frame: spec.model_frame_duration(),
        };
        Ok(RecognitionStream {
            pacing,
            session,
            pcm,
            resampler,
            fbank,
            stacker,
            ctc,
            clock,
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
        })
    }

    /// Feeds encoded audio bytes (any split, even mid-sample); returns the finals of
    /// utterances that ended in it, then a partial, if any. Blocks while the model runs:
    /// for blocking threads; a live stream's task calls [`accept_audio_async`].
    ///
    /// [`accept_audio_async`]: Self::accept_audio_async
    pub fn accept_audio(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, AsrError> {
        let started = Instant::now();
        let result = self.push_bytes(bytes).and_then(|()| self.run_ready(false));
        self.compute += started.elapsed();
        Ok(self.events(result?))
    }

    /// [`accept_audio`](Self::accept_audio) on the async side: the front end (decoding,
    /// resampling, fbank: microseconds per chunk) runs in place and the model call is awaited
    /// in the shared batch, so no thread is handed the chunk or parked while it runs.
    pub async fn accept_audio_async(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, AsrError> {
        let started = Instant::now();
        let result = match self.push_bytes(bytes) {
            Ok(()) => self.run_ready_async(false).await,
            Err(e) => Err(e),
        };
        self.compute += started.elapsed();
        Ok(self.events(result?))
    }

    /// Feeds already-decoded mono samples at `rate_hz`, which must be the stream's rate.
    /// Blocks while the model runs, as [`accept_audio`](Self::accept_audio).
    pub fn accept_samples(
        &mut self,
        mono: &[f32],
        rate_hz: u32,
    ) -> Result<Vec<StreamEvent>, AsrError> {
        self.ensure_open()?;
        if rate_hz != self.input_rate {
            return Err(AsrError::StreamMisuse(format!(
                "samples at {rate_hz} Hz sent to a stream opened at {} Hz",
                self.input_rate
            )));
        }
        let started = Instant::now();
        let result = self.push_mono(mono).and_then(|()| self.run_ready(false));
        self.compute += started.elapsed();
        Ok(self.events(result?))
    }

    /// Ends the stream: flushes every stage and runs the last frames. Returns the finals of
    /// utterances that ended in them, then the final of the utterance in progress (possibly
    /// empty text), so the result is never empty. Blocks while the model runs.
    pub fn finish(&mut self) -> Result<Vec<Hypothesis>, AsrError> {
        let started = Instant::now();
        let result = self.flush().and_then(|()| self.run_ready(true));
        self.compute += started.elapsed();
        Ok(self.last_finals(result?))
    }

    /// [`finish`](Self::finish) on the async side, as [`accept_audio_async`].
    ///
    /// [`accept_audio_async`]: Self::accept_audio_async
    pub async fn finish_async(&mut self) -> Result<Vec<Hypothesis>, AsrError> {
        let started = Instant::now();
        let result = match self.flush() {
            Ok(()) => self.run_ready_async(true).await,
            Err(e) => Err(e),
        };
        self.compute += started.elapsed();
        Ok(self.last_finals(result?))
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
            return Err(AsrError::StreamMisuse(
                "the stream has already finished".into(),
            ));
        }
        Ok(())
    }

    /// Client bytes through the front end: PCM decoding, then [`push_mono`](Self::push_mono).
    fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), AsrError> {
        self.ensure_open()?;
        let mut mono = std::mem::take(&mut self.mono);
        mono.clear();
        let result = match self.pcm.push(bytes, &mut mono) {
            Ok(()) => self.push_mono(&mono),
            Err(e) => Err(e.into()),
        };
        self.mono = mono;
        result
    }

    /// Mono samples → model rate → fbank frames → stacked model frames waiting to run.
    fn push_mono(&mut self, mono: &[f32]) -> Result<(), AsrError> {
        self.input_samples += mono.len() as u64;
        let mut resampled = std::mem::take(&mut self.resampled);
        resampled.clear();
        let result = self.resampler.process(mono, &mut resampled);
        self.extract_frames(&resampled);
        self.resampled = resampled;
        Ok(result?)
    }

    /// Marks the stream finished and pushes out the resampler's tail.
    fn flush(&mut self) -> Result<(), AsrError> {
        self.ensure_open()?;
        self.finished = true;
        let mut tail = std::mem::take(&mut self.resampled);
        tail.clear();
        let result = self.resampler.flush(&mut tail);
        self.extract_frames(&tail);
        self.resampled = tail;
        Ok(result?)
    }

    /// Model-rate samples → fbank frames → stacked model frames waiting to run.
    fn extract_frames(&mut self, samples: &[f32]) {
        self.fbank_frames.clear();
        self.fbank.accept(samples, &mut self.fbank_frames);
        self.stacker.push(&self.fbank_frames, &mut self.pending);
    }

    /// Pending frames to run now: whole chunks, or all of them when `last`.
    fn ready_frames(&self, last: bool) -> usize {
        let ready = self.pending.len() / self.session.model().input_dim();
        let chunk = self.pacing.chunk;
        if last {
            ready
        } else {
            ready / chunk * chunk
        }
    }

    /// Runs the ready frames (blocking) and decodes them; returns the finals of utterances
    /// that ended in them.
    fn run_ready(&mut self, last: bool) -> Result<Vec<Hypothesis>, AsrError> {
        let values = self.ready_frames(last) * self.session.model().input_dim();
        if values == 0 {
            return Ok(Vec::new());
        }
        let log_probs = self.session.run(&self.pending[..values])?;
        self.decode(values, &log_probs)
    }

    /// [`run_ready`](Self::run_ready), awaiting the model's batch.
    async fn run_ready_async(&mut self, last: bool) -> Result<Vec<Hypothesis>, AsrError> {
        let values = self.ready_frames(last) * self.session.model().input_dim();
        if values == 0 {
            return Ok(Vec::new());
        }
        let log_probs = self.session.run_async(&self.pending[..values]).await?;
        self.decode(values, &log_probs)
    }

    /// Drops the `values` just run from the pending frames and decodes their log-probs.
    fn decode(&mut self, values: usize, log_probs: &[f32]) -> Result<Vec<Hypothesis>, AsrError> {
        self.pending.drain(..values);
        let vocab = self.session.model().vocab();
        let utterances = self.ctc.push(log_probs, vocab)?;
        if !utterances.is_empty() {
            // A new utterance: its first partial is news even if the text repeats.
            self.last_partial.1.clear();
        }
        Ok(utterances.iter().map(|u| self.clock.utterance(u)).collect())
    }

    /// Finals as events, then a partial if one is due.
    fn events(&mut self, finals: Vec<Hypothesis>) -> Vec<StreamEvent> {
        let mut events: Vec<StreamEvent> = finals.into_iter().map(StreamEvent::Final).collect();
        events.extend(self.partial().map(StreamEvent::Partial));
        events
    }

    /// The finals of the last frames, then that of the utterance in progress.
    fn last_finals(&mut self, mut finals: Vec<Hypothesis>) -> Vec<Hypothesis> {
        finals.push(self.clock.utterance(&self.ctc.finish()));
        finals
    }

    /// A partial when asked for, enough audio passed since the last one, and the text moved.
    fn partial(&mut self) -> Option<Hypothesis> {
        let frames = self.ctc.frames_seen();
        if !self.interim_results || frames < self.last_partial.0 + self.pacing.interim {
            return None;
        }
        let hypothesis = self.clock.partial(&self.ctc.partial());
        if hypothesis.text == self.last_partial.1 {
            return None;
        }
        self.last_partial = (frames, hypothesis.text.clone());
        Some(hypothesis)
    }
}
