//! Helpers shared by the fuzz targets.
//!
//! Every streaming component promises that the way a caller chunks its input never changes
//! the output; the targets check that by replaying one input in fuzzer-chosen pieces.

use compact_asr::audio::Encoding;
use libfuzzer_sys::arbitrary::{self, Arbitrary};

/// Splits `data` into consecutive pieces whose lengths cycle through `sizes` (a 0 gives an
/// empty piece, which callers must also handle). The pieces always cover all of `data`; when
/// `sizes` is empty or all zero, `data` comes back whole, after any empty pieces.
pub fn pieces<'a, T>(data: &'a [T], sizes: &[u16]) -> Vec<&'a [T]> {
    let mut out = Vec::new();
    if sizes.iter().all(|&s| s == 0) {
        out.extend(sizes.iter().map(|_| &data[..0]));
        out.push(data);
        return out;
    }
    let mut pos = 0;
    for &size in sizes.iter().cycle() {
        if pos >= data.len() {
            break;
        }
        let end = (pos + usize::from(size)).min(data.len());
        out.push(&data[pos..end]);
        pos = end;
    }
    out
}

/// Audio as the decoders hand it on: each `i16` scaled into [-1, 1).
pub fn samples_from(raw: &[i16]) -> Vec<f32> {
    raw.iter().map(|&v| f32::from(v) / 32768.0).collect()
}

/// An encoding the fuzzer picks (the library's [`Encoding`] does not derive `Arbitrary`).
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Enc {
    Linear16,
    Float32,
    Mulaw,
}

impl From<Enc> for Encoding {
    fn from(enc: Enc) -> Encoding {
        match enc {
            Enc::Linear16 => Encoding::Linear16,
            Enc::Float32 => Encoding::Float32,
            Enc::Mulaw => Encoding::Mulaw,
        }
    }
}
