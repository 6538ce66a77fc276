//! Deterministic white noise, to make clean test recordings as hard as a bad line when a
//! test needs the model to get something wrong.

/// Signal-to-noise ratios to try, cleanest first, until a test finds a recognition error.
pub const SNRS_DB: [f32; 4] = [20.0, 10.0, 5.0, 0.0];

/// `samples` plus uniform white noise `snr_db` below the signal's mean power.
pub fn with_noise(mut samples: Vec<f32>, snr_db: f32) -> Vec<f32> {
    let power = samples.iter().map(|x| x * x).sum::<f32>() / samples.len().max(1) as f32;
    // Uniform on [-a, a] has variance a² / 3.
    let amplitude = (3.0 * power / 10f32.powf(snr_db / 10.0)).sqrt();
    let mut state = 0x2545_f491_u32;
    for x in &mut samples {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *x += amplitude * ((state >> 8) as f32 / (1u32 << 23) as f32 - 1.0);
    }
    samples
}
