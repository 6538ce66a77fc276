//! Graceful shutdown, in process: during the drain health says NOT_SERVING and new streams
//! are refused with UNAVAILABLE; a stream that half-closes during the drain gets its normal
//! final; a stream still open at the deadline gets the final for what it sent, then
//! UNAVAILABLE; and the server ends within the deadline.

use std::time::{Duration, Instant};

use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::proto::StreamingRecognizeResponse;
use compact_asr::server::{RunningServer, ServerOptions};
use tonic::{Code, Streaming};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::common::*;

async fn start_with_grace(grace: Duration) -> RunningServer {
    let options = ServerOptions {
        shutdown_grace: grace,
        ..ServerOptions::default()
    };
    let engine = engine(&tiny_model(), 4, Duration::from_secs(1));
    RunningServer::start_with(engine, "127.0.0.1:0", options)
        .await
        .unwrap()
}

/// The final transcript, and how the call ended.
async fn final_and_status(
    mut responses: Streaming<StreamingRecognizeResponse>,
) -> (Option<String>, Result<(), tonic::Status>) {
    let mut transcript = None;
    loop {
        match responses.message().await {
            Ok(Some(response)) => {
                for result in response.results.into_iter().filter(|r| r.is_final) {
                    transcript = Some(result.alternatives[0].transcript.clone());
                }
            }
            Ok(None) => return (transcript, Ok(())),
            Err(status) => return (transcript, Err(status)),
        }
    }
}

async fn health_status(server: &RunningServer) -> ServingStatus {
    let mut health = HealthClient::new(channel(server).await);
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let status = health.check(request).await.unwrap().into_inner().status;
    ServingStatus::try_from(status).unwrap()
}

#[tokio::test]
async fn during_the_drain_health_is_not_serving_new_streams_are_refused_and_open_ones_finish() {
    let server = start_with_grace(Duration::from_secs(20)).await;
    let url = server.url();
    assert_eq!(health_status(&server).await, ServingStatus::Serving);
    let pcm = pcm16(&tone_wav().samples);
    let (first, rest) = pcm.split_at((pcm.len() / 2) & !1);
    let (tx, responses) =
        open_live_stream(&server.url(), tone_wav().sample_rate as i32, &[first]).await;
    // A connection opened before the drain, for the refused call.
    let mut late_client = compact_asr::client::connect(&url).await.unwrap();
    let health_channel = channel(&server).await;

    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    let mut health = HealthClient::new(health_channel);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        let status = health.check(request).await.unwrap().into_inner().status;
        if status == ServingStatus::NotServing as i32 {
            break;
        }
        assert!(Instant::now() < deadline, "health never turned NOT_SERVING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let rate = tone_wav().sample_rate as i32;
    let refused = stream(
        &mut late_client,
        vec![config_request(AudioEncoding::Linear16, rate, 1, false)],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("shutting down"), "{refused:?}");

    // The open stream carries on: the rest of its audio, half-close, its whole final.
    tx.send(audio_request(rest)).await.unwrap();
    drop(tx);
    let (transcript, status) = final_and_status(responses).await;
    assert_eq!(transcript.as_deref(), Some(tone_expected().as_str()));
    assert!(status.is_ok(), "{status:?}");

    stopping.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the drain ended with the last stream, long before the 20 s grace: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stream_open_at_the_deadline_gets_its_final_then_unavailable() {
    let grace = Duration::from_millis(800);
    let server = start_with_grace(grace).await;
    let pcm = pcm16(&tone_wav().samples);
    // All the audio, but no half-close: a live caller still talking at the deadline.
    let (tx, responses) =
        open_live_stream(&server.url(), tone_wav().sample_rate as i32, &[&pcm]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    let (transcript, status) = final_and_status(responses).await;
    assert_eq!(transcript.as_deref(), Some(tone_expected().as_str()));
    let status = status.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("shutting down"), "{status:?}");
    assert!(started.elapsed() >= grace, "cut before the deadline");

    stopping.await.unwrap().unwrap();
    assert!(
        started.elapsed() < grace + Duration::from_secs(4),
        "the server outlived its deadline: {:?}",
        started.elapsed()
    );
    drop(tx);
}
