//! Mono samples → `Resampler` (client rate → model rate) in fuzzer-chosen pieces.
//!
//! Checks: a rate is accepted exactly when both are in 8000..=48000 (else a typed error);
//! after `flush` the output has exactly `round(n * to / from)` samples, all finite; the
//! output does not depend on how the input was chunked (the module's promise); and after
//! `flush` the resampler starts a new stream that gives the same output again.
#![no_main]

use compact_asr::audio::{AudioError, Resampler};
use fuzz_support::{pieces, samples_from};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// Rates clients actually use, plus the model rate.
const COMMON_RATES: [u32; 8] = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000];

#[derive(Debug, Arbitrary)]
enum Rate {
    Common(u8),
    /// Any value at all: odd in-range rates (large FFT blocks) and out-of-range ones.
    Any(u32),
}

impl Rate {
    fn hz(&self) -> u32 {
        match *self {
            Rate::Common(i) => COMMON_RATES[usize::from(i) % COMMON_RATES.len()],
            Rate::Any(hz) => hz,
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    from: Rate,
    to: Rate,
    sizes: Vec<u16>,
    /// The samples are this pattern repeated, so that inputs reach several FFT blocks.
    repeat: u8,
    pattern: Vec<i16>,
}

fn run(from: u32, to: u32, input: &[f32], sizes: &[u16]) -> Vec<f32> {
    let mut r = Resampler::new(from, to).expect("accepted before");
    let mut out = Vec::new();
    for piece in pieces(input, sizes) {
        r.process(piece, &mut out).expect("process");
    }
    r.flush(&mut out).expect("flush");
    out
}

fuzz_target!(|input: Input| {
    let (from, to) = (input.from.hz(), input.to.hz());
    let in_range = |hz: u32| (8000..=48000).contains(&hz);
    let mut r = match Resampler::new(from, to) {
        Ok(r) => {
            assert!(in_range(from) && in_range(to), "{from} -> {to} accepted");
            r
        }
        Err(AudioError::SampleRate { rate, .. }) => {
            assert!(
                !in_range(rate) && (rate == from || rate == to),
                "{from} -> {to}: rejected {rate}"
            );
            return;
        }
        Err(other) => panic!("{from} -> {to}: unexpected error {other:?}"),
    };
    let pattern = samples_from(&input.pattern);
    let samples: Vec<f32> = (0..=input.repeat % 8)
        .flat_map(|_| pattern.iter().copied())
        .collect();

    let mut whole = Vec::new();
    r.process(&samples, &mut whole).expect("process");
    r.flush(&mut whole).expect("flush");
    let n = samples.len() as u64;
    let expected_len = (n * u64::from(to) + u64::from(from) / 2) / u64::from(from);
    assert_eq!(
        whole.len() as u64,
        expected_len,
        "{n} samples {from} -> {to}"
    );
    assert!(
        whole.iter().all(|x| x.is_finite()),
        "non-finite output {from} -> {to}"
    );

    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut again = Vec::new();
    r.process(&samples, &mut again)
        .expect("process after flush");
    r.flush(&mut again).expect("flush");
    assert_eq!(bits(&again), bits(&whole), "flush did not reset the stream");

    let chunked = run(from, to, &samples, &input.sizes);
    assert_eq!(
        bits(&chunked),
        bits(&whole),
        "chunking changed the output {from} -> {to}"
    );
});
