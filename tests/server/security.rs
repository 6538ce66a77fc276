//! TLS and bearer-token authentication against a real server: a TLS client trusting the
//! (test-made, self-signed) certificate transcribes; a plain-text client cannot talk to the
//! TLS port; with a token configured, the right token passes, a missing or wrong one is
//! UNAUTHENTICATED with a message saying what to send, and health stays open for probes.

use std::time::Duration;

use compact_asr::client::{connect_with_ca, stream_audio, StreamOptions};
use compact_asr::config::Settings;
use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::server::{RunningServer, ServerOptions};
use tonic::Code;

use crate::common::*;

async fn start(options: ServerOptions) -> RunningServer {
    let engine = engine(&tiny_model(), 2, Duration::from_secs(1));
    RunningServer::start_with(engine, "127.0.0.1:0", options)
        .await
        .unwrap()
}

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[tokio::test]
async fn tls_clients_trusting_the_certificate_transcribe_and_plain_text_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let settings = Settings {
        tls_cert: Some(cert.clone()),
        tls_key: Some(key),
        ..Settings::default()
    };
    let server = start(settings.server_options().unwrap()).await;
    let https = format!("https://{}", server.addr());

    let mut client = connect_with_ca(&https, Some(&cert)).await.unwrap();
    let outcome = stream_audio(&mut client, &tone_wav(), &StreamOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome.transcript(), tone_expected());

    // Plain HTTP/2 to the TLS port: either the connection or the call fails.
    let plain = async {
        let mut client = compact_asr::client::connect(&server.url()).await?;
        stream_audio(&mut client, &tone_wav(), &StreamOptions::default()).await
    };
    let plain = tokio::time::timeout(Duration::from_secs(10), plain).await;
    assert!(
        matches!(plain, Ok(Err(_))),
        "plain text reached a TLS server"
    );

    // A client that does not trust the self-signed certificate is refused too.
    let untrusted = async {
        let mut client = connect_with_ca(&https, None).await?;
        stream_audio(&mut client, &tone_wav(), &StreamOptions::default()).await
    };
    let untrusted = tokio::time::timeout(Duration::from_secs(10), untrusted).await;
    assert!(
        matches!(untrusted, Ok(Err(_))),
        "an untrusted certificate was accepted"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn only_calls_with_a_configured_token_are_served_and_health_stays_open() {
    let options = ServerOptions {
        auth_tokens: vec!["old-token".into(), "s3cret".into()],
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let mut client = compact_asr::client::connect(&server.url()).await.unwrap();
    let with_token = |token: Option<&str>| StreamOptions {
        bearer_token: token.map(str::to_owned),
        ..StreamOptions::default()
    };

    let outcome = stream_audio(&mut client, &tone_wav(), &with_token(Some("s3cret")))
        .await
        .unwrap();
    assert_eq!(outcome.transcript(), tone_expected());

    for token in [None, Some("wrong"), Some("s3cre")] {
        let err = stream_audio(&mut client, &tone_wav(), &with_token(token)).await;
        let status = match err {
            Err(compact_asr::client::ClientError::Rpc(status)) => status,
            other => panic!("{token:?}: expected a status, got {other:?}"),
        };
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
        assert!(status.message().contains("Bearer"), "{status:?}");
    }

    // The unary RPC is guarded as well.
    let unary = client
        .recognize(compact_asr::proto::RecognizeRequest {
            config: None,
            audio_content: std::fs::read(tone_wav_path()).unwrap(),
        })
        .await
        .unwrap_err();
    assert_eq!(unary.code(), Code::Unauthenticated);

    // Raw metadata in another scheme is refused, and says what to send.
    let mut request = tonic::Request::new(tokio_stream::iter(vec![config_request(
        AudioEncoding::Linear16,
        16000,
        1,
        false,
    )]));
    request
        .metadata_mut()
        .insert("authorization", "Basic czNjcmV0".parse().unwrap());
    let basic = client.streaming_recognize(request).await.unwrap_err();
    assert_eq!(basic.code(), Code::Unauthenticated);
    assert!(basic.message().contains("Bearer <token>"), "{basic:?}");

    compact_asr::client::health::check(&server.url(), "", Duration::from_secs(5))
        .await
        .unwrap();
    server.stop().await.unwrap();
}
