//! Samples → `StreamingFbank` → `FrameStacker`, the feature front end of every stream.
//!
//! Checks: options are either rejected with a typed error or work; the frame count follows
//! snip-edges (`1 + (n - length) / shift` once `n >= length`); every value is finite and
//! at least the log floor ln(f32::EPSILON); feeding the samples in fuzzer-chosen pieces
//! gives bit-identical frames to one pass (the module's promise); and the stacker emits
//! model frame k = fbank frames k*subsample .. k*subsample + stack, however the fbank
//! values are split between pushes.
#![no_main]

use compact_asr::features::{
    compute_fbank, FbankOptions, FeatureError, FrameStacker, StreamingFbank,
};
use fuzz_support::{pieces, samples_from};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Options {
    /// The model contract's settings (what every shipped model uses).
    Contract,
    /// Fuzzed settings in plausible ranges, to exercise validation and odd geometries.
    Custom {
        rate: u8,
        num_mel_bins: u8,
        frame_length_ms: u8,
        frame_shift_ms: u8,
        preemph_percent: u8,
        remove_dc_offset: bool,
        low_freq: u16,
        high_freq: i16,
    },
}

impl Options {
    fn fbank(&self) -> FbankOptions {
        match *self {
            Options::Contract => FbankOptions::default(),
            Options::Custom {
                rate,
                num_mel_bins,
                frame_length_ms,
                frame_shift_ms,
                preemph_percent,
                remove_dc_offset,
                low_freq,
                high_freq,
            } => FbankOptions {
                sample_rate: [8000, 16000, 22050, 0][usize::from(rate % 4)],
                num_mel_bins: usize::from(num_mel_bins),
                frame_length_ms: f64::from(frame_length_ms) / 2.0,
                frame_shift_ms: f64::from(frame_shift_ms) / 2.0,
                preemph_coeff: f64::from(preemph_percent) / 100.0,
                remove_dc_offset,
                low_freq: f64::from(low_freq),
                high_freq: f64::from(high_freq),
                input_scale: 32768.0,
            },
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    options: Options,
    stack: u8,
    subsample: u8,
    sample_sizes: Vec<u16>,
    value_sizes: Vec<u16>,
    samples: Vec<i16>,
}

fuzz_target!(|input: Input| {
    let opts = input.options.fbank();
    let mut fbank = match StreamingFbank::new(&opts) {
        Ok(f) => f,
        Err(FeatureError::InvalidOption(msg)) => {
            assert!(!msg.is_empty());
            assert!(
                matches!(input.options, Options::Custom { .. }),
                "contract options rejected"
            );
            return;
        }
        Err(other) => panic!("unexpected error {other:?}"),
    };
    let bins = fbank.num_bins();
    assert_eq!(bins, opts.num_mel_bins);
    let samples = samples_from(&input.samples);

    let whole = compute_fbank(&opts, &samples).expect("options accepted above");
    let rate = f64::from(opts.sample_rate);
    let length = (rate * opts.frame_length_ms / 1000.0).round() as usize;
    let shift = (rate * opts.frame_shift_ms / 1000.0).round() as usize;
    let frames = if samples.len() < length {
        0
    } else {
        1 + (samples.len() - length) / shift
    };
    assert_eq!(
        whole.len(),
        frames * bins,
        "{} samples, length {length}, shift {shift}",
        samples.len()
    );
    let floor = f32::EPSILON.ln() - 1e-3;
    for (i, &v) in whole.iter().enumerate() {
        assert!(v.is_finite() && v >= floor, "value {i} = {v}");
    }

    let mut streamed = Vec::new();
    for piece in pieces(&samples, &input.sample_sizes) {
        fbank.accept(piece, &mut streamed);
        assert_eq!(streamed.len(), fbank.frames_emitted() as usize * bins);
    }
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&streamed),
        bits(&whole),
        "chunking changed the fbank frames"
    );

    let (stack, subsample) = (
        usize::from(input.stack % 9),
        usize::from(input.subsample % 9),
    );
    let mut stacker = match FrameStacker::new(stack, subsample, bins) {
        Ok(s) => s,
        Err(FeatureError::InvalidStacking { .. }) => {
            assert!(
                stack == 0 || subsample == 0,
                "stack {stack} subsample {subsample} rejected"
            );
            return;
        }
        Err(other) => panic!("unexpected error {other:?}"),
    };
    let mut stacked = Vec::new();
    for piece in pieces(&whole, &input.value_sizes) {
        stacker.push(piece, &mut stacked);
    }
    let model_frames = if frames < stack {
        0
    } else {
        1 + (frames - stack) / subsample
    };
    assert_eq!(
        stacked.len(),
        model_frames * stack * bins,
        "{frames} fbank frames, stack {stack}/{subsample}"
    );
    assert_eq!(stacker.frames_emitted() as usize, model_frames);
    for (k, model_frame) in stacked.chunks(stack * bins).enumerate() {
        let first = k * subsample * bins;
        assert_eq!(
            bits(model_frame),
            bits(&whole[first..first + stack * bins]),
            "model frame {k}"
        );
    }
});
