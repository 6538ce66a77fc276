//! The fbank settings of `model.toml`'s `[features]` table.
//!
//! The fixed parts of the contract (dither 0, povey window, power spectrum, log floor
//! f32::EPSILON, snip_edges, FFT size rounded up to a power of two) are not options: the
//! server implements exactly those, and a model that needs others must fail to load rather
//! than be fed subtly different features. Hence `deny_unknown_fields`.

use serde::Deserialize;

use super::FeatureError;

/// Kaldi fbank options; field names match `[features]` in `model.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbankOptions {
    /// Rate of the audio the features are computed from, in Hz.
    pub sample_rate: u32,
    /// Number of triangular mel filters (values per frame).
    pub num_mel_bins: usize,
    /// Analysis window length.
    pub frame_length_ms: f64,
    /// Hop between frames.
    pub frame_shift_ms: f64,
    /// Per-frame pre-emphasis coefficient (0 disables).
    pub preemph_coeff: f64,
    /// Subtract each frame's mean before pre-emphasis.
    pub remove_dc_offset: bool,
    /// Lower edge of the first mel filter, Hz.
    pub low_freq: f64,
    /// Upper edge of the last mel filter, Hz; 0 means Nyquist, negative is an offset below it.
    pub high_freq: f64,
    /// Factor applied to [-1, 1] samples first (32768 reproduces Kaldi's int16 scale).
    pub input_scale: f64,
}

impl Default for FbankOptions {
    /// The values of docs/model-contract.md.
    fn default() -> Self {
        Self {
            sample_rate: 16000,
            num_mel_bins: 80,
            frame_length_ms: 25.0,
            frame_shift_ms: 10.0,
            preemph_coeff: 0.97,
            remove_dc_offset: true,
            low_freq: 20.0,
            high_freq: 0.0,
            input_scale: 32768.0,
        }
    }
}

/// Options resolved to sample counts and absolute frequencies, after validation.
#[derive(Debug, Clone)]
pub(crate) struct FrameGeometry {
    /// Samples per analysis window.
    pub frame_length: usize,
    /// Samples between window starts.
    pub frame_shift: usize,
    /// FFT length: the window length rounded up to a power of two.
    pub fft_size: usize,
    /// Absolute upper mel edge in Hz.
    pub high_freq: f64,
}

impl FbankOptions {
    /// Checks every option and derives the window geometry.
    pub(crate) fn geometry(&self) -> Result<FrameGeometry, FeatureError> {
        let bad = |msg: String| Err(FeatureError::InvalidOption(msg));
        if self.sample_rate == 0 {
            return bad("sample_rate must be positive".into());
        }
        if self.num_mel_bins < 3 {
            return bad(format!(
                "num_mel_bins = {} must be at least 3",
                self.num_mel_bins
            ));
        }
        let rate = f64::from(self.sample_rate);
        let samples = |ms: f64| (rate * ms / 1000.0).round();
        let frame_length = samples(self.frame_length_ms);
        let frame_shift = samples(self.frame_shift_ms);
        if !(frame_length >= 2.0 && frame_length <= rate) {
            return bad(format!(
                "frame_length_ms = {} gives {frame_length} samples; need 2 to one second",
                self.frame_length_ms
            ));
        }
        if !(frame_shift >= 1.0 && frame_shift <= rate) {
            return bad(format!(
                "frame_shift_ms = {} gives {frame_shift} samples; need 1 to one second",
                self.frame_shift_ms
            ));
        }
        if !(0.0..=1.0).contains(&self.preemph_coeff) {
            return bad(format!(
                "preemph_coeff = {} must be in [0, 1]",
                self.preemph_coeff
            ));
        }
        if !(self.input_scale.is_finite() && self.input_scale > 0.0) {
            return bad(format!(
                "input_scale = {} must be positive",
                self.input_scale
            ));
        }
        let nyquist = rate / 2.0;
        let high_freq = if self.high_freq <= 0.0 {
            nyquist + self.high_freq
        } else {
            self.high_freq
        };
        if !(self.low_freq >= 0.0 && self.low_freq < high_freq && high_freq <= nyquist) {
            return bad(format!(
                "need 0 <= low_freq < high_freq <= Nyquist ({nyquist} Hz); got low_freq = {}, \
                 high_freq = {} (resolves to {high_freq} Hz)",
                self.low_freq, self.high_freq
            ));
        }
        let frame_length = frame_length as usize;
        Ok(FrameGeometry {
            frame_length,
            frame_shift: frame_shift as usize,
            fft_size: frame_length.next_power_of_two(),
            high_freq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_values_give_kaldi_geometry() {
        let g = FbankOptions::default().geometry().unwrap();
        assert_eq!((g.frame_length, g.frame_shift, g.fft_size), (400, 160, 512));
        assert_eq!(g.high_freq, 8000.0);
        let offset = FbankOptions {
            high_freq: -400.0,
            ..FbankOptions::default()
        };
        assert_eq!(offset.geometry().unwrap().high_freq, 7600.0);
    }

    #[test]
    fn parses_the_model_toml_table_and_rejects_unknown_keys() {
        let text = r#"
            sample_rate = 16000
            num_mel_bins = 80
            frame_length_ms = 25.0
            frame_shift_ms = 10.0
            preemph_coeff = 0.97
            remove_dc_offset = true
            low_freq = 20.0
            high_freq = 0.0
            input_scale = 32768.0
        "#;
        let opts: FbankOptions = toml::from_str(text).unwrap();
        assert_eq!(opts, FbankOptions::default());
        let extra = format!("{text}\nwindow_type = \"hamming\"\n");
        assert!(toml::from_str::<FbankOptions>(&extra).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        let d = FbankOptions::default;
        for opts in [
            FbankOptions {
                sample_rate: 0,
                ..d()
            },
            FbankOptions {
                num_mel_bins: 0,
                ..d()
            },
            FbankOptions {
                frame_length_ms: 0.0,
                ..d()
            },
            FbankOptions {
                frame_shift_ms: f64::NAN,
                ..d()
            },
            FbankOptions {
                low_freq: 9000.0,
                ..d()
            },
            FbankOptions {
                high_freq: 9000.0,
                ..d()
            },
            FbankOptions {
                preemph_coeff: 1.5,
                ..d()
            },
            FbankOptions {
                input_scale: 0.0,
                ..d()
            },
        ] {
            assert!(opts.geometry().is_err(), "{opts:?}");
        }
    }
}
