//! Kaldi's triangular mel filterbank over the power spectrum.
//!
//! Filters are triangles in the mel domain (mel = 1127 ln(1 + f/700)), spaced evenly
//! between `low_freq` and `high_freq`, evaluated at FFT bin centres 0..fft_size/2 (the
//! Nyquist bin is left out, as Kaldi does).

/// One filter: its weights start at FFT bin `first`.
#[derive(Debug, Clone)]
struct MelFilter {
    first: usize,
    weights: Vec<f64>,
}

/// The filterbank, applied to one power spectrum at a time.
#[derive(Debug, Clone)]
pub(crate) struct MelBanks {
    filters: Vec<MelFilter>,
}

fn mel_scale(freq: f64) -> f64 {
    1127.0 * (1.0 + freq / 700.0).ln()
}

impl MelBanks {
    /// Filters for `num_bins` bands between `low_freq` and `high_freq` (absolute Hz) over
    /// an FFT of `fft_size` points at `sample_rate`.
    pub fn new(
        num_bins: usize,
        sample_rate: f64,
        fft_size: usize,
        low_freq: f64,
        high_freq: f64,
    ) -> Self {
        let num_fft_bins = fft_size / 2;
        let bin_width = sample_rate / fft_size as f64;
        let mel_low = mel_scale(low_freq);
        let mel_high = mel_scale(high_freq);
        let delta = (mel_high - mel_low) / (num_bins + 1) as f64;
        // Once per FFT bin, not once per bin and filter: every stream builds these banks,
        // and 80 x 256 logarithms were most of a new stream's set-up time.
        let bin_mels: Vec<f64> = (0..num_fft_bins)
            .map(|i| mel_scale(bin_width * i as f64))
            .collect();
        let filters = (0..num_bins)
            .map(|b| {
                let left = mel_low + b as f64 * delta;
                let center = left + delta;
                let right = center + delta;
                let mut first = None;
                let mut weights = Vec::new();
                for (i, &mel) in bin_mels.iter().enumerate() {
                    if mel > left && mel < right {
                        let w = if mel <= center {
                            (mel - left) / (center - left)
                        } else {
                            (right - mel) / (right - center)
                        };
                        first.get_or_insert(i);
                        weights.push(w);
                    }
                }
                MelFilter {
                    first: first.unwrap_or(0),
                    weights,
                }
            })
            .collect();
        Self { filters }
    }

    /// Appends `ln(max(energy, f32::EPSILON))` of every band of `power` to `out`.
    pub fn log_energies(&self, power: &[f64], out: &mut Vec<f32>) {
        let floor = f64::from(f32::EPSILON);
        out.extend(self.filters.iter().map(|f| {
            let energy: f64 = power[f.first..f.first + f.weights.len()]
                .iter()
                .zip(&f.weights)
                .map(|(p, w)| p * w)
                .sum();
            energy.max(floor).ln() as f32
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_unit_peaked_triangles_covering_the_band() {
        let banks = MelBanks::new(80, 16000.0, 512, 20.0, 8000.0);
        assert_eq!(banks.filters.len(), 80);
        let mut previous_first = 0;
        for f in &banks.filters {
            assert!(!f.weights.is_empty());
            assert!(f.weights.iter().all(|&w| w > 0.0 && w <= 1.0));
            assert!(f.first >= previous_first);
            assert!(f.first + f.weights.len() <= 256);
            previous_first = f.first;
        }
        // 20 Hz is between bins 0 (0 Hz) and 1 (31.25 Hz): bin 0 is outside every filter.
        assert_eq!(banks.filters[0].first, 1);
        // Wide high filters reach a peak close to 1.
        let top = &banks.filters[79];
        assert!(top.weights.iter().cloned().fold(0.0, f64::max) > 0.9);
    }

    #[test]
    fn flat_spectrum_gives_log_of_filter_area() {
        let banks = MelBanks::new(23, 8000.0, 256, 20.0, 4000.0);
        let power = vec![2.0; 129];
        let mut out = Vec::new();
        banks.log_energies(&power, &mut out);
        for (f, &e) in banks.filters.iter().zip(&out) {
            let area: f64 = f.weights.iter().sum();
            assert!(((2.0 * area).ln() as f32 - e).abs() < 1e-6);
        }
        let mut silent = Vec::new();
        banks.log_energies(&vec![0.0; 129], &mut silent);
        assert!(silent.iter().all(|&e| e == f32::EPSILON.ln()));
    }
}
