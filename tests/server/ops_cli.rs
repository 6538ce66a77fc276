//! The operations surface of the `compact-asr` binary: `config --print-default`, config-file
//! errors, and one production-like `serve` (TLS, bearer token, JSON logs, metrics port)
//! that `transcribe --ca --token` talks to, Prometheus can scrape, and SIGTERM drains: the
//! open stream gets its final, then UNAVAILABLE, and the process exits 0 in time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compact_asr::proto::recognition_config::AudioEncoding;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::common::*;

fn compact_asr() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_compact-asr"));
    command.env("COMPACT_ASR_MODEL", tiny_model());
    for (name, _) in std::env::vars() {
        if name.starts_with("COMPACT_ASR_") && name != "COMPACT_ASR_MODEL" {
            command.env_remove(name);
        }
    }
    command
}

#[test]
fn print_default_is_a_documented_valid_config() {
    let output = compact_asr()
        .args(["config", "--print-default"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(table["listen"].as_str(), Some("0.0.0.0:50051"));
    assert_eq!(table["metrics_listen"].as_str(), Some("0.0.0.0:9090"));
    assert_eq!(table["log_format"].as_str(), Some("text"));
    assert!(table["shutdown_grace_secs"].as_integer().is_some());
    for documented in [
        "# tls_cert = ",
        "# auth_token_file = ",
        "env COMPACT_ASR_METRICS_LISTEN",
        "Precedence: command-line flags > COMPACT_ASR_* environment variables > this file",
    ] {
        assert!(text.contains(documented), "{documented:?} missing:\n{text}");
    }
}

#[test]
fn serve_refuses_a_config_file_with_an_unknown_key_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compact-asr.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:0\"\nshutdown_grace = 5\n").unwrap();
    let output = compact_asr()
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("shutdown_grace"), "{stderr}");
    assert!(stderr.contains("compact-asr.toml"), "{stderr}");
}

/// The `addr` field of the first JSON log line whose message contains `message`.
fn addr_logged(lines: &mut impl Iterator<Item = std::io::Result<String>>, message: &str) -> String {
    for line in lines {
        let line = line.unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        let fields = &entry["fields"];
        if fields["message"]
            .as_str()
            .is_some_and(|m| m.contains(message))
        {
            return fields["addr"].as_str().unwrap().to_owned();
        }
    }
    panic!("server exited before logging {message:?}");
}

fn scrape(addr: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secured_serve_transcribes_exports_metrics_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let grace = Duration::from_secs(2);

    let mut child = compact_asr()
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .args(["--shutdown-grace-secs", &grace.as_secs().to_string()])
        .env("COMPACT_ASR_METRICS_LISTEN", "127.0.0.1:0")
        .env("COMPACT_ASR_WS_LISTEN", "127.0.0.1:0")
        .env("COMPACT_ASR_AUTH_TOKEN", "tok3n")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut server = ServerProcess(child);
    let mut lines = BufReader::new(stderr).lines();
    let metrics_addr = addr_logged(&mut lines, "Prometheus");
    let addr = addr_logged(&mut lines, "listening");
    let log = std::thread::spawn(move || lines.map(Result::unwrap).collect::<Vec<String>>());
    let url = format!("https://{addr}");

    // The CLI client with the CA and token transcribes; without the token it fails.
    let transcribe = |token: Option<&str>| {
        let mut command = compact_asr();
        command
            .args(["transcribe", "--server", &url, "--ca"])
            .arg(&cert);
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        command.arg(tone_wav_path()).output().unwrap()
    };
    let output = tokio::task::block_in_place(|| transcribe(Some("tok3n")));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.ends_with(&format!("\t{}\n", tone_expected())),
        "{stdout}"
    );
    let refused = tokio::task::block_in_place(|| transcribe(None));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Bearer"),
        "{refused:?}"
    );

    let metrics = tokio::task::block_in_place(|| scrape(&metrics_addr));
    let audio = sample(&metrics, "compact_asr_audio_seconds_total").unwrap();
    let tone_seconds = tone_wav().samples.len() as f64 / f64::from(tone_wav().sample_rate);
    assert!(
        (audio - tone_seconds).abs() < 0.05,
        "{audio} vs {tone_seconds}\n{metrics}"
    );
    let series = r#"compact_asr_errors_total{code="UNAUTHENTICATED"}"#;
    assert_eq!(sample(&metrics, series), Some(1.0), "{metrics}");
    assert_eq!(
        sample(&metrics, "compact_asr_rtf_count"),
        Some(1.0),
        "{metrics}"
    );

    // A stream still talking when SIGTERM arrives.
    let mut client = compact_asr::client::connect_with_ca(&url, Some(&cert))
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(8);
    let rate = tone_wav().sample_rate as i32;
    tx.send(config_request(AudioEncoding::Linear16, rate, 1, false))
        .await
        .unwrap();
    tx.send(audio_request(&pcm16(&tone_wav().samples)))
        .await
        .unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request
        .metadata_mut()
        .insert("authorization", "Bearer tok3n".parse().unwrap());
    let mut responses = client
        .streaming_recognize(request)
        .await
        .unwrap()
        .into_inner();
    let open_metrics = tokio::task::block_in_place(|| scrape(&metrics_addr));
    assert_eq!(
        sample(&open_metrics, "compact_asr_active_streams"),
        Some(1.0)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut final_transcript = None;
    let status = loop {
        match responses.message().await {
            Ok(Some(response)) => {
                for result in response.results.into_iter().filter(|r| r.is_final) {
                    final_transcript = Some(result.alternatives[0].transcript.clone());
                }
            }
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(final_transcript.as_deref(), Some(tone_expected().as_str()));
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("shutting down"), "{status:?}");
    assert!(signalled.elapsed() >= grace, "cut before the grace ended");
    drop(tx);

    let exit = tokio::task::block_in_place(|| loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            signalled.elapsed() < grace + Duration::from_secs(8),
            "still running long after the shutdown deadline"
        );
        std::thread::sleep(Duration::from_millis(50));
    });
    assert!(exit.success(), "{exit:?}");
    let log = log.join().unwrap();
    assert!(
        log.iter().any(|l| l.contains("shutdown deadline")),
        "{log:?}"
    );
}
