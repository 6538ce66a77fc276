//! Audio in: client bytes and WAV files to mono f32 in [-1, 1] at the model's rate.
//!
//! Everything downstream (features, model) sees one format only, so every way audio can
//! arrive — raw PCM chunks over gRPC, WAV files, any sample rate — is normalised here.

mod error;
mod pcm;
mod resample;
mod wav;

pub use error::AudioError;
pub use pcm::{Encoding, PcmDecoder};
pub use resample::Resampler;
pub use wav::{read_wav, read_wav_file, DecodedAudio};

/// Averages interleaved frames of `channels` samples into one mono sample each, appending
/// to `out`; a trailing incomplete frame is ignored (callers pass whole frames).
pub(crate) fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    if channels <= 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}
