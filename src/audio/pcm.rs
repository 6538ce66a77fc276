//! Raw PCM bytes from a client stream to mono f32 samples.
//!
//! Clients send audio in arbitrary byte chunks, so a sample (or a multi-channel frame) may
//! be split across two messages; the decoder carries the partial bytes to the next push so
//! that the chunking of the byte stream never changes the samples.

use super::{downmix_into, AudioError};

/// The most interleaved channels a stream may declare.
const MAX_CHANNELS: u16 = 32;

/// Sample encodings a client may stream; all multi-byte encodings are little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Signed 16-bit integer PCM.
    Linear16,
    /// 32-bit IEEE float PCM, nominally in [-1, 1].
    Float32,
    /// 8-bit G.711 mu-law.
    Mulaw,
}

impl Encoding {
    /// Bytes per sample of one channel.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Encoding::Linear16 => 2,
            Encoding::Float32 => 4,
            Encoding::Mulaw => 1,
        }
    }
}

/// Streaming decoder of interleaved PCM bytes into mono f32 in [-1, 1].
///
/// Channels are downmixed by averaging. Finite float samples are clamped to [-1, 1] (loud,
/// clipped audio is still speech); a NaN or infinite one is an error naming its index, as
/// it means the client's audio path is broken and silently zeroing it would hide that.
#[derive(Debug, Clone)]
pub struct PcmDecoder {
    encoding: Encoding,
    channels: usize,
    /// Samples (all channels) decoded so far, to name a bad one's place in the stream.
    decoded: u64,
    /// Bytes of an incomplete frame left over from the previous push.
    pending: Vec<u8>,
    /// Scratch for the interleaved samples of one push, reused across pushes.
    interleaved: Vec<f32>,
}

impl PcmDecoder {
    /// A decoder for `channels` interleaved channels of `encoding`.
    pub fn new(encoding: Encoding, channels: u16) -> Result<Self, AudioError> {
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(AudioError::Channels {
                channels: u32::from(channels),
                max: u32::from(MAX_CHANNELS),
            });
        }
        Ok(Self {
            encoding,
            channels: usize::from(channels),
            decoded: 0,
            pending: Vec::new(),
            interleaved: Vec::new(),
        })
    }

    /// Decodes `bytes`, appending one mono sample per complete frame to `out`; bytes of an
    /// incomplete trailing frame are kept for the next call. On a non-finite float sample
    /// nothing is appended and the decoder should be dropped.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let frame_bytes = self.encoding.bytes_per_sample() * self.channels;
        self.interleaved.clear();
        let mut rest = bytes;
        if !self.pending.is_empty() {
            let take = (frame_bytes - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() < frame_bytes {
                return Ok(());
            }
            let mut frame = std::mem::take(&mut self.pending);
            let decoded = self.decode(&frame);
            frame.clear();
            self.pending = frame;
            decoded?;
        }
        let whole = rest.len() - rest.len() % frame_bytes;
        self.decode(&rest[..whole])?;
        self.pending.extend_from_slice(&rest[whole..]);
        downmix_into(&self.interleaved, self.channels, out);
        Ok(())
    }

    /// Decodes whole samples of `bytes` (a multiple of the sample size) onto `interleaved`.
    fn decode(&mut self, bytes: &[u8]) -> Result<(), AudioError> {
        let out = &mut self.interleaved;
        match self.encoding {
            Encoding::Linear16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0),
            ),
            Encoding::Float32 => {
                for (i, b) in bytes.chunks_exact(4).enumerate() {
                    let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    out.push(float_sample(x, self.decoded + i as u64)?);
                }
            }
            Encoding::Mulaw => out.extend(
                bytes
                    .iter()
                    .map(|&b| f32::from(mulaw_to_linear(b)) / 32768.0),
            ),
        }
        self.decoded += (bytes.len() / self.encoding.bytes_per_sample()) as u64;
        Ok(())
    }

    /// Bytes held back because they do not yet complete a frame.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }
}

/// A float sample clamped to [-1, 1], or the error naming sample `index` if it is NaN or
/// infinite. Shared with WAV files, so both give the same samples.
pub(crate) fn float_sample(x: f32, index: u64) -> Result<f32, AudioError> {
    if x.is_finite() {
        Ok(x.clamp(-1.0, 1.0))
    } else {
        Err(AudioError::NonFinite { index, value: x })
    }
}

/// G.711 mu-law byte to a 16-bit linear sample (ITU-T G.711, as in Sun's g711.c).
pub fn mulaw_to_linear(byte: u8) -> i16 {
    const BIAS: i16 = 0x84;
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i16::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if u & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut PcmDecoder, bytes: &[u8], split: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for chunk in bytes.chunks(split) {
            dec.push(chunk, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn linear16_values_and_odd_splits() {
        let values: Vec<i16> = vec![0, 1, -1, 16384, -16384, i16::MAX, i16::MIN, 1234];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let expected: Vec<f32> = values.iter().map(|&v| f32::from(v) / 32768.0).collect();
        for split in [1, 3, 5, 7, bytes.len()] {
            let mut dec = PcmDecoder::new(Encoding::Linear16, 1).unwrap();
            assert_eq!(
                decode_all(&mut dec, &bytes, split),
                expected,
                "split {split}"
            );
            assert_eq!(dec.pending_bytes(), 0);
        }
        assert_eq!(expected[5], 32767.0 / 32768.0);
        assert_eq!(expected[6], -1.0);
    }

    #[test]
    fn incomplete_sample_is_held_back() {
        let mut dec = PcmDecoder::new(Encoding::Linear16, 1).unwrap();
        let mut out = Vec::new();
        dec.push(&[0x00, 0x40, 0x00], &mut out).unwrap();
        assert_eq!(out, vec![0.5]);
        assert_eq!(dec.pending_bytes(), 1);
        dec.push(&[0xC0], &mut out).unwrap();
        assert_eq!(out, vec![0.5, -0.5]);
        assert_eq!(dec.pending_bytes(), 0);
    }

    #[test]
    fn stereo_is_averaged_across_split_frames() {
        // Frames (L, R): (16384, 0), (-32768, 0), (8192, 8192).
        let values: Vec<i16> = vec![16384, 0, -32768, 0, 8192, 8192];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        for split in [1, 3, 4, 5, 12] {
            let mut dec = PcmDecoder::new(Encoding::Linear16, 2).unwrap();
            let out = decode_all(&mut dec, &bytes, split);
            assert_eq!(out, vec![0.25, -0.5, 0.25], "split {split}");
        }
    }

    #[test]
    fn float32_passes_values_and_clamps_loud_ones() {
        let values = [0.5f32, -0.25, 3.0, -7.0];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        for split in [1, 3, 6, 16] {
            let mut dec = PcmDecoder::new(Encoding::Float32, 1).unwrap();
            let out = decode_all(&mut dec, &bytes, split);
            assert_eq!(out, vec![0.5, -0.25, 1.0, -1.0], "split {split}");
        }
    }

    #[test]
    fn float32_nan_and_infinity_are_errors_naming_the_stream_index() {
        for (bad, name) in [
            (f32::NAN, "NaN"),
            (f32::INFINITY, "inf"),
            (f32::NEG_INFINITY, "-inf"),
        ] {
            // Stereo: frames (0.1, 0.2), (0.3, bad): the bad sample is number 3 overall.
            let values = [0.1f32, 0.2, 0.3, bad];
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            for split in [1, 5, 8, 16] {
                let mut dec = PcmDecoder::new(Encoding::Float32, 2).unwrap();
                let mut out = Vec::new();
                let err = bytes
                    .chunks(split)
                    .find_map(|chunk| dec.push(chunk, &mut out).err())
                    .expect("a bad sample must be an error");
                assert!(
                    matches!(err, AudioError::NonFinite { index: 3, .. }),
                    "{err}"
                );
                let message = err.to_string();
                assert!(
                    message.contains(&format!("sample 3 is {name}")),
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn float32_stereo_downmix() {
        let values = [0.5f32, -0.5, 1.0, 0.0];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut dec = PcmDecoder::new(Encoding::Float32, 2).unwrap();
        assert_eq!(decode_all(&mut dec, &bytes, 5), vec![0.0, 0.5]);
    }

    #[test]
    fn mulaw_table_matches_g711() {
        // Reference points of the G.711 mu-law expansion table (16-bit scale).
        assert_eq!(mulaw_to_linear(0xFF), 0);
        assert_eq!(mulaw_to_linear(0x7F), 0);
        assert_eq!(mulaw_to_linear(0x80), 32124);
        assert_eq!(mulaw_to_linear(0x00), -32124);
        assert_eq!(mulaw_to_linear(0xFE), 8);
        assert_eq!(mulaw_to_linear(0x7E), -8);
        assert_eq!(mulaw_to_linear(0xF0), 120);
        assert_eq!(mulaw_to_linear(0xEF), 132);
        assert_eq!(mulaw_to_linear(0xCF), 924);
        // Monotonic: larger codes (below 0x80) mean smaller magnitudes.
        for b in 0x80u8..0xFF {
            assert!(mulaw_to_linear(b) > mulaw_to_linear(b + 1));
        }
        let mut dec = PcmDecoder::new(Encoding::Mulaw, 1).unwrap();
        let mut out = Vec::new();
        dec.push(&[0xFF, 0x80, 0x00], &mut out).unwrap();
        assert_eq!(out, vec![0.0, 32124.0 / 32768.0, -32124.0 / 32768.0]);
    }

    #[test]
    fn rejects_bad_channel_counts() {
        assert!(matches!(
            PcmDecoder::new(Encoding::Linear16, 0),
            Err(AudioError::Channels { channels: 0, .. })
        ));
        assert!(PcmDecoder::new(Encoding::Mulaw, MAX_CHANNELS + 1).is_err());
        assert!(PcmDecoder::new(Encoding::Mulaw, MAX_CHANNELS).is_ok());
    }
}
