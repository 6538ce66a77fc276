//! The default model (what `serve` loads with no `--model`, models/hybrid) over real loopback
//! gRPC: every `tests/data/*.wav`
//! with a sibling `*.txt` reference, streamed as LINEAR16 at its own sample rate and channel
//! count in uneven chunks (odd byte counts included), must come back within the stated
//! character error rate.
//!
//! The CER bound is the one `tests/pipeline/recordings.rs` states for the shipped (weak) models;
//! a fault anywhere on the gRPC path gives a different transcript or ~100% CER.

use crate::common::recordings;
use recordings::recordings;

use std::time::Duration;

use crate::common::*;
use compact_asr::eval::ErrorCount;
use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::transcribe::transcribe_file;

/// Highest character error rate accepted per recording.
const MAX_CER: f64 = 0.20;

/// The file's own samples, channels and rate, so the server does the resampling and the
/// downmix (16-bit files only, as the committed recordings are).
fn interleaved_pcm16(wav: &std::path::Path) -> (Vec<u8>, i32, i32) {
    let mut reader = hound::WavReader::open(wav).unwrap();
    let spec = reader.spec();
    assert_eq!(
        spec.bits_per_sample,
        16,
        "{}: 16-bit PCM expected",
        wav.display()
    );
    let pcm = reader
        .samples::<i16>()
        .flat_map(|s| s.unwrap().to_le_bytes())
        .collect();
    (pcm, spec.sample_rate as i32, i32::from(spec.channels))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_model_streams_test_recordings_within_the_cer_bound() {
    let model = repo_path(compact_asr::config::DEFAULT_MODEL);
    let recordings = recordings();
    assert!(
        !recordings.is_empty(),
        "tests/data has no *.wav + *.txt pairs"
    );
    let engine = engine(&model, 2, Duration::from_secs(60));
    let (_server, mut client) = start(engine.clone()).await;
    for (wav, reference) in recordings {
        let (pcm, rate, channels) = interleaved_pcm16(&wav);
        let mut requests = vec![config_request(
            AudioEncoding::Linear16,
            rate,
            channels,
            true,
        )];
        requests.extend(uneven_chunks(&pcm).iter().map(|c| audio_request(c)));
        let responses = stream(&mut client, requests).await.unwrap();
        let last = &responses.last().unwrap().results[0];
        assert!(
            last.is_final,
            "{}: the final result comes last",
            wav.display()
        );
        let transcript = &last.alternatives[0].transcript;
        let in_process = transcribe_file(&engine, &wav, 100).await.unwrap();
        assert_eq!(
            transcript,
            &in_process,
            "{}: gRPC vs in-process",
            wav.display()
        );
        let cer = ErrorCount::chars(&reference, transcript);
        assert!(
            cer.rate() <= MAX_CER,
            "{}: CER {cer} over {MAX_CER}\n  reference:  {reference}\n  transcript: {transcript}",
            wav.display()
        );
    }
}
