//! Streaming Kaldi log-mel fbank: samples in, complete frames out.
//!
//! With snip_edges, frame `i` covers samples `[i*shift, i*shift + length)`, so a frame is
//! computed as soon as its last sample arrives and never changes afterwards; the stream
//! only keeps the samples that later frames still need. Every frame is computed by the
//! same code from the same samples, so chunking cannot change the output at all.

use super::mel::MelBanks;
use super::options::FrameGeometry;
use super::window::FrameAnalyzer;
use super::{FbankOptions, FeatureError};

/// Incremental fbank over one audio stream (mono f32 in [-1, 1] at `sample_rate`).
pub struct StreamingFbank {
    geometry: FrameGeometry,
    analyzer: FrameAnalyzer,
    banks: MelBanks,
    num_bins: usize,
    /// Samples from absolute index `buffer_start` on.
    buffer: Vec<f32>,
    buffer_start: u64,
    frames_emitted: u64,
}

impl std::fmt::Debug for StreamingFbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingFbank")
            .field("num_bins", &self.num_bins)
            .field("frames_emitted", &self.frames_emitted)
            .field("buffered_samples", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl StreamingFbank {
    /// A fresh stream; fails if `opts` are out of range.
    pub fn new(opts: &FbankOptions) -> Result<Self, FeatureError> {
        let geometry = opts.geometry()?;
        let analyzer = FrameAnalyzer::new(
            &geometry,
            opts.input_scale,
            opts.preemph_coeff,
            opts.remove_dc_offset,
        );
        let banks = MelBanks::new(
            opts.num_mel_bins,
            f64::from(opts.sample_rate),
            geometry.fft_size,
            opts.low_freq,
            geometry.high_freq,
        );
        Ok(Self {
            geometry,
            analyzer,
            banks,
            num_bins: opts.num_mel_bins,
            buffer: Vec::new(),
            buffer_start: 0,
            frames_emitted: 0,
        })
    }

    /// Adds samples and appends every frame that is now complete to `out`
    /// (`num_bins()` values per frame, frames in order).
    pub fn accept(&mut self, samples: &[f32], out: &mut Vec<f32>) {
        self.buffer.extend_from_slice(samples);
        let length = self.geometry.frame_length as u64;
        let shift = self.geometry.frame_shift as u64;
        let buffer_end = self.buffer_start + self.buffer.len() as u64;
        let mut next = self.frames_emitted * shift;
        while next + length <= buffer_end {
            let offset = (next - self.buffer_start) as usize;
            let window = &self.buffer[offset..offset + self.geometry.frame_length];
            let power = self.analyzer.power_spectrum(window);
            self.banks.log_energies(power, out);
            self.frames_emitted += 1;
            next += shift;
        }
        let keep_from = next.min(buffer_end);
        self.buffer
            .drain(..(keep_from - self.buffer_start) as usize);
        self.buffer_start = keep_from;
    }

    /// Values per frame.
    pub fn num_bins(&self) -> usize {
        self.num_bins
    }

    /// Frames produced since the stream started.
    pub fn frames_emitted(&self) -> u64 {
        self.frames_emitted
    }
}

/// Fbank frames of a whole signal, flattened row-major `[frames, num_mel_bins]`.
pub fn compute_fbank(opts: &FbankOptions, samples: &[f32]) -> Result<Vec<f32>, FeatureError> {
    let mut fbank = StreamingFbank::new(opts)?;
    let mut out = Vec::new();
    fbank.accept(samples, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_signal(n: usize) -> Vec<f32> {
        let mut seed = 7u32;
        (0..n)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                0.3 * (i as f32 * 0.05).sin() + 0.05 * noise
            })
            .collect()
    }

    fn in_chunks(samples: &[f32], sizes: &[usize]) -> Vec<f32> {
        let mut fbank = StreamingFbank::new(&FbankOptions::default()).unwrap();
        let mut out = Vec::new();
        let mut pos = 0;
        for &size in sizes.iter().cycle() {
            if pos >= samples.len() {
                break;
            }
            let end = (pos + size).min(samples.len());
            fbank.accept(&samples[pos..end], &mut out);
            pos = end;
        }
        assert_eq!(fbank.num_bins(), 80);
        assert_eq!(
            fbank.frames_emitted() as usize * fbank.num_bins(),
            out.len()
        );
        out
    }

    #[test]
    fn frame_count_follows_snip_edges() {
        let opts = FbankOptions::default();
        for (n, frames) in [(0, 0), (399, 0), (400, 1), (559, 1), (560, 2), (16000, 98)] {
            let out = compute_fbank(&opts, &test_signal(n)).unwrap();
            assert_eq!(out.len(), frames * 80, "{n} samples");
        }
    }

    #[test]
    fn any_chunking_gives_identical_frames() {
        let samples = test_signal(8123);
        let whole = compute_fbank(&FbankOptions::default(), &samples).unwrap();
        assert_eq!(whole.len(), 49 * 80);
        let mut seed = 99u32;
        let random: Vec<usize> = (0..200)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as usize % 500
            })
            .collect();
        for sizes in [&[1][..], &[37], &[160], &[401], &[0, 3, 1000], &random] {
            assert_eq!(
                in_chunks(&samples, sizes),
                whole,
                "sizes {:?}",
                &sizes[..sizes.len().min(3)]
            );
        }
    }

    #[test]
    fn shift_longer_than_window_skips_samples() {
        let opts = FbankOptions {
            frame_length_ms: 10.0,
            frame_shift_ms: 25.0,
            ..FbankOptions::default()
        };
        let samples = test_signal(2000);
        let whole = compute_fbank(&opts, &samples).unwrap();
        // Windows start at 0, 400, 800, 1200, 1600 (each 160 long).
        assert_eq!(whole.len(), 5 * 80);
        let mut fbank = StreamingFbank::new(&opts).unwrap();
        let mut out = Vec::new();
        for chunk in samples.chunks(7) {
            fbank.accept(chunk, &mut out);
        }
        assert_eq!(out, whole);
        // The fourth window equals a one-shot fbank of its own samples.
        let alone = compute_fbank(&opts, &samples[1200..1360]).unwrap();
        assert_eq!(&whole[3 * 80..4 * 80], &alone[..]);
    }
}
