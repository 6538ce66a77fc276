//! Why audio could not be accepted, phrased so the caller knows what to change.

/// A problem with the audio a client sent or a file we were asked to read.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// Zero channels, or more than the decoder supports.
    #[error("unsupported channel count {channels}: send between 1 and {max} interleaved channels")]
    Channels { channels: u32, max: u32 },
    /// A sample rate outside the range the resampler accepts.
    #[error("unsupported sample rate {rate} Hz: send audio sampled between {min} and {max} Hz")]
    SampleRate { rate: u32, min: u32, max: u32 },
    /// A float sample that is NaN or infinite: the sender's audio path is broken.
    #[error(
        "sample {index} is {value} (counting every channel's samples from 0); \
         float audio must be finite, nominally in [-1, 1]"
    )]
    NonFinite { index: u64, value: f32 },
    /// The WAV container or its sample format is unusable.
    #[error("unreadable WAV data: {0}; send a RIFF/WAVE file with 8/16/24/32-bit integer or 32-bit float PCM")]
    Wav(#[from] hound::Error),
    /// The WAV data chunk holds fewer samples than its header declares.
    #[error(
        "WAV data is truncated: the header declares {declared} samples but only {present} \
         are present; send the whole file"
    )]
    TruncatedWav { declared: u64, present: u64 },
    /// The WAV file could not be opened.
    #[error("cannot read WAV file {path}: {source}")]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The resampler could not be set up for this pair of rates.
    #[error("cannot resample from {from} Hz to {to} Hz: {source}")]
    ResamplerSetup {
        from: u32,
        to: u32,
        source: rubato::ResamplerConstructionError,
    },
    /// The resampler rejected a chunk (a broken internal invariant, not the caller's fault).
    #[error("resampling failed: {0}")]
    Resample(#[from] rubato::ResampleError),
    /// A resampler buffer was sized wrongly (a broken internal invariant).
    #[error("resampler buffer size: {0}")]
    ResampleBuffer(#[from] rubato::audioadapter_buffers::SizeError),
}
