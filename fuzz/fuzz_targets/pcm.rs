//! Client PCM bytes → `PcmDecoder`, for every encoding and channel count a client may
//! declare.
//!
//! Checks: the channel count is accepted exactly when it is 1..=32 (else a typed error);
//! a push fails exactly when a whole frame holds a NaN or infinite FLOAT32 sample, with
//! `NonFinite` naming the first such sample's index and value; otherwise one sample per
//! whole frame comes out, finite and in [-1, 1], and the rest is held back as pending
//! bytes; and decoding in fuzzer-chosen pieces gives bit-identical samples (or the same
//! error) as one push.
#![no_main]

use compact_asr::audio::{AudioError, Encoding, PcmDecoder};
use fuzz_support::{pieces, Enc};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    encoding: Enc,
    channels: u8,
    sizes: Vec<u16>,
    bytes: Vec<u8>,
}

/// Index and bits of the first NaN or infinite float among the whole frames of `bytes`.
fn first_non_finite(encoding: Encoding, bytes: &[u8], frame_bytes: usize) -> Option<(u64, u32)> {
    if encoding != Encoding::Float32 {
        return None;
    }
    let whole = bytes.len() / frame_bytes * frame_bytes;
    bytes[..whole]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .enumerate()
        .find(|(_, x)| !x.is_finite())
        .map(|(i, x)| (i as u64, x.to_bits()))
}

fuzz_target!(|input: Input| {
    let encoding = Encoding::from(input.encoding);
    // Mostly mono/stereo, sometimes any count up to past the limit.
    let channels = u16::from(if input.channels < 200 {
        1 + input.channels % 2
    } else {
        input.channels - 200
    });
    let new = || PcmDecoder::new(encoding, channels);
    let mut whole = match new() {
        Ok(dec) => {
            assert!((1..=32).contains(&channels), "{channels} channels accepted");
            dec
        }
        Err(AudioError::Channels { channels: c, .. }) => {
            assert_eq!(c, u32::from(channels));
            assert!(
                channels == 0 || channels > 32,
                "{channels} channels rejected"
            );
            return;
        }
        Err(other) => panic!("unexpected error {other:?}"),
    };
    let frame_bytes = encoding.bytes_per_sample() * usize::from(channels);
    let bad = first_non_finite(encoding, &input.bytes, frame_bytes);
    let mut expected = Vec::new();
    match (whole.push(&input.bytes, &mut expected), bad) {
        (Ok(()), None) => {}
        (Err(AudioError::NonFinite { index, value }), Some((bad_index, bits))) => {
            assert_eq!(
                (index, value.to_bits()),
                (bad_index, bits),
                "wrong sample named"
            );
        }
        (result, bad) => panic!("push gave {result:?}; first non-finite sample: {bad:?}"),
    }
    if bad.is_none() {
        assert_eq!(expected.len(), input.bytes.len() / frame_bytes);
        assert_eq!(whole.pending_bytes(), input.bytes.len() % frame_bytes);
        for &s in &expected {
            assert!(s.is_finite() && (-1.0..=1.0).contains(&s), "sample {s}");
        }
    }

    let mut chunked = new().expect("accepted above");
    let mut got = Vec::new();
    let mut fed = 0;
    for piece in pieces(&input.bytes, &input.sizes) {
        fed += piece.len();
        match chunked.push(piece, &mut got) {
            Ok(()) => {
                // Output appears as soon as a frame is complete, never earlier or later.
                assert_eq!(got.len(), fed / frame_bytes, "after {fed} bytes");
                assert_eq!(chunked.pending_bytes(), fed % frame_bytes);
            }
            Err(AudioError::NonFinite { index, value }) => {
                let (bad_index, bits) = bad.expect("an error only where one push failed too");
                assert_eq!(
                    (index, value.to_bits()),
                    (bad_index, bits),
                    "chunked push named another sample"
                );
                // Only whole frames before the bad one came out.
                assert!(got.len() as u64 <= index / u64::from(channels));
                return;
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert!(
        bad.is_none(),
        "chunked pushes missed the bad sample {bad:?}"
    );
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got), bits(&expected), "chunking changed the samples");
});
