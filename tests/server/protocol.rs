//! The server's protocol rules over real loopback gRPC: exact status codes for misuse,
//! pool exhaustion and release, health and reflection. Uses the tiny test model; nothing
//! here depends on how fast the machine is.

use std::time::Duration;

use crate::common::*;
use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::proto::{RecognitionConfig, RecognizeRequest};
use tokio_stream::StreamExt;
use tonic::Code;

const SHORT_WAIT: Duration = Duration::from_millis(200);
const LONG_WAIT: Duration = Duration::from_secs(30);

fn assert_status(result: Result<impl std::fmt::Debug, tonic::Status>, code: Code, needle: &str) {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "message {:?} should mention {needle:?}",
        status.message()
    );
}

#[tokio::test]
async fn audio_before_config_is_invalid_argument() {
    let (_server, mut client) = start_tiny(1, SHORT_WAIT).await;
    let result = stream(&mut client, vec![audio_request(&[0; 320])]).await;
    assert_status(
        result,
        Code::InvalidArgument,
        "first request must be streaming_config",
    );
}

#[tokio::test]
async fn second_config_is_invalid_argument() {
    let (_server, mut client) = start_tiny(1, SHORT_WAIT).await;
    let config = config_request(AudioEncoding::Linear16, 16000, 1, false);
    let requests = vec![config.clone(), audio_request(&[0; 320]), config];
    let result = stream(&mut client, requests).await;
    assert_status(result, Code::InvalidArgument, "streaming_config");
}

#[tokio::test]
async fn empty_request_stream_is_invalid_argument() {
    let (_server, mut client) = start_tiny(1, SHORT_WAIT).await;
    let result = stream(&mut client, vec![]).await;
    assert_status(result, Code::InvalidArgument, "streaming_config");
}

#[tokio::test]
async fn unspecified_encoding_in_streaming_names_the_supported_ones() {
    let (_server, mut client) = start_tiny(1, SHORT_WAIT).await;
    let config = config_request(AudioEncoding::EncodingUnspecified, 16000, 1, false);
    let result = stream(&mut client, vec![config]).await;
    assert_status(result, Code::InvalidArgument, "LINEAR16, FLOAT32 and MULAW");
}

#[tokio::test]
async fn out_of_range_sample_rates_and_channels_are_invalid_argument() {
    let (_server, mut client) = start_tiny(1, SHORT_WAIT).await;
    for (rate, channels) in [(7999, 1), (48001, 1), (16000, 9)] {
        let config = config_request(AudioEncoding::Linear16, rate, channels, false);
        let result = stream(&mut client, vec![config]).await;
        let status = result.expect_err("should fail");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{rate} Hz x{channels}: {status:?}"
        );
    }
}

#[tokio::test]
async fn exhausted_pool_gives_resource_exhausted() {
    let (server, mut client) = start_tiny(1, SHORT_WAIT).await;
    let _held = open_live_stream(&server.url(), 16000, &[&[0; 3201]]).await;
    let config = config_request(AudioEncoding::Linear16, 16000, 1, false);
    let result = stream(&mut client, vec![config]).await;
    assert_status(result, Code::ResourceExhausted, "busy");
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_frees_its_session() {
    let (server, mut client) = start_tiny(1, LONG_WAIT).await;
    let url = server.url();
    // Client A lives on its own runtime; shutting that runtime down drops its connection
    // mid-stream, without a half-close, as when a client process dies.
    let held =
        as_a_dying_process(async move { open_live_stream(&url, 16000, &[&[0; 3201]]).await }).await;
    drop(held);

    // With a one-session pool, this stream can only open once A's session is back.
    let audio = pcm16(&tone_wav().samples);
    let requests = vec![
        config_request(AudioEncoding::Linear16, 16000, 1, false),
        audio_request(&audio),
    ];
    let responses = stream(&mut client, requests).await.unwrap();
    assert!(responses.last().unwrap().results[0].is_final);
}

#[tokio::test]
async fn unary_with_corrupt_wav_is_invalid_argument() {
    let (_server, mut client) = start_tiny(1, SHORT_WAIT).await;
    let mut bytes = std::fs::read(tone_wav_path()).unwrap();
    bytes.truncate(30); // header cut inside the fmt chunk
    let result = client
        .recognize(RecognizeRequest {
            config: Some(RecognitionConfig::default()),
            audio_content: bytes,
        })
        .await;
    assert_status(result, Code::InvalidArgument, "WAV");

    let result = client
        .recognize(RecognizeRequest {
            config: None,
            audio_content: b"definitely not a RIFF file".to_vec(),
        })
        .await;
    assert_status(result, Code::InvalidArgument, "WAV");
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

    let (server, _client) = start_tiny(1, SHORT_WAIT).await;
    let channel = channel(&server).await;
    let mut health = HealthClient::new(channel);
    for service in ["", "compact_asr.v1.Recognizer"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.status(),
            ServingStatus::Serving,
            "service {service:?}"
        );
    }
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_the_recognizer() {
    use tonic_reflection::pb::{v1, v1alpha};

    let (server, _client) = start_tiny(1, SHORT_WAIT).await;
    let channel = channel(&server).await;

    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected reflection answer {response:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"compact_asr.v1.Recognizer"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected reflection answer {response:?}");
    };
    assert!(list
        .service
        .iter()
        .any(|s| s.name == "compact_asr.v1.Recognizer"));
}

#[tokio::test]
async fn requests_over_the_message_limit_are_refused() {
    let (_server, mut client) = start_tiny(1, SHORT_WAIT).await;
    let result = client
        .recognize(RecognizeRequest {
            config: None,
            audio_content: vec![0; compact_asr::server::MAX_MESSAGE_BYTES + 1],
        })
        .await;
    assert_status(result, Code::OutOfRange, "too large");
}

#[tokio::test]
async fn unary_wav_at_an_unsupported_rate_is_invalid_argument() {
    let (_server, mut client) = start_tiny(1, SHORT_WAIT).await;
    let mut wav = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 4000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(&mut wav, spec).unwrap();
    for i in 0..4000 {
        writer.write_sample((i % 100) as i16).unwrap();
    }
    writer.finalize().unwrap();
    let result = client
        .recognize(RecognizeRequest {
            config: None,
            audio_content: wav.into_inner(),
        })
        .await;
    assert_status(result, Code::InvalidArgument, "4000 Hz");
}
