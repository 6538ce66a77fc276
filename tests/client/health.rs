//! `compact-asr health` and the library probe behind it, against real loopback servers: the
//! compact-asr server (SERVING), a bare health service reporting NOT_SERVING, a closed port
//! and a peer that accepts but never answers. The image's HEALTHCHECK and Kubernetes exec
//! probes rely on exactly these exit codes.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use compact_asr::client::health::{check, HealthError};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;
use tonic_health::ServingStatus;

use crate::common::*;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A server with only the health service, reporting `status` for `service`.
async fn bare_health_server(service: &str, status: ServingStatus) -> SocketAddr {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status(service, status).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Keeps the reporter alive (and so the status) as long as the server runs.
        let _reporter = reporter;
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    addr
}

/// A loopback port that nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Runs the real binary's `health` subcommand off the async runtime.
async fn health_cli(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_compact-asr"))
            .arg("health")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn serving_server_passes_overall_and_for_the_recognizer() {
    let (server, _client) = start_tiny(1, Duration::from_secs(5)).await;
    for service in ["", "compact_asr.v1.Recognizer"] {
        check(&server.url(), service, PROBE_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("service {service:?}: {e}"));
    }
}

#[tokio::test]
async fn unknown_service_fails_with_not_found() {
    let (server, _client) = start_tiny(1, Duration::from_secs(5)).await;
    let err = check(&server.url(), "no.such.Service", PROBE_TIMEOUT)
        .await
        .unwrap_err();
    match &err {
        HealthError::Rpc { service, status } => {
            assert_eq!(service, "no.such.Service");
            assert_eq!(status.code(), Code::NotFound, "{err}");
        }
        other => panic!("expected an RPC error, got {other:?}"),
    }
    assert!(err.to_string().contains("no.such.Service"), "{err}");
}

#[tokio::test]
async fn not_serving_is_an_error_naming_the_status() {
    let addr = bare_health_server("", ServingStatus::NotServing).await;
    let err = check(&format!("http://{addr}"), "", PROBE_TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HealthError::NotServing { status, .. } if status == "NOT_SERVING"),
        "{err:?}"
    );
    assert!(err.to_string().contains("NOT_SERVING"), "{err}");
}

#[tokio::test]
async fn closed_port_fails_to_connect() {
    let addr = closed_port().await;
    let err = check(&format!("http://{addr}"), "", PROBE_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, HealthError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn silent_peer_times_out_instead_of_hanging() {
    // Accepts TCP connections and never speaks HTTP/2: what a wedged server looks like.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = check(&format!("http://{addr}"), "", timeout)
        .await
        .unwrap_err();
    assert!(matches!(err, HealthError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn invalid_url_is_reported_as_such() {
    let err = check("not a url", "", PROBE_TIMEOUT).await.unwrap_err();
    assert!(matches!(err, HealthError::Url { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exits_zero_and_prints_serving_for_a_serving_server() {
    let (server, _client) = start_tiny(1, Duration::from_secs(5)).await;
    let url = server.url();
    let output = health_cli(&["--server", &url, "--service", "compact_asr.v1.Recognizer"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "SERVING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exits_non_zero_with_a_message_for_a_closed_port() {
    let addr = closed_port().await;
    let output = health_cli(&[
        "--server",
        &format!("http://{addr}"),
        "--timeout-ms",
        "2000",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exits_non_zero_for_not_serving() {
    let addr = bare_health_server("", ServingStatus::NotServing).await;
    let output = health_cli(&["--server", &format!("http://{addr}")]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("NOT_SERVING"), "{stderr}");
}
