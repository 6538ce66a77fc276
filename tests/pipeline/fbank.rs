//! The Rust fbank against kaldi-native-fbank's frames (tests/data/fbank, made by
//! make_fixtures.py): every value within 1e-3, whole and streamed in uneven chunks.

use std::path::{Path, PathBuf};

use compact_asr::audio::read_wav_file;
use compact_asr::features::{compute_fbank, FbankOptions, FrameStacker, StreamingFbank};
use serde::Deserialize;

use crate::common::reference::{max_abs_diff, read_f32};

#[derive(Deserialize)]
struct Fixtures {
    sample_rate: u32,
    num_mel_bins: usize,
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    wav: String,
    fbank: String,
    samples: usize,
    frames: usize,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fbank")
}

fn load() -> Fixtures {
    let text = std::fs::read_to_string(fixture_dir().join("fixtures.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

#[test]
fn matches_kaldi_native_fbank_within_1e_3() {
    let fixtures = load();
    let opts = FbankOptions::default();
    assert_eq!(fixtures.sample_rate, opts.sample_rate);
    assert_eq!(fixtures.num_mel_bins, opts.num_mel_bins);
    assert!(fixtures.case.len() >= 4);
    for case in &fixtures.case {
        let audio = read_wav_file(&fixture_dir().join(&case.wav)).unwrap();
        assert_eq!(audio.sample_rate, opts.sample_rate, "{}", case.name);
        assert_eq!(audio.samples.len(), case.samples, "{}", case.name);
        let reference = read_f32(&fixture_dir().join(&case.fbank));
        assert_eq!(
            reference.len(),
            case.frames * opts.num_mel_bins,
            "{}",
            case.name
        );
        let ours = compute_fbank(&opts, &audio.samples).unwrap();
        let diff = max_abs_diff(&ours, &reference);
        assert!(diff <= 1e-3, "{}: max |diff| {diff}", case.name);
    }
}

#[test]
fn streamed_reference_audio_gives_identical_frames() {
    let fixtures = load();
    let opts = FbankOptions::default();
    let case = fixtures.case.iter().find(|c| c.name == "speech").unwrap();
    let audio = read_wav_file(&fixture_dir().join(&case.wav)).unwrap();
    let whole = compute_fbank(&opts, &audio.samples).unwrap();
    for sizes in [&[1usize][..], &[37], &[160], &[401], &[3, 517, 64, 1601, 9]] {
        let mut fbank = StreamingFbank::new(&opts).unwrap();
        let mut out = Vec::new();
        let mut pos = 0;
        for &size in sizes.iter().cycle() {
            if pos >= audio.samples.len() {
                break;
            }
            let end = (pos + size).min(audio.samples.len());
            fbank.accept(&audio.samples[pos..end], &mut out);
            pos = end;
        }
        assert_eq!(out, whole, "chunk sizes {sizes:?}");
        assert_eq!(fbank.frames_emitted() as usize, case.frames);
    }
}

#[test]
fn stacked_reference_frames_follow_the_contract() {
    let fixtures = load();
    let case = fixtures
        .case
        .iter()
        .find(|c| c.name == "chirp_noise")
        .unwrap();
    let reference = read_f32(&fixture_dir().join(&case.fbank));
    let bins = fixtures.num_mel_bins;
    let mut stacker = FrameStacker::new(3, 3, bins).unwrap();
    let mut out = Vec::new();
    for frame in reference.chunks(bins) {
        stacker.push(frame, &mut out);
    }
    let model_frames = case.frames / 3;
    assert_eq!(out.len(), model_frames * 3 * bins);
    // Model frame k is fbank frames 3k, 3k+1, 3k+2 back to back.
    for k in 0..model_frames {
        assert_eq!(
            &out[k * 3 * bins..(k + 1) * 3 * bins],
            &reference[3 * k * bins..(3 * k + 3) * bins]
        );
    }
}
