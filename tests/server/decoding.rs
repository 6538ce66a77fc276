//! The streaming decoder over real loopback gRPC with the shipped model and LM: finals at
//! endpoints mid-stream with their offsets, `single_utterance`, word time offsets on request,
//! n-best alternatives, phrase boosting through speech contexts, and invalid values refused.

use crate::common::noise;
use crate::common::recordings;
use noise::{with_noise, SNRS_DB};
use recordings::recordings;

use std::time::Duration;

use crate::common::*;
use compact_asr::audio::{read_wav_file, Resampler};
use compact_asr::decode::{BeamConfig, DecoderConfig, SearchMode};
use compact_asr::eval::ErrorCount;
use compact_asr::pipeline::{Engine, EngineConfig};
use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::proto::recognizer_client::RecognizerClient;
use compact_asr::proto::streaming_recognize_response::SpeechEventType;
use compact_asr::proto::{
    RecognitionConfig, SpeechContext, StreamingRecognitionResult, StreamingRecognizeResponse,
};
use compact_asr::server::RunningServer;
use tonic::transport::Channel;

const RATE: u32 = 16_000;
/// Bytes of 16-bit PCM per request: 100 ms.
const CHUNK_BYTES: usize = 3200;

/// The recording as mono samples at 16 kHz.
fn samples(wav: &std::path::Path) -> Vec<f32> {
    let audio = read_wav_file(wav).unwrap();
    let mut resampler = Resampler::new(audio.sample_rate, RATE).unwrap();
    let mut out = Vec::new();
    resampler.process(&audio.samples, &mut out).unwrap();
    resampler.flush(&mut out).unwrap();
    out
}

/// The baseline model decoding with beam search and the shipped LM.
async fn start_beam() -> (RunningServer, RecognizerClient<Channel>) {
    let engine = Engine::load(EngineConfig {
        pool_size: 2,
        acquire_timeout: Duration::from_secs(60),
        decoder: DecoderConfig {
            mode: SearchMode::Beam(BeamConfig::default()),
            ..DecoderConfig::default()
        },
        lm: Some(repo_path("models/baseline/lm.arpa")),
        ..EngineConfig::new(repo_path("models/baseline/model.toml"))
    })
    .unwrap();
    start(engine).await
}

fn config() -> RecognitionConfig {
    RecognitionConfig {
        encoding: AudioEncoding::Linear16.into(),
        sample_rate_hertz: RATE as i32,
        audio_channel_count: 1,
        ..Default::default()
    }
}

/// Streams 16 kHz `samples` in 100 ms requests after the config, then half-closes.
async fn recognise(
    client: &mut RecognizerClient<Channel>,
    config: RecognitionConfig,
    single_utterance: bool,
    samples: &[f32],
) -> Result<Vec<StreamingRecognizeResponse>, tonic::Status> {
    let mut requests = vec![streaming_config_request(config, true, single_utterance)];
    requests.extend(pcm16(samples).chunks(CHUNK_BYTES).map(audio_request));
    stream(client, requests).await
}

fn finals(responses: &[StreamingRecognizeResponse]) -> Vec<&StreamingRecognitionResult> {
    responses
        .iter()
        .flat_map(|r| &r.results)
        .filter(|r| r.is_final)
        .collect()
}

fn seconds(d: &Option<prost_types::Duration>) -> f64 {
    let d = d.as_ref().unwrap();
    d.seconds as f64 + f64::from(d.nanos) / 1e9
}

/// First recording, 1.5 s of silence, second recording; and the split time in seconds.
fn two_recordings() -> (Vec<f32>, f64, [String; 2]) {
    let pairs = recordings();
    assert!(pairs.len() >= 2, "tests/data needs two *.wav + *.txt pairs");
    let (first, second) = (&pairs[0], &pairs[pairs.len() - 1]);
    let mut audio = samples(&first.0);
    audio.extend(std::iter::repeat_n(0.0, RATE as usize * 3 / 2));
    let split = audio.len() as f64 / f64::from(RATE);
    audio.extend(samples(&second.0));
    (audio, split, [first.1.clone(), second.1.clone()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_ends_an_utterance_mid_stream_and_the_stream_goes_on() {
    let (_server, mut client) = start_beam().await;
    let (audio, split, references) = two_recordings();
    let total = audio.len() as f64 / f64::from(RATE);
    let config = RecognitionConfig {
        enable_word_time_offsets: true,
        ..config()
    };
    let responses = recognise(&mut client, config, false, &audio).await.unwrap();
    let results = finals(&responses);
    assert_eq!(results.len(), 2, "{responses:#?}");
    let (a, b) = (results[0], results[1]);
    // The first final comes during the pause, before the second recording starts, and
    // partials of the second utterance follow it.
    let (a_start, a_end) = (seconds(&a.result_start_time), seconds(&a.result_end_time));
    let (b_start, b_end) = (seconds(&b.result_start_time), seconds(&b.result_end_time));
    assert_eq!(a_start, 0.0);
    assert!(a_end > 0.8 && a_end < split, "{a_end} vs {split}");
    assert_eq!(b_start, a_end);
    assert!(
        b_end > split && (b_end - total).abs() < 0.1,
        "{b_end} vs {total}"
    );
    let first_final = responses
        .iter()
        .position(|r| r.results.iter().any(|x| x.is_final));
    let later_partials = responses[first_final.unwrap() + 1..]
        .iter()
        .flat_map(|r| &r.results)
        .filter(|r| !r.is_final)
        .count();
    assert!(later_partials > 0, "no partials after the first final");
    // Words lie inside their own utterance.
    let a_words = &a.alternatives[0].words;
    assert!(seconds(&a_words.last().unwrap().end_time) <= a_end);
    assert!(seconds(&b.alternatives[0].words[0].start_time) >= split - 0.05);
    // Same bounds as tests/pipeline/decode.rs (the second runs on the carried-over state).
    for (result, (reference, bound)) in [a, b].iter().zip(references.iter().zip([0.20, 0.35])) {
        let text = &result.alternatives[0].transcript;
        let cer = ErrorCount::chars(reference, text);
        assert!(cer.rate() <= bound, "CER {cer}: {text:?}");
    }
    // Partials carry the decoder's stability.
    let stabilities: Vec<f32> = responses
        .iter()
        .flat_map(|r| &r.results)
        .filter(|r| !r.is_final)
        .map(|r| r.stability)
        .collect();
    assert!(stabilities.iter().all(|s| (0.0..=1.0).contains(s)));
    assert!(stabilities.iter().any(|&s| s > 0.0), "{stabilities:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_utterance_sends_one_final_after_the_end_of_utterance_event() {
    let (_server, mut client) = start_beam().await;
    let (audio, split, references) = two_recordings();
    let responses = recognise(&mut client, config(), true, &audio)
        .await
        .unwrap();
    let results = finals(&responses);
    assert_eq!(results.len(), 1, "{responses:#?}");
    let events: Vec<usize> = responses
        .iter()
        .enumerate()
        .filter(|(_, r)| r.speech_event_type == SpeechEventType::EndOfSingleUtterance as i32)
        .map(|(i, _)| i)
        .collect();
    // Google's order: the event, then the final, then the call ends.
    assert_eq!(events, [responses.len() - 2], "{responses:#?}");
    assert!(responses.last().unwrap().results[0].is_final);
    assert!(seconds(&results[0].result_end_time) < split);
    let cer = ErrorCount::chars(&references[0], &results[0].alternatives[0].transcript);
    assert!(cer.rate() <= 0.20, "{cer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_only_when_asked_and_up_to_max_alternatives_ranked() {
    let (_server, mut client) = start_beam().await;
    let (wav, _) = &recordings()[0];
    let audio = samples(wav);
    for with_words in [false, true] {
        let config = RecognitionConfig {
            enable_word_time_offsets: with_words,
            max_alternatives: 3,
            ..config()
        };
        let responses = recognise(&mut client, config, false, &audio).await.unwrap();
        let results = finals(&responses);
        assert_eq!(results.len(), 1);
        let alternatives = &results[0].alternatives;
        assert!((2..=3).contains(&alternatives.len()), "{alternatives:#?}");
        let confidences: Vec<f32> = alternatives.iter().map(|a| a.confidence).collect();
        assert!(
            confidences.windows(2).all(|p| p[0] >= p[1])
                && confidences.iter().all(|c| (0.0..=1.0).contains(c)),
            "{confidences:?}"
        );
        let transcripts: Vec<&str> = alternatives.iter().map(|a| a.transcript.as_str()).collect();
        assert!(
            transcripts[1..].iter().all(|t| *t != transcripts[0]),
            "{transcripts:?}"
        );
        let best = &alternatives[0];
        if with_words {
            let words: Vec<&str> = best.words.iter().map(|w| w.word.as_str()).collect();
            assert_eq!(words.join(" "), best.transcript);
            let mut previous = 0.0;
            for w in &best.words {
                let (start, end) = (seconds(&w.start_time), seconds(&w.end_time));
                assert!(start >= previous && start < end, "{w:?}");
                previous = end;
            }
        } else {
            assert!(alternatives.iter().all(|a| a.words.is_empty()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boosted_phrase_replaces_a_misrecognised_word() {
    let (_server, mut client) = start_beam().await;
    // The shipped model reads the clean recordings word-perfectly: add noise until it errs.
    let cases = SNRS_DB
        .into_iter()
        .flat_map(|snr_db| recordings().into_iter().map(move |r| (snr_db, r)));
    for (snr_db, (wav, reference)) in cases {
        let audio = with_noise(samples(&wav), snr_db);
        let best = |responses: Vec<StreamingRecognizeResponse>| {
            let results = finals(&responses);
            assert_eq!(results.len(), 1);
            results[0].alternatives[0].transcript.clone()
        };
        let plain = best(
            recognise(&mut client, config(), false, &audio)
                .await
                .unwrap(),
        );
        let got: Vec<&str> = plain.split(' ').collect();
        let Some(missed) = reference
            .split(' ')
            .find(|w| w.len() >= 4 && !got.contains(w))
        else {
            continue;
        };
        let boosted_config = RecognitionConfig {
            speech_contexts: vec![SpeechContext {
                phrases: vec![missed.to_uppercase(), "zebra crossing".into()],
                boost: 8.0,
            }],
            ..config()
        };
        let boosted = best(
            recognise(&mut client, boosted_config, false, &audio)
                .await
                .unwrap(),
        );
        assert!(
            boosted.split(' ').any(|w| w == missed),
            "{}: boosting {missed:?} gave {boosted:?} (unboosted {plain:?})",
            wav.display()
        );
        assert!(!boosted.contains("zebra"), "{boosted:?}");
        return;
    }
    panic!("the beam got every word of every recording right even at 0 dB SNR");
}

#[tokio::test]
async fn invalid_decoding_values_are_invalid_argument_saying_what_to_fix() {
    let (_server, mut client) = start_tiny(1, Duration::from_secs(5)).await;
    let negative_boost = RecognitionConfig {
        speech_contexts: vec![SpeechContext {
            phrases: vec!["hello".into()],
            boost: -2.0,
        }],
        ..config()
    };
    let too_many = RecognitionConfig {
        max_alternatives: 31,
        ..config()
    };
    let phrases = RecognitionConfig {
        speech_contexts: vec![SpeechContext {
            phrases: (0..1001).map(|i| format!("w{i}")).collect(),
            boost: 1.0,
        }],
        ..config()
    };
    for (config, needle) in [
        (negative_boost, "boost -2 is out of range; use 0 to 20"),
        (too_many, "max_alternatives 31 is out of range; use 0 to 30"),
        (phrases, "1001 phrases; send at most 1000"),
    ] {
        let err = recognise(&mut client, config, false, &[0.0; 1600])
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains(needle), "{}", err.message());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_keeps_every_final_and_joins_them_in_order() {
    let (server, _client) = start_beam().await;
    let mut client = compact_asr::client::connect(&server.url()).await.unwrap();
    let (samples, _, references) = two_recordings();
    let audio = compact_asr::audio::DecodedAudio {
        samples,
        sample_rate: RATE,
    };
    let options = compact_asr::client::StreamOptions {
        chunk_ms: 100,
        ..Default::default()
    };
    let outcome = compact_asr::client::stream_audio(&mut client, &audio, &options)
        .await
        .unwrap();
    assert_eq!(outcome.earlier_finals.len(), 1, "{outcome:#?}");
    let first = &outcome.earlier_finals[0].alternatives[0].transcript;
    let last = &outcome.final_result.alternatives[0].transcript;
    assert_eq!(outcome.transcript(), format!("{first} {last}"));
    let cer = ErrorCount::chars(&references.join(" "), &outcome.transcript());
    assert!(cer.rate() <= 0.30, "CER {cer}: {:?}", outcome.transcript());
}
