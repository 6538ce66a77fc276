//! Audio → the shipped model's log-prob frames, through the crate's public stages.
//!
//! Shared (via `#[path]`) by the decoder's integration tests and the `decode_eval` example,
//! which both need raw `[T, V]` log-probs to drive decoders directly rather than a whole
//! recognition stream.

use std::path::Path;
use std::sync::Arc;

use compact_asr::audio::{read_wav_file, Resampler};
use compact_asr::features::{FrameStacker, StreamingFbank};
use compact_asr::model::{AcousticModel, ModelSpec};

/// A loaded model and its contract.
pub struct Model {
    pub spec: ModelSpec,
    pub model: Arc<AcousticModel>,
}

impl Model {
    pub fn load(model_toml: &Path) -> Model {
        let spec = ModelSpec::load(model_toml).expect("model.toml");
        let model = Arc::new(AcousticModel::load(&spec, None).expect("model.onnx"));
        Model { spec, model }
    }

    pub fn tokens(&self) -> Vec<String> {
        self.spec.vocab.tokens.clone()
    }

    pub fn vocab(&self) -> usize {
        self.model.vocab()
    }

    /// Mono samples of a WAV file at the model's rate, with `pad_s` seconds of silence after.
    pub fn samples(&self, wav: &Path, pad_s: f32) -> Vec<f32> {
        let audio = read_wav_file(wav).expect("wav");
        let rate = self.spec.features.sample_rate;
        let mut resampler = Resampler::new(audio.sample_rate, rate).expect("resampler");
        let mut out = Vec::new();
        resampler
            .process(&audio.samples, &mut out)
            .expect("resample");
        resampler.flush(&mut out).expect("resample");
        out.extend(std::iter::repeat_n(0.0, (pad_s * rate as f32) as usize));
        out
    }

    /// Log-prob frames (row-major, `vocab()` per frame) of model-rate `samples`.
    pub fn log_probs(&self, samples: &[f32]) -> Vec<f32> {
        let mut fbank = StreamingFbank::new(&self.spec.features).expect("fbank");
        let mut frames = Vec::new();
        fbank.accept(samples, &mut frames);
        let mut stacker = FrameStacker::new(
            self.spec.frames.stack,
            self.spec.frames.subsample,
            self.spec.features.num_mel_bins,
        )
        .expect("stacker");
        let mut stacked = Vec::new();
        stacker.push(&frames, &mut stacked);
        self.model.session().run(&stacked).expect("model run")
    }
}
