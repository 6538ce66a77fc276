//! WAV bytes → `read_wav`, the decoder behind unary Recognize and the CLI.
//!
//! Checks, for the raw fuzz input: a typed error that fits the case (a truncation names
//! fewer samples than declared, a bad float is non-finite) or mono samples that are finite
//! and in [-1, 1] (what the module promises), never a panic. The same bytes also drive a
//! round trip: a WAV that hound writes from fuzzer-chosen samples must decode to exactly
//! those samples (channel mean, scaled by the bit depth), and every truncation of it must
//! be an error rather than silently shorter audio.
#![no_main]

use std::io::Cursor;

use compact_asr::audio::{read_wav, AudioError};
use hound::{SampleFormat, WavSpec, WavWriter};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_raw(data);
    if let Ok(case) = RoundTrip::arbitrary(&mut Unstructured::new(data)) {
        case.check();
    }
});

fn check_raw(data: &[u8]) {
    match read_wav(data) {
        Ok(audio) => {
            for (i, &s) in audio.samples.iter().enumerate() {
                assert!(
                    s.is_finite() && (-1.0..=1.0).contains(&s),
                    "sample {i} is {s} (rate {} Hz)",
                    audio.sample_rate
                );
            }
        }
        Err(AudioError::TruncatedWav { declared, present }) => {
            assert!(
                present < declared,
                "truncated with {present} of {declared} samples"
            );
        }
        Err(AudioError::NonFinite { value, .. }) => assert!(!value.is_finite()),
        Err(AudioError::Wav(_) | AudioError::Channels { .. }) => {}
        Err(other) => panic!("unexpected error kind for in-memory WAV: {other:?}"),
    }
}

/// A WAV file described field by field, so that the expected samples are known.
#[derive(Debug)]
struct RoundTrip {
    spec: WavSpec,
    /// Interleaved samples as unit-range values, already quantised to the bit depth.
    values: Vec<f64>,
    cut: usize,
}

impl<'a> Arbitrary<'a> for RoundTrip {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let channels = u.int_in_range(1..=3)?;
        let (bits, sample_format) = *u.choose(&[
            (8, SampleFormat::Int),
            (16, SampleFormat::Int),
            (24, SampleFormat::Int),
            (32, SampleFormat::Int),
            (32, SampleFormat::Float),
        ])?;
        let sample_rate = u.int_in_range(1..=192_000)?;
        let frames = u.int_in_range(0..=64usize)?;
        let mut values = Vec::with_capacity(frames * usize::from(channels));
        for _ in 0..frames * usize::from(channels) {
            let raw = i32::arbitrary(u)?;
            values.push(match sample_format {
                // Keep the top `bits` bits: exactly representable at this depth.
                SampleFormat::Int => f64::from(raw >> (32 - bits)) / f64::from(1u32 << (bits - 1)),
                // Any float in [-1, 1], quantised so it survives the f32 file format.
                SampleFormat::Float => f64::from((f64::from(raw) / 2_147_483_648.0) as f32),
            });
        }
        Ok(Self {
            spec: WavSpec {
                channels,
                sample_rate,
                bits_per_sample: bits,
                sample_format,
            },
            values,
            cut: usize::arbitrary(u)?,
        })
    }
}

impl RoundTrip {
    fn check(&self) {
        let bytes = self.write();
        let audio = read_wav(&bytes)
            .unwrap_or_else(|e| panic!("{:?}: valid file rejected: {e}", self.spec));
        assert_eq!(audio.sample_rate, self.spec.sample_rate);
        let channels = usize::from(self.spec.channels);
        assert_eq!(audio.samples.len(), self.values.len() / channels);
        for (k, (frame, &got)) in self.values.chunks(channels).zip(&audio.samples).enumerate() {
            let want = frame.iter().sum::<f64>() / channels as f64;
            assert!(
                (f64::from(got) - want).abs() <= 1e-6,
                "{:?} frame {k}: got {got}, want {want}",
                self.spec
            );
        }
        let cut = self.cut % bytes.len();
        assert!(
            read_wav(&bytes[..cut]).is_err(),
            "{:?}: file cut to {cut} of {} bytes was accepted",
            self.spec,
            bytes.len()
        );
    }

    fn write(&self) -> Vec<u8> {
        let mut cursor = Cursor::new(Vec::new());
        let mut w = WavWriter::new(&mut cursor, self.spec).expect("valid spec");
        let bits = self.spec.bits_per_sample;
        for &v in &self.values {
            match self.spec.sample_format {
                SampleFormat::Int => w.write_sample((v * f64::from(1u32 << (bits - 1))) as i32),
                SampleFormat::Float => w.write_sample(v as f32),
            }
            .expect("in-range sample");
        }
        w.finalize().expect("finalize");
        cursor.into_inner()
    }
}
