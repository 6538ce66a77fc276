//! The shipped model (models/baseline) over real loopback gRPC: every `tests/data/*.wav`
//! with a sibling `*.txt` reference, streamed at its own sample rate in uneven chunks (odd
//! byte counts included), must come back within the stated character error rate.
//!
//! The baseline's presence (`models/baseline/model.toml`) is the switch, as in
//! `tests/pipeline_baseline.rs`: before the recipe exports it there is nothing to run; once
//! it exists the recordings must be there too.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use compact_asr::eval::ErrorCount;
use compact_asr::proto::recognition_config::AudioEncoding;

/// Highest character error rate accepted per recording.
const MAX_CER: f64 = 0.10;

/// `(wav, normalised reference)` pairs in tests/data.
fn recordings() -> Vec<(PathBuf, String)> {
    let mut pairs: Vec<_> = std::fs::read_dir(repo_path("tests/data"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wav"))
        .filter_map(|wav| {
            let text = std::fs::read_to_string(wav.with_extension("txt")).ok()?;
            let words: Vec<_> = text.split_whitespace().collect();
            Some((wav, words.join(" ").to_lowercase()))
        })
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_streams_test_recordings_within_the_cer_bound() {
    let model = repo_path("models/baseline/model.toml");
    if !model.exists() {
        return;
    }
    let recordings = recordings();
    assert!(
        !recordings.is_empty(),
        "models/baseline exists but tests/data has no *.wav + *.txt pairs"
    );
    let (_server, mut client) = start(engine(&model, 2, Duration::from_secs(60))).await;
    for (wav, reference) in recordings {
        let audio = compact_asr::audio::read_wav_file(&wav).unwrap();
        let rate = i32::try_from(audio.sample_rate).unwrap();
        let mut requests = vec![config_request(AudioEncoding::Linear16, rate, 1, true)];
        requests.extend(
            uneven_chunks(&pcm16(&audio.samples))
                .iter()
                .map(|c| audio_request(c)),
        );
        let responses = stream(&mut client, requests).await.unwrap();
        let last = &responses.last().unwrap().results[0];
        assert!(
            last.is_final,
            "{}: the final result comes last",
            wav.display()
        );
        let transcript = &last.alternatives[0].transcript;
        let cer = ErrorCount::chars(&reference, transcript);
        assert!(
            cer.rate() <= MAX_CER,
            "{}: CER {cer} over {MAX_CER}\n  reference:  {reference}\n  transcript: {transcript}",
            wav.display()
        );
    }
}
