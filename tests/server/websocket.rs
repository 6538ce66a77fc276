//! The WebSocket endpoint (vosk-server's protocol) end to end over loopback: the message
//! flow and reply shapes, every bad input with its exact message and close code, the
//! limits, pool release when clients vanish, authentication, the drain, the demo page, and
//! the shipped model giving the same transcript as gRPC for `tests/data/*.wav`.
//!
//! Servers run in-process (`RunningServer` with `ws_listen = 127.0.0.1:0`), so the engine's
//! pool can be watched; limits are set small, so nothing waits long.

use crate::common::recordings;
use crate::common::ws_client;

use std::time::{Duration, Instant};

use crate::common::*;
use compact_asr::eval::ErrorCount;
use compact_asr::pipeline::Engine;
use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::server::protocol::StreamLimits;
use compact_asr::server::{RunningServer, ServerOptions};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_client::*;

const WAIT: Duration = Duration::from_secs(5);
/// 100 ms of 16 kHz 16-bit mono.
const CHUNK: usize = 3200;

fn with_ws(options: ServerOptions) -> ServerOptions {
    ServerOptions {
        ws_listen: Some("127.0.0.1:0".into()),
        ..options
    }
}

async fn start_ws(engine: Engine, options: ServerOptions) -> RunningServer {
    RunningServer::start_with(engine, "127.0.0.1:0", with_ws(options))
        .await
        .unwrap()
}

async fn tiny_server(options: ServerOptions) -> (RunningServer, Engine) {
    let engine = engine(&tiny_model(), 2, WAIT);
    (start_ws(engine.clone(), options).await, engine)
}

fn tone_pcm() -> Vec<u8> {
    pcm16(&tone_wav().samples)
}

fn limits(max_chunk_bytes: usize, max_audio: Duration) -> ServerOptions {
    ServerOptions {
        limits: StreamLimits {
            max_chunk_bytes,
            max_audio,
        },
        ..ServerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vosk_clients_get_one_reply_per_message_then_the_final_and_a_normal_close() {
    let (server, _engine) = tiny_server(ServerOptions::default()).await;
    let mut socket = connect(&ws_url(&server)).await;
    let config = r#"{ "config" : { "sample_rate" : 16000 } }"#;
    let pcm = tone_pcm();
    let session = transcribe(&mut socket, Some(config), &pcm, CHUNK).await;
    assert_eq!(session.replies.len(), pcm.len().div_ceil(CHUNK));
    for reply in &session.replies {
        let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
        assert!(
            keys == ["partial"] || keys == ["result", "text"],
            "partial or final: {reply}"
        );
    }
    assert_eq!(session.transcript(), tone_expected());
    // Words by default (as vosk-server), with vosk's fields, in order and within the audio.
    let words: Vec<&Value> = session
        .replies
        .iter()
        .chain([&session.last])
        .filter_map(|r| r["result"].as_array())
        .flatten()
        .collect();
    assert_eq!(words.len(), tone_expected().split_whitespace().count());
    for word in &words {
        let (start, end) = (
            word["start"].as_f64().unwrap(),
            word["end"].as_f64().unwrap(),
        );
        assert!(0.0 <= start && start < end && end <= 2.1, "{word}");
        assert!(
            (0.0..=1.0).contains(&word["conf"].as_f64().unwrap()),
            "{word}"
        );
        assert!(!word["word"].as_str().unwrap().is_empty(), "{word}");
    }

    // The same audio over gRPC, in the same chunks: the same transcript.
    let mut client = compact_asr::client::connect(&server.url()).await.unwrap();
    let mut requests = vec![config_request(AudioEncoding::Linear16, 16000, 1, false)];
    requests.extend(pcm.chunks(CHUNK).map(audio_request));
    let grpc: Vec<String> = stream(&mut client, requests)
        .await
        .unwrap()
        .iter()
        .flat_map(|r| &r.results)
        .filter(|r| r.is_final)
        .map(|r| r.alternatives[0].transcript.clone())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(session.transcript(), grpc.join(" "));

    let metrics = compact_asr::metrics::render();
    for series in [
        r#"compact_asr_streams_total{transport="websocket"}"#,
        r#"compact_asr_streams_total{transport="grpc"}"#,
        r#"compact_asr_websocket_closes_total{code="1000"}"#,
    ] {
        assert!(
            metrics.lines().any(|l| l.starts_with(series)),
            "{series} missing:\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_is_optional_and_words_and_alternatives_follow_it() {
    let (server, _engine) = tiny_server(ServerOptions::default()).await;
    let url = ws_url(&server);
    // No config: 16 kHz with words; eof at once still gets its (empty) final.
    let mut socket = connect(&url).await;
    send_text(&mut socket, r#"{"eof" : 1}"#).await;
    assert_eq!(reply(&mut socket).await, json!({"text": "", "result": []}));
    assert_eq!(closed(&mut socket).await.0, 1000);

    let pcm = tone_pcm();
    let mut socket = connect(&url).await;
    let plain = r#"{"config": {"sample_rate": 16000, "words": false}}"#;
    let session = transcribe(&mut socket, Some(plain), &pcm, 4 * CHUNK).await;
    assert_eq!(session.transcript(), tone_expected());
    assert!(session.last.get("result").is_none(), "{}", session.last);

    let mut socket = connect(&url).await;
    let config = r#"{"config": {"sample_rate": 16000, "words": false, "max_alternatives": 3}}"#;
    let session = transcribe(&mut socket, Some(config), &pcm, 4 * CHUNK).await;
    let alternatives = session.last["alternatives"].as_array().unwrap();
    // Greedy decoding: one alternative, the transcript.
    assert_eq!(alternatives.len(), 1, "{}", session.last);
    assert_eq!(alternatives[0]["text"], json!(tone_expected()));
    assert!(alternatives[0]["confidence"].is_number());
}

/// Sends `messages` (text, or binary of that many bytes when it parses as a number) on a
/// fresh connection and returns the error and close code.
async fn refusal(url: &str, messages: &[&str]) -> (String, u16) {
    let mut socket = connect(url).await;
    for message in messages {
        match message.strip_prefix("bytes:") {
            Some(n) => send_audio(&mut socket, &vec![0; n.parse().unwrap()]).await,
            None => send_text(&mut socket, message).await,
        }
    }
    // Replies to the audio sent before the bad message come first.
    loop {
        match receive(&mut socket).await {
            Received::Json(reply) if reply.get("error").is_some() => {
                let (code, reason) = closed(&mut socket).await;
                let error = reply["error"].as_str().unwrap().to_owned();
                assert!(error.starts_with(reason.trim_end_matches('…')), "{reason}");
                return (error, code);
            }
            Received::Json(_) => continue,
            other => panic!("{messages:?}: an error expected, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_error_naming_the_fix_and_the_matching_close_code() {
    let (server, engine) = tiny_server(limits(4096, Duration::from_secs(60))).await;
    let url = ws_url(&server);
    let cases: [(&[&str], u16, &str); 8] = [
        (
            &["hello"],
            1003,
            "text message is not JSON (expected value at line 1 column 1); send \
             {\"config\": {\"sample_rate\": 16000}} first (optional), then binary 16-bit PCM, \
             then {\"eof\" : 1}",
        ),
        (
            &[r#"{"reset" : 1}"#],
            1003,
            "unknown message {\"reset\" : 1}; text messages are {\"config\": {...}} (before \
             any audio) or {\"eof\" : 1}; audio goes in binary messages",
        ),
        (
            &[r#"{"config": {"sample_rate": 4000}}"#],
            1007,
            "bad config: sample_rate 4000 Hz is not supported; use 8000 to 48000 Hz",
        ),
        (
            &[r#"{"config": {"sample_rate": 96000}}"#],
            1007,
            "bad config: sample_rate 96000 Hz is not supported; use 8000 to 48000 Hz",
        ),
        (
            &[r#"{"config": {"sample_rate": 16000, "max_alternatives": 99}}"#],
            1007,
            "bad config: max_alternatives 99 is out of range; use 0 (plain text) to 30",
        ),
        (
            &[r#"{"config": {"rate": 16000}}"#],
            1007,
            "bad config: unknown field `rate`, expected one of `sample_rate`, `words`, \
             `max_alternatives`, `phrase_list`",
        ),
        (
            &["bytes:3200", r#"{"config": {"sample_rate": 16000}}"#],
            1007,
            "bad config: config must be the first message, sent once, before any audio; \
             open a new connection to change it",
        ),
        (
            &["bytes:4097"],
            1009,
            "message of 4097 bytes is over the limit of 4096 bytes (max_chunk_bytes); send \
             audio in smaller messages, e.g. 100 ms each (3200 bytes at 16 kHz)",
        ),
    ];
    for (messages, code, expected) in cases {
        let (error, got) = refusal(&url, messages).await;
        assert_eq!((got, error.as_str()), (code, expected), "{messages:?}");
    }
    // A text message over the limit too.
    let long = format!(
        r#"{{"config": {{"phrase_list": ["{}"]}}}}"#,
        "a".repeat(5000)
    );
    let (error, code) = refusal(&url, &[&long]).await;
    assert_eq!(code, 1009, "{error}");
    let size = format!("message of {} bytes is over the limit of 4096", long.len());
    assert!(error.starts_with(&size), "{error}");

    // A message far over the limit is cut off mid-read; whatever the client sees, the
    // server goes on serving.
    let mut socket = connect(&url).await;
    send_audio(&mut socket, &vec![0; 1 << 20]).await;
    match receive(&mut socket).await {
        Received::Json(error) => assert!(
            error["error"]
                .as_str()
                .unwrap()
                .starts_with("message of 1048576 bytes is over the limit of 4096 bytes"),
            "{error}"
        ),
        Received::Closed { code, .. } => assert_eq!(code, 1009),
        Received::Gone => {}
    }
    drop(socket);
    let mut socket = connect(&url).await;
    let session = transcribe(&mut socket, None, &tone_pcm(), 4000).await;
    assert_eq!(session.transcript(), tone_expected());
    pool_drains(&engine).await;
}

/// Waits until no session is lent any more.
async fn pool_drains(engine: &Engine) {
    let start = Instant::now();
    while engine.pool_in_use() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} sessions still lent",
            engine.pool_in_use()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_clients_free_their_sessions_and_a_full_pool_says_try_again_later() {
    let engine = engine(&tiny_model(), 2, Duration::from_millis(300));
    let server = start_ws(engine.clone(), ServerOptions::default()).await;
    let url = ws_url(&server);
    let pcm = tone_pcm();
    let chunk = pcm[..CHUNK].to_vec();
    for round in 0..3 {
        // One client process dies mid-stream, one drops its socket: no close frame either way.
        let (url_, chunk_) = (url.clone(), chunk.clone());
        let dying = as_a_dying_process(async move {
            let mut socket = connect(&url_).await;
            send_audio(&mut socket, &chunk_).await;
            assert!(reply(&mut socket).await.get("partial").is_some());
            socket
        })
        .await;
        let mut dropped = connect(&url).await;
        send_audio(&mut dropped, &chunk).await;
        assert!(reply(&mut dropped).await.get("partial").is_some());
        assert_eq!(engine.pool_in_use(), 2, "round {round}");
        // Every session is lent: a third stream is told to come back later.
        let mut third = connect(&url).await;
        send_audio(&mut third, &pcm[..CHUNK]).await;
        let (error, code) = refused(&mut third).await;
        assert_eq!(code, 1013, "{error}");
        assert!(
            error.starts_with("all recognition sessions are busy"),
            "{error}"
        );
        drop(dropped);
        drop(dying);
        pool_drains(&engine).await;
    }
    // A client that closes mid-stream gets the close handshake (no final) and frees its
    // session as well.
    let mut closing = connect(&url).await;
    send_audio(&mut closing, &chunk).await;
    reply(&mut closing).await;
    closing.close(None).await.unwrap();
    let answer = receive(&mut closing).await;
    assert!(matches!(answer, Received::Closed { .. }), "{answer:?}");
    pool_drains(&engine).await;
    let mut socket = connect(&url).await;
    let session = transcribe(&mut socket, None, &pcm, CHUNK).await;
    assert_eq!(session.transcript(), tone_expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_by_header_or_query_when_configured() {
    let options = ServerOptions {
        auth_tokens: vec!["old".into(), "s3cret".into()],
        ..ServerOptions::default()
    };
    let (server, _engine) = tiny_server(options).await;
    let url = ws_url(&server);
    let missing = "missing token: send header `Authorization: Bearer <token>`, or from a \
                   browser add `?token=<token>` to the URL";
    let invalid = "invalid token: send a token the server accepts, as header \
                   `Authorization: Bearer <token>` or `?token=<token>`";
    let malformed = "malformed header `Authorization`: it must be `Bearer <token>`";
    let cases = [
        (connect(&url).await, missing),
        (connect(&format!("{url}?token=nope")).await, invalid),
        (
            connect_with_authorization(&url, "Bearer nope").await,
            invalid,
        ),
        (connect_with_authorization(&url, "s3cret").await, malformed),
    ];
    for (mut socket, expected) in cases {
        assert_eq!(refused(&mut socket).await, (expected.to_owned(), 1008));
    }
    let pcm = tone_pcm();
    for mut socket in [
        connect_with_authorization(&url, "Bearer s3cret").await,
        connect(&format!("{url}?token=s3cret")).await,
        connect(&format!("{url}?lang=en&token=old")).await,
    ] {
        let session = transcribe(&mut socket, None, &pcm, 4 * CHUNK).await;
        assert_eq!(session.transcript(), tone_expected());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_end_the_stream_after_its_final() {
    // 1 s of audio at most: the reply to the message that crosses it, the final, the error.
    let (server, engine) = tiny_server(limits(1 << 20, Duration::from_secs(1))).await;
    let mut socket = connect(&ws_url(&server)).await;
    let pcm = tone_pcm();
    // Three messages of 0.4 s: the third crosses the limit.
    for chunk in pcm[..12 * CHUNK].chunks(4 * CHUNK) {
        send_audio(&mut socket, chunk).await;
        reply(&mut socket).await;
    }
    let last = reply(&mut socket).await;
    assert!(last.get("text").is_some(), "the final: {last}");
    let (error, code) = refused(&mut socket).await;
    assert_eq!(code, 1008);
    assert_eq!(
        error,
        "stream reached the maximum of 1 s of audio (max_audio_secs); the final result covers \
         the audio up to that point; open a new stream to go on"
    );
    drop(server);

    let options = ServerOptions {
        idle_timeout: Duration::from_secs(1),
        ..ServerOptions::default()
    };
    let server = start_ws(engine.clone(), options).await;
    let mut socket = connect(&ws_url(&server)).await;
    send_audio(&mut socket, &pcm[..CHUNK]).await;
    reply(&mut socket).await;
    let started = Instant::now();
    assert!(reply(&mut socket).await.get("text").is_some(), "the final");
    let (error, code) = refused(&mut socket).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(code, 1008);
    assert_eq!(
        error,
        "no message for 1 s (idle_timeout_secs): the stream was ended, after the final result \
         for any audio received; send audio continuously and {\"eof\" : 1} when done"
    );
    pool_drains(&engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_refuses_new_streams_and_cuts_open_ones_after_their_final() {
    let options = ServerOptions {
        shutdown_grace: Duration::from_secs(1),
        ..ServerOptions::default()
    };
    let (server, engine) = tiny_server(options).await;
    let url = ws_url(&server);
    let mut open = connect(&url).await;
    send_audio(&mut open, &tone_pcm()[..4 * CHUNK]).await;
    reply(&mut open).await;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut late = connect(&url).await;
    assert_eq!(
        refused(&mut late).await,
        (
            "server shutting down: not accepting new streams; retry on another instance".into(),
            1001
        )
    );
    assert!(reply(&mut open).await.get("text").is_some(), "the final");
    assert_eq!(
        refused(&mut open).await,
        (
            "server shutting down: stream cut at the shutdown deadline after its final result"
                .into(),
            1001
        )
    );
    stopping.await.unwrap().unwrap();
    assert_eq!(engine.pool_in_use(), 0);
}

/// `GET path` over plain HTTP/1.1; returns the status line, the headers and the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_and_its_scripts_are_served_on_the_same_port() {
    let (server, _engine) = tiny_server(ServerOptions::default()).await;
    let addr = server.ws_addr().unwrap();
    let (head, body) = http_get(addr, "/").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    for needle in [
        "<title>compact-asr",
        "demo.js",
        "id=\"level\"",
        "id=\"finals\"",
    ] {
        assert!(body.contains(needle), "{needle} missing from the page");
    }
    for (script, needle) in [
        ("/demo.js", "getUserMedia"),
        ("/pcm-worklet.js", "registerProcessor('pcm16-processor'"),
    ] {
        let (head, body) = http_get(addr, script).await;
        assert!(head.contains("content-type: text/javascript"), "{head}");
        assert!(body.contains(needle), "{script}");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{script} fetches"
        );
    }
    let (head, _) = http_get(addr, "/nope").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

/// A recording's samples as 16-bit mono PCM (a stereo file averaged), and its rate.
fn mono_pcm16(wav: &std::path::Path) -> (Vec<u8>, u32) {
    let mut reader = hound::WavReader::open(wav).unwrap();
    let spec = reader.spec();
    let samples: Vec<i32> = reader.samples::<i16>().map(|s| s.unwrap().into()).collect();
    let channels = usize::from(spec.channels);
    let pcm = samples
        .chunks(channels)
        .flat_map(|frame| {
            let mean = frame.iter().sum::<i32>() / channels as i32;
            (mean as i16).to_le_bytes()
        })
        .collect();
    (pcm, spec.sample_rate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_model_gives_the_grpc_transcript_at_each_recordings_own_rate() {
    let model = repo_path(compact_asr::config::DEFAULT_MODEL);
    let server = start_ws(
        engine(&model, 2, Duration::from_secs(60)),
        ServerOptions::default(),
    )
    .await;
    let mut client = compact_asr::client::connect(&server.url()).await.unwrap();
    for (wav, reference) in recordings::recordings() {
        let (pcm, rate) = mono_pcm16(&wav);
        let chunk = rate as usize / 5 * 2; // 0.2 s, as vosk's test.py sends
        let mut socket = connect(&ws_url(&server)).await;
        let config = format!(r#"{{ "config" : {{ "sample_rate" : {rate} }} }}"#);
        let ws = transcribe(&mut socket, Some(&config), &pcm, chunk)
            .await
            .transcript();
        let mut requests = vec![config_request(
            AudioEncoding::Linear16,
            rate as i32,
            1,
            false,
        )];
        requests.extend(uneven_chunks(&pcm).iter().map(|c| audio_request(c)));
        let grpc: Vec<String> = stream(&mut client, requests)
            .await
            .unwrap()
            .iter()
            .flat_map(|r| &r.results)
            .map(|r| r.alternatives[0].transcript.clone())
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(ws, grpc.join(" "), "{}: WebSocket vs gRPC", wav.display());
        let cer = ErrorCount::chars(&reference, &ws);
        assert!(cer.rate() <= 0.20, "{}: CER {cer}: {ws}", wav.display());
    }
}
