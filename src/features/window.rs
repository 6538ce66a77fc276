//! Kaldi's per-frame preparation: scale, DC removal, pre-emphasis, povey window, power spectrum.
//!
//! Everything runs in f64 so rounding stays far below the 1e-3 tolerance against
//! kaldi-native-fbank, whatever the signal level.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::options::FrameGeometry;

/// Turns one window of raw samples into its power spectrum (fft_size/2 + 1 bins).
pub(crate) struct FrameAnalyzer {
    window: Vec<f64>,
    input_scale: f64,
    preemph: f64,
    remove_dc: bool,
    fft: Arc<dyn RealToComplex<f64>>,
    frame: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
}

impl FrameAnalyzer {
    pub fn new(geometry: &FrameGeometry, input_scale: f64, preemph: f64, remove_dc: bool) -> Self {
        let n = geometry.frame_length;
        let a = 2.0 * std::f64::consts::PI / (n - 1) as f64;
        let window = (0..n)
            .map(|i| (0.5 - 0.5 * (a * i as f64).cos()).powf(0.85))
            .collect();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(geometry.fft_size);
        let frame = fft.make_input_vec();
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        let power = vec![0.0; spectrum.len()];
        Self {
            window,
            input_scale,
            preemph,
            remove_dc,
            fft,
            frame,
            spectrum,
            scratch,
            power,
        }
    }

    /// The power spectrum of `samples` (exactly one window long).
    pub fn power_spectrum(&mut self, samples: &[f32]) -> &[f64] {
        let n = self.window.len();
        let frame = &mut self.frame[..n];
        for (dst, &s) in frame.iter_mut().zip(samples) {
            *dst = f64::from(s) * self.input_scale;
        }
        if self.remove_dc {
            let mean = frame.iter().sum::<f64>() / n as f64;
            frame.iter_mut().for_each(|x| *x -= mean);
        }
        if self.preemph != 0.0 {
            for i in (1..n).rev() {
                frame[i] -= self.preemph * frame[i - 1];
            }
            frame[0] -= self.preemph * frame[0];
        }
        for (x, w) in frame.iter_mut().zip(&self.window) {
            *x *= w;
        }
        self.frame[n..].iter_mut().for_each(|x| *x = 0.0);
        // The buffers come from the plan's own make_*_vec, so its length check cannot fail;
        // were it ever to, the frame reads as silence instead of panicking on a request path.
        if self
            .fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
            .is_err()
        {
            self.power.iter_mut().for_each(|p| *p = 0.0);
            return &self.power;
        }
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }
        &self.power
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FbankOptions;

    #[test]
    fn sine_power_peaks_at_its_bin_and_dc_is_removed() {
        let geometry = FbankOptions::default().geometry().unwrap();
        let mut a = FrameAnalyzer::new(&geometry, 32768.0, 0.97, true);
        // 1 kHz = bin 32 of a 512-point FFT at 16 kHz; a large DC offset on top.
        let samples: Vec<f32> = (0..400)
            .map(|i| 0.3 + 0.1 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin())
            .collect();
        let power = a.power_spectrum(&samples).to_vec();
        assert_eq!(power.len(), 257);
        let peak = (0..257)
            .max_by(|&i, &j| power[i].total_cmp(&power[j]))
            .unwrap();
        assert_eq!(peak, 32);
        assert!(
            power[0] < power[32] * 1e-6,
            "DC left: {} vs {}",
            power[0],
            power[32]
        );
    }

    #[test]
    fn povey_window_shape() {
        let geometry = FbankOptions::default().geometry().unwrap();
        let a = FrameAnalyzer::new(&geometry, 1.0, 0.0, false);
        assert_eq!(a.window[0], 0.0);
        assert!(a.window[399].abs() < 1e-12);
        // Symmetric, and at the centre hann^0.85 is close to 1.
        assert!((a.window[100] - a.window[299]).abs() < 1e-12);
        assert!(a.window[200] > 0.999);
    }
}
