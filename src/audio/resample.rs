//! Streaming sample-rate conversion of mono audio to the model's rate.
//!
//! Clients send 8–48 kHz audio in chunks of any size. rubato's FFT resampler works on fixed
//! input blocks, so this wrapper buffers input into those blocks: the output therefore does
//! not depend on how the caller chunks the input. The resampler's start-up delay is cut from
//! the front and the tail is pumped out on [`Resampler::flush`], so output sample `k`
//! lines up with input time `k / to_hz` and the total length is `input_len * to / from`.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _, WindowFunction};

use super::AudioError;

/// Lowest input/output rate accepted.
const MIN_RATE_HZ: u32 = 8000;
/// Highest input/output rate accepted.
const MAX_RATE_HZ: u32 = 48000;

/// Target input block length in milliseconds. Longer blocks give a sharper anti-aliasing
/// filter (cutoff closer to Nyquist) at the cost of latency (up to 1.5 blocks).
const BLOCK_MS: u32 = 40;

/// Input samples per FFT block: about `BLOCK_MS`, a whole number of the smallest blocks
/// the rate pair allows (`from / gcd`), and an even number of them so that the FFT sizes
/// on both sides are even. Then the resampler's delay is exactly `fft_size_out / 2` whole
/// output samples and trimming it leaves no fractional time shift.
fn block_len(from_hz: u32, to_hz: u32) -> usize {
    let min_block = (from_hz / gcd(from_hz, to_hz)) as usize;
    let wanted = (from_hz * BLOCK_MS / 1000) as usize;
    let blocks = wanted.div_ceil(min_block).next_multiple_of(2);
    blocks * min_block
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// A streaming, band-limited mono resampler (identity when the rates are equal).
pub struct Resampler {
    from_hz: u32,
    to_hz: u32,
    inner: Option<Inner>,
}

struct Inner {
    fft: Fft<f32>,
    /// Input samples not yet processed (fewer than one block after each call).
    pending: Vec<f32>,
    /// Scratch output block.
    block_out: Vec<f32>,
    /// Output samples still to drop to compensate the resampler's delay.
    to_trim: usize,
    /// Input samples received since the start of the stream.
    input_total: u64,
    /// Output samples emitted since the start of the stream.
    output_total: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A resampler from `from_hz` to `to_hz`, both within 8000..=48000.
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, AudioError> {
        for rate in [from_hz, to_hz] {
            if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&rate) {
                return Err(AudioError::SampleRate {
                    rate,
                    min: MIN_RATE_HZ,
                    max: MAX_RATE_HZ,
                });
            }
        }
        let inner = if from_hz == to_hz {
            None
        } else {
            let fft = Fft::<f32>::new_custom(
                from_hz as usize,
                to_hz as usize,
                block_len(from_hz, to_hz),
                1,
                1,
                WindowFunction::BlackmanHarris2,
                FixedSync::Input,
            )
            .map_err(|source| AudioError::ResamplerSetup {
                from: from_hz,
                to: to_hz,
                source,
            })?;
            let to_trim = fft.output_delay();
            let block_out = vec![0.0; fft.output_frames_max()];
            Some(Inner {
                fft,
                pending: Vec::new(),
                block_out,
                to_trim,
                input_total: 0,
                output_total: 0,
            })
        };
        Ok(Self {
            from_hz,
            to_hz,
            inner,
        })
    }

    /// Resamples `input`, appending whatever output is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        inner.input_total += input.len() as u64;
        let mut pending = std::mem::take(&mut inner.pending);
        pending.extend_from_slice(input);
        let block = inner.fft.input_frames_next();
        let mut start = 0;
        let mut result = Ok(());
        while result.is_ok() && pending.len() - start >= block {
            result = InterleavedSlice::new(&pending[start..start + block], 1, block)
                .map_err(AudioError::from)
                .and_then(|chunk| inner.run_block(&chunk, None, out));
            start += block;
        }
        pending.drain(..start);
        inner.pending = pending;
        result
    }

    /// Ends the stream: emits the remaining output so the total is
    /// `round(input_len * to / from)` samples, then resets for a new stream.
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let (from, to) = (u64::from(self.from_hz), u64::from(self.to_hz));
        let Some(inner) = self.inner.as_mut() else {
            return Ok(());
        };
        let expected = (inner.input_total * to + from / 2) / from;
        let wanted = expected.saturating_sub(inner.output_total) as usize;
        let block = inner.fft.input_frames_next();
        let mut padded = std::mem::take(&mut inner.pending);
        let valid = Indexing::new().partial_len(padded.len());
        padded.resize(block, 0.0);
        let chunk = InterleavedSlice::new(&padded[..], 1, block)?;
        let start_len = out.len();
        inner.run_block(&chunk, Some(&valid), out)?;
        // The rest of the signal is still inside the FFT overlap: pump silence through.
        let silence = Indexing::new().partial_len(0);
        while out.len() - start_len < wanted {
            inner.run_block(&chunk, Some(&silence), out)?;
        }
        out.truncate(start_len + wanted);
        inner.reset();
        Ok(())
    }
}

impl Inner {
    /// Runs one input block and appends its output, minus any delay still to trim.
    fn run_block(
        &mut self,
        chunk: &InterleavedSlice<&[f32]>,
        indexing: Option<&Indexing>,
        out: &mut Vec<f32>,
    ) -> Result<(), AudioError> {
        let frames = self.block_out.len();
        let mut block_out = InterleavedSlice::new_mut(&mut self.block_out[..], 1, frames)?;
        let (_, produced) = self
            .fft
            .process_into_buffer(chunk, &mut block_out, indexing)?;
        let skip = self.to_trim.min(produced);
        self.to_trim -= skip;
        out.extend_from_slice(&self.block_out[skip..produced]);
        self.output_total += (produced - skip) as u64;
        Ok(())
    }

    fn reset(&mut self) {
        self.fft.reset();
        self.pending.clear();
        self.to_trim = self.fft.output_delay();
        self.input_total = 0;
        self.output_total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn sine(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn resample_in_chunks(from: u32, input: &[f32], sizes: &[usize]) -> Vec<f32> {
        let mut r = Resampler::new(from, 16000).unwrap();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        while pos < input.len() {
            let end = (pos + sizes[k % sizes.len()]).min(input.len());
            r.process(&input[pos..end], &mut out).unwrap();
            pos = end;
            k += 1;
        }
        r.flush(&mut out).unwrap();
        out
    }

    #[test]
    fn rejects_rates_out_of_range() {
        assert!(matches!(
            Resampler::new(4000, 16000),
            Err(AudioError::SampleRate { rate: 4000, .. })
        ));
        assert!(Resampler::new(16000, 96000).is_err());
    }

    #[test]
    fn equal_rates_pass_through() {
        let input = sine(440.0, 16000, 0.1);
        let out = resample_in_chunks(16000, &input, &[37]);
        assert_eq!(out, input);
    }

    #[test]
    fn length_and_sine_alignment_are_preserved() {
        for from in [8000, 22050, 44100, 48000] {
            // 7 kHz only where the input rate can carry it.
            for freq in [440.0f32, 3000.0, 7000.0]
                .into_iter()
                .filter(|&f| f < from as f32 / 2.0)
            {
                let input = sine(freq, from, 1.0);
                let out = resample_in_chunks(from, &input, &[input.len()]);
                let expected_len =
                    (input.len() as u64 * 16000 + u64::from(from) / 2) / u64::from(from);
                assert_eq!(out.len() as u64, expected_len, "{from} Hz");
                // No leading delay: the output is the same sine sampled at 16 kHz. Edges are
                // skipped (the band-limited filter rings where the sine starts and stops).
                let ideal = sine(freq, 16000, 1.0);
                let worst = (800..out.len() - 800)
                    .map(|k| (out[k] - ideal[k]).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 5e-3, "{from} Hz, {freq} Hz tone: max error {worst}");
            }
        }
    }

    #[test]
    fn chunking_does_not_change_output() {
        let mut seed = 12345u32;
        let random_sizes: Vec<usize> = (0..64)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                1 + (seed >> 16) as usize % 700
            })
            .collect();
        for from in [8000, 22050, 44100, 48000] {
            let input = sine(523.0, from, 0.4);
            let whole = resample_in_chunks(from, &input, &[input.len()]);
            for sizes in [&[1][..], &[37], &[160], &[401], &random_sizes] {
                let chunked = resample_in_chunks(from, &input, sizes);
                assert_eq!(
                    chunked.len(),
                    whole.len(),
                    "{from} Hz, sizes {:?}",
                    &sizes[..1]
                );
                let worst = whole
                    .iter()
                    .zip(&chunked)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    worst <= 1e-4,
                    "{from} Hz: chunking changed output by {worst}"
                );
            }
        }
    }

    #[test]
    fn content_above_new_nyquist_is_removed() {
        // A 10 kHz tone cannot be represented at 16 kHz; unfiltered it would alias to 6 kHz.
        let input = sine(10000.0, 48000, 0.5);
        let out = resample_in_chunks(48000, &input, &[480]);
        let interior = &out[800..out.len() - 800];
        let rms = (interior.iter().map(|x| x * x).sum::<f32>() / interior.len() as f32).sqrt();
        assert!(rms < 0.01, "aliased energy rms {rms}");
    }

    #[test]
    fn flush_resets_for_a_new_stream() {
        let input = sine(440.0, 8000, 0.3);
        let mut r = Resampler::new(8000, 16000).unwrap();
        let mut first = Vec::new();
        r.process(&input, &mut first).unwrap();
        r.flush(&mut first).unwrap();
        let mut second = Vec::new();
        r.process(&input, &mut second).unwrap();
        r.flush(&mut second).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 4800);
    }
}
