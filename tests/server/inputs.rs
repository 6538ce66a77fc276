//! Bad input over real loopback gRPC: every way a client can get a request wrong ends with
//! the exact status code and a message that says what to fix, and every way audio can be
//! merely unusual (empty chunks, clipping, DC offset) is still recognised. Limits are set
//! small through `ServerOptions`, so nothing here waits long. Cases already pinned elsewhere
//! are not repeated: `protocol.rs` (audio before the config, the streaming-only
//! encoding rule, pool exhaustion, garbage WAV, tonic's message cap) and
//! `server_streaming.rs` (a config with no audio gives one empty final).

use crate::common::recordings;

use std::time::Duration;

use crate::common::*;
use compact_asr::eval::ErrorCount;
use compact_asr::pipeline::Engine;
use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::proto::recognizer_client::RecognizerClient;
use compact_asr::proto::{
    RecognitionConfig, RecognizeRequest, StreamingRecognizeRequest, StreamingRecognizeResponse,
};
use compact_asr::server::protocol::StreamLimits;
use compact_asr::server::{RunningServer, ServerOptions};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};

const WAIT: Duration = Duration::from_secs(5);
/// How long a test waits for the server to end a call by itself before failing.
const GIVE_UP: Duration = Duration::from_secs(20);

/// The tiny model behind a server with these options; the engine is kept to watch its pool.
async fn start_tiny_with(
    options: ServerOptions,
) -> (RunningServer, RecognizerClient<Channel>, Engine) {
    let engine = engine(&tiny_model(), 2, WAIT);
    let server = RunningServer::start_with(engine.clone(), "127.0.0.1:0", options)
        .await
        .unwrap();
    let client = compact_asr::client::connect(&server.url()).await.unwrap();
    (server, client, engine)
}

fn with_limits(max_chunk_bytes: usize, max_audio: Duration) -> ServerOptions {
    ServerOptions {
        limits: StreamLimits {
            max_chunk_bytes,
            max_audio,
        },
        ..ServerOptions::default()
    }
}

fn assert_status(status: &Status, code: Code, needles: &[&str]) {
    assert_eq!(status.code(), code, "{status:?}");
    for needle in needles {
        assert!(
            status.message().contains(needle),
            "message {:?} should mention {needle:?}",
            status.message()
        );
    }
}

/// Reads every response, then the call's status (`Ok` for a clean end).
async fn responses_then_status(
    mut responses: tonic::Streaming<StreamingRecognizeResponse>,
) -> (Vec<StreamingRecognizeResponse>, Result<(), Status>) {
    let mut all = Vec::new();
    loop {
        match responses.message().await {
            Ok(Some(response)) => all.push(response),
            Ok(None) => return (all, Ok(())),
            Err(status) => return (all, Err(status)),
        }
    }
}

/// Sends `requests` (then half-closes) and returns the responses and the status.
async fn stream_all(
    client: &mut RecognizerClient<Channel>,
    requests: Vec<StreamingRecognizeRequest>,
) -> (Vec<StreamingRecognizeResponse>, Result<(), Status>) {
    match client
        .streaming_recognize(tokio_stream::iter(requests))
        .await
    {
        Ok(response) => responses_then_status(response.into_inner()).await,
        Err(status) => (Vec::new(), Err(status)),
    }
}

/// The final results' transcripts, joined as the client joins them.
fn finals_text(responses: &[StreamingRecognizeResponse]) -> String {
    responses
        .iter()
        .flat_map(|r| &r.results)
        .filter(|r| r.is_final)
        .map(|r| r.alternatives[0].transcript.as_str())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn float_bytes(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn unary(encoding: AudioEncoding, rate: i32, audio: Vec<u8>) -> RecognizeRequest {
    RecognizeRequest {
        config: Some(RecognitionConfig {
            encoding: encoding.into(),
            sample_rate_hertz: rate,
            ..Default::default()
        }),
        audio_content: audio,
    }
}

fn unary_text(response: &compact_asr::proto::RecognizeResponse) -> String {
    response
        .results
        .iter()
        .map(|r| r.alternatives[0].transcript.as_str())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn request_order_mistakes_name_the_rule() {
    let (_server, mut client, _engine) = start_tiny_with(ServerOptions::default()).await;
    let config = config_request(AudioEncoding::Linear16, 16000, 1, false);

    let (_, status) = stream_all(&mut client, vec![]).await;
    assert_status(
        &status.unwrap_err(),
        Code::InvalidArgument,
        &["ended before streaming_config was sent"],
    );
    let requests = vec![config.clone(), audio_request(&[0; 320]), config.clone()];
    let (_, status) = stream_all(&mut client, requests).await;
    assert_status(
        &status.unwrap_err(),
        Code::InvalidArgument,
        &["only be sent once"],
    );
    let empty = StreamingRecognizeRequest {
        streaming_request: None,
    };
    for requests in [vec![empty.clone()], vec![config, empty]] {
        let (_, status) = stream_all(&mut client, requests).await;
        assert_status(
            &status.unwrap_err(),
            Code::InvalidArgument,
            &["neither streaming_config nor audio_content"],
        );
    }
}

#[tokio::test]
async fn unsupported_encoding_rate_and_channels_name_what_is_supported() {
    let (_server, mut client, _engine) = start_tiny_with(ServerOptions::default()).await;
    let mut unknown = RecognitionConfig {
        sample_rate_hertz: 16000,
        ..Default::default()
    };
    unknown.encoding = 42;
    let (_, status) = stream_all(
        &mut client,
        vec![streaming_config_request(unknown, false, false)],
    )
    .await;
    assert_status(
        &status.unwrap_err(),
        Code::InvalidArgument,
        &["unknown encoding 42", "LINEAR16", "FLOAT32", "MULAW"],
    );
    for (rate, channels, needles) in [
        (7999, 1, ["7999 Hz", "8000 to 48000 Hz"]),
        (96000, 1, ["96000 Hz", "8000 to 48000 Hz"]),
        (16000, 9, ["9 audio channels", "1 to 8"]),
    ] {
        let config = config_request(AudioEncoding::Linear16, rate, channels, false);
        let (_, status) = stream_all(&mut client, vec![config]).await;
        assert_status(&status.unwrap_err(), Code::InvalidArgument, &needles);
        // The same rules hold for Recognize.
        let mut request = unary(AudioEncoding::Mulaw, rate, vec![0xFF; 800]);
        request.config.as_mut().unwrap().audio_channel_count = channels;
        let status = client.recognize(request).await.unwrap_err();
        assert_status(&status, Code::InvalidArgument, &needles);
    }
}

#[tokio::test]
async fn zero_length_chunks_are_accepted_and_change_nothing() {
    let (_server, mut client, _engine) = start_tiny_with(ServerOptions::default()).await;
    let config = config_request(AudioEncoding::Linear16, 16000, 1, false);
    // Only empty chunks: like a stream with no audio (server_streaming.rs), one empty final.
    let requests = vec![config.clone(), audio_request(&[]), audio_request(&[])];
    let (responses, status) = stream_all(&mut client, requests).await;
    status.unwrap();
    assert_eq!(responses.len(), 1, "{responses:?}");
    let result = &responses[0].results[0];
    assert!(result.is_final);
    assert_eq!(result.alternatives[0].transcript, "");

    let mut requests = vec![config, audio_request(&[])];
    for chunk in uneven_chunks(&pcm16(&tone_wav().samples)) {
        requests.push(audio_request(&chunk));
        requests.push(audio_request(&[]));
    }
    let (responses, status) = stream_all(&mut client, requests).await;
    status.unwrap();
    assert_eq!(finals_text(&responses), tone_expected());
}

#[tokio::test]
async fn a_chunk_over_the_size_limit_is_invalid_argument_naming_the_limit() {
    let (_server, mut client, engine) =
        start_tiny_with(with_limits(4000, Duration::from_secs(300))).await;
    let config = config_request(AudioEncoding::Linear16, 16000, 1, false);
    let pcm = pcm16(&tone_wav().samples);
    // Chunks of exactly the limit are fine.
    let mut requests = vec![config.clone()];
    requests.extend(pcm.chunks(4000).map(audio_request));
    let (responses, status) = stream_all(&mut client, requests).await;
    status.unwrap();
    assert_eq!(finals_text(&responses), tone_expected());

    let requests = vec![
        config,
        audio_request(&pcm[..3200]),
        audio_request(&pcm[..4001]),
    ];
    let (_, status) = stream_all(&mut client, requests).await;
    assert_status(
        &status.unwrap_err(),
        Code::InvalidArgument,
        &["4001 bytes", "limit of 4000 bytes", "max_chunk_bytes"],
    );
    assert_eq!(engine.pool_in_use(), 0);
}

#[tokio::test]
async fn a_stream_past_the_max_duration_gets_its_final_then_out_of_range() {
    let (_server, mut client, engine) =
        start_tiny_with(with_limits(1 << 20, Duration::from_secs(1))).await;
    let tone = tone_wav();
    let rate = tone.sample_rate as usize;
    assert!(
        tone.samples.len() >= 2 * rate,
        "the tone must last over the limit"
    );
    let config = config_request(AudioEncoding::Linear16, rate as i32, 1, true);
    // What the server hears of the first second, on a stream that ends there by itself.
    let mut requests = vec![config.clone()];
    requests.extend(pcm16(&tone.samples[..rate]).chunks(3000).map(audio_request));
    let (responses, status) = stream_all(&mut client, requests).await;
    status.unwrap();
    let first_second = finals_text(&responses);
    let first_end = responses.last().unwrap().results[0].result_end_time;
    assert!(
        !first_second.is_empty() && first_second != tone_expected(),
        "the first second must say less than the whole tone: {first_second:?}"
    );

    let mut requests = vec![config];
    requests.extend(pcm16(&tone.samples).chunks(3000).map(audio_request));
    let (responses, status) = stream_all(&mut client, requests).await;
    assert_status(
        &status.unwrap_err(),
        Code::OutOfRange,
        &["maximum of 1 s of audio", "max_audio_secs"],
    );
    let last = responses.last().expect("a final before the status");
    assert!(last.results[0].is_final, "the final comes last: {last:?}");
    assert_eq!(
        last.results[0].result_end_time, first_end,
        "ends at the limit"
    );
    assert_eq!(finals_text(&responses), first_second);
    assert_eq!(engine.pool_in_use(), 0);
}

#[tokio::test]
async fn an_idle_stream_gets_its_final_then_deadline_exceeded_and_frees_its_session() {
    let idle = Duration::from_millis(300);
    let options = ServerOptions {
        idle_timeout: idle,
        ..ServerOptions::default()
    };
    let (_server, mut client, engine) = start_tiny_with(options).await;
    let tone = tone_wav();
    let (tx, rx) = mpsc::channel(8);
    tx.send(config_request(AudioEncoding::Linear16, 16000, 1, false))
        .await
        .unwrap();
    tx.send(audio_request(&pcm16(&tone.samples))).await.unwrap();
    let started = std::time::Instant::now();
    let responses = client
        .streaming_recognize(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(engine.pool_in_use(), 1, "the open stream holds a session");
    // The client keeps the stream open (tx alive) but sends nothing more.
    let (responses, status) = tokio::time::timeout(GIVE_UP, responses_then_status(responses))
        .await
        .expect("the idle stream must be ended by the server");
    assert!(
        started.elapsed() >= idle,
        "ended after {:?}",
        started.elapsed()
    );
    assert_status(
        &status.unwrap_err(),
        Code::DeadlineExceeded,
        &["no request for 0.3 s", "idle_timeout_secs"],
    );
    assert!(responses.last().unwrap().results[0].is_final);
    assert_eq!(finals_text(&responses), tone_expected());
    assert_eq!(
        engine.pool_in_use(),
        0,
        "the idle stream's session is freed"
    );
    drop(tx);

    // Silent before the config too.
    let (tx, rx) = mpsc::channel::<StreamingRecognizeRequest>(1);
    let result = tokio::time::timeout(GIVE_UP, client.streaming_recognize(ReceiverStream::new(rx)))
        .await
        .expect("the silent call must be ended by the server");
    assert_status(
        &result.unwrap_err(),
        Code::DeadlineExceeded,
        &["idle_timeout_secs"],
    );
    drop(tx);
}

#[tokio::test]
async fn nan_and_infinite_float_samples_are_invalid_argument_naming_the_sample() {
    let (_server, mut client, engine) = start_tiny_with(ServerOptions::default()).await;
    let mut samples = tone_wav().samples;
    samples[1234] = f32::NAN;
    let mut requests = vec![config_request(AudioEncoding::Float32, 16000, 1, false)];
    requests.extend(
        uneven_chunks(&float_bytes(&samples))
            .iter()
            .map(|c| audio_request(c)),
    );
    let (_, status) = stream_all(&mut client, requests).await;
    assert_status(
        &status.unwrap_err(),
        Code::InvalidArgument,
        &["sample 1234 is NaN", "finite"],
    );
    assert_eq!(engine.pool_in_use(), 0);

    samples[1234] = 0.0;
    samples[77] = f32::NEG_INFINITY;
    let request = unary(AudioEncoding::Float32, 16000, float_bytes(&samples));
    let status = client.recognize(request).await.unwrap_err();
    assert_status(
        &status,
        Code::InvalidArgument,
        &["sample 77 is -inf", "finite"],
    );
}

#[tokio::test]
async fn truncated_wav_is_invalid_argument_saying_how_much_is_missing() {
    let (_server, mut client, _engine) = start_tiny_with(ServerOptions::default()).await;
    let wav = std::fs::read(tone_wav_path()).unwrap();
    let samples = tone_wav().samples.len();
    // The file cut 1000 samples short (the header still declares them all).
    let cut = wav[..wav.len() - 2000].to_vec();
    let status = client
        .recognize(unary(AudioEncoding::EncodingUnspecified, 0, cut))
        .await
        .unwrap_err();
    let declared = format!(
        "declares {samples} samples but only {} are present",
        samples - 1000
    );
    assert_status(&status, Code::InvalidArgument, &["truncated", &declared]);

    // A header whose data chunk claims 500 samples more than the file holds.
    let data = wav.windows(4).position(|w| w == b"data").unwrap() + 4;
    let mut inflated = wav.clone();
    let size = u32::from_le_bytes(inflated[data..data + 4].try_into().unwrap());
    inflated[data..data + 4].copy_from_slice(&(size + 1000).to_le_bytes());
    let status = client
        .recognize(unary(AudioEncoding::EncodingUnspecified, 0, inflated))
        .await
        .unwrap_err();
    let declared = format!(
        "declares {} samples but only {samples} are present",
        samples + 500
    );
    assert_status(&status, Code::InvalidArgument, &["truncated", &declared]);
}

#[tokio::test]
async fn recognize_with_too_much_audio_is_invalid_argument_naming_the_limit() {
    let (_server, mut client, _engine) =
        start_tiny_with(with_limits(1 << 20, Duration::from_secs(1))).await;
    let tone = tone_wav();
    let pcm = pcm16(&tone.samples);
    let seconds = format!(
        "{:.1} s",
        tone.samples.len() as f64 / f64::from(tone.sample_rate)
    );
    let needles = [seconds.as_str(), "limit of 1 s", "max_audio_secs"];
    let rate = tone.sample_rate as i32;
    let status = client
        .recognize(unary(AudioEncoding::Linear16, rate, pcm.clone()))
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, &needles);
    let wav = std::fs::read(tone_wav_path()).unwrap();
    let status = client
        .recognize(unary(AudioEncoding::EncodingUnspecified, 0, wav))
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, &needles);
    // Up to the limit is fine.
    let second = pcm[..2 * tone.sample_rate as usize].to_vec();
    client
        .recognize(unary(AudioEncoding::Linear16, rate, second))
        .await
        .unwrap();
}

/// Character error rate of `hypothesis` against `reference`, by the project's scorer.
fn cer(reference: &str, hypothesis: &str) -> f64 {
    ErrorCount::chars(reference, hypothesis).rate()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clipped_and_dc_offset_audio_is_accepted_and_recognised_like_the_clean_audio() {
    let engine = engine(
        &repo_path("models/baseline/model.toml"),
        2,
        Duration::from_secs(60),
    );
    let (_server, mut client) = start(engine).await;
    for (wav, reference) in recordings::recordings() {
        let audio = compact_asr::audio::read_wav_file(&wav).unwrap();
        let rate = audio.sample_rate as i32;
        let clipped: Vec<f32> = audio
            .samples
            .iter()
            .map(|s| (s * 4.0).clamp(-1.0, 1.0))
            .collect();
        let clipped_share =
            clipped.iter().filter(|s| s.abs() >= 1.0).count() as f64 / clipped.len() as f64;
        assert!(
            clipped_share > 0.01,
            "{}: only {clipped_share} clipped",
            wav.display()
        );
        // Full scale stays full scale: the loudest peaks clip a little.
        let offset: Vec<f32> = audio.samples.iter().map(|s| (s + 0.3).min(1.0)).collect();

        let mut text = Vec::new();
        for samples in [&audio.samples, &clipped, &offset] {
            let response = client
                .recognize(unary(AudioEncoding::Float32, rate, float_bytes(samples)))
                .await
                .unwrap()
                .into_inner();
            text.push(unary_text(&response));
        }
        let (clean, clipped, offset) = (&text[0], &text[1], &text[2]);
        let name = wav.display();
        assert!(!clean.is_empty(), "{name}: no transcript");
        // Kaldi's per-frame DC removal makes a constant offset (nearly) invisible.
        assert!(
            cer(clean, offset) <= 0.02,
            "{name}: DC offset {offset:?} vs clean {clean:?}"
        );
        // Clipping distorts, but the words survive.
        assert!(
            cer(clean, clipped) <= 0.20,
            "{name}: clipped {clipped:?} vs clean {clean:?}"
        );
        assert!(
            cer(&reference, clipped) <= cer(&reference, clean) + 0.10,
            "{name}: clipped {clipped:?} vs reference {reference:?}"
        );
    }
}
