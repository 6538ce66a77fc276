//! `compact-asr loadtest` end to end: the binary against a loopback server with the tiny
//! model, and against a port nobody listens on.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// A folder with tone.wav and its reference (the tiny model's known transcript).
fn corpus() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(tone_wav_path(), dir.path().join("tone.wav")).unwrap();
    std::fs::write(dir.path().join("tone.txt"), tone_expected()).unwrap();
    dir
}

fn loadtest(server: &str, audio: &Path, extra: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_compact-asr"))
        .args(["loadtest", "--server", server, "--json", "--audio"])
        .arg(audio)
        .args(extra)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn number(json: &serde_json::Value, path: &str) -> f64 {
    json.pointer(path)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("{path} missing in {json:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn three_real_time_streams_report_latencies_and_a_zero_wer() {
    let (server, _client) = start_tiny(8, Duration::from_secs(5)).await;
    let audio = corpus();
    let url = server.url();
    let dir = audio.path().to_path_buf();
    let json = tokio::task::spawn_blocking(move || {
        loadtest(&url, &dir, &["--streams", "3", "--duration", "2"])
    })
    .await
    .unwrap();

    assert_eq!(json["streams"], 3);
    assert_eq!(json["errors"], serde_json::json!({}), "{json:#}");
    assert!(number(&json, "/utterances") >= 3.0, "{json:#}");
    assert!(number(&json, "/audio_seconds") >= 6.0, "{json:#}");
    for key in ["chunk_latency_ms", "final_latency_ms"] {
        let p = |q: &str| number(&json, &format!("/{key}/{q}"));
        assert!(p("count") >= 3.0, "{key}: {json:#}");
        assert!(0.0 <= p("p50") && p("p50") <= p("p95"), "{key}: {json:#}");
        assert!(
            p("p95") <= p("p99") && p("p99") <= p("max"),
            "{key}: {json:#}"
        );
        // Real-time pace on loopback with a tiny model: nowhere near a second behind.
        assert!(p("p99") < 1000.0, "{key}: {json:#}");
    }
    // The transcripts are the tiny model's real output, word for word.
    assert_eq!(number(&json, "/wer"), 0.0);
    server.stop().await.unwrap();
}

#[test]
fn an_unreachable_server_is_reported_as_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let audio = corpus();
    let started = Instant::now();
    let json = loadtest(
        &format!("http://127.0.0.1:{port}"),
        audio.path(),
        &["--streams", "2", "--duration", "1"],
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(number(&json, "/errors/UNAVAILABLE") >= 2.0, "{json:#}");
    assert_eq!(json["utterances"], 0);
    assert_eq!(json["chunk_latency_ms"]["p95"], serde_json::Value::Null);
    assert_eq!(json["wer"], serde_json::Value::Null);
}
