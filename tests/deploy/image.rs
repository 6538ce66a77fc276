//! The container image, tested without a Docker engine: `deploy/image.sh` reads
//! deploy/Dockerfile, stages its runtime stage under a temporary root with the binary Cargo
//! just built, runs it as the image would (USER, ENV, WORKDIR, ports, HEALTHCHECK), streams
//! the test clips through it and stops it with STOPSIGNAL mid-stream. The broken-Dockerfile
//! tests prove the script refuses what it cannot reproduce instead of passing silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use crate::common::repo_path;

/// One run at a time: without a network namespace (not root) every run uses the image's ports.
static RUNS: Mutex<()> = Mutex::new(());

/// Runs deploy/image.sh with the test binary; `env` adds or overrides variables.
fn image_sh(env: &[(&str, &Path)]) -> Output {
    let _one_at_a_time = RUNS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut command = Command::new("bash");
    command
        .arg(repo_path("deploy/image.sh"))
        .env("COMPACT_ASR_BIN", env!("CARGO_BIN_EXE_compact-asr"));
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The real Dockerfile with `from` replaced by `to` (which must occur: a mutation that does
/// not apply would make the test pass for nothing).
fn mutated_dockerfile(dir: &Path, from: &str, to: &str) -> PathBuf {
    let original = std::fs::read_to_string(repo_path("deploy/Dockerfile")).unwrap();
    assert!(
        original.contains(from),
        "the Dockerfile no longer contains {from:?}"
    );
    let path = dir.join("Dockerfile");
    std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
    path
}

/// Runs image.sh on a mutated Dockerfile and returns its stderr, asserting it failed.
fn failure_with(from: &str, to: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = mutated_dockerfile(dir.path(), from, to);
    let output = image_sh(&[("IMAGE_DOCKERFILE", &dockerfile)]);
    let stderr = stderr(&output);
    assert!(!output.status.success(), "passed with {to:?}:\n{stderr}");
    stderr
}

#[test]
fn image_starts_healthy_transcribes_and_drains_on_stop_signal() {
    let output = image_sh(&[]);
    let stderr = stderr(&output);
    assert!(output.status.success(), "{stderr}");
    for step in [
        "healthy after",
        "transcribed piper_22k_mono.wav: ",
        "drained: the open stream got its final; the server exited 0",
    ] {
        assert!(stderr.contains(step), "no {step:?} in:\n{stderr}");
    }
    assert_eq!(stderr.lines().last(), Some("image.sh: OK"), "{stderr}");
}

#[test]
fn runtime_steps_the_script_cannot_reproduce_are_refused() {
    let stderr = failure_with(
        "USER 10001:10001",
        "RUN apt-get update && apt-get install -y curl\nUSER 10001:10001",
    );
    assert!(stderr.contains("runtime RUN not reproduced"), "{stderr}");
}

#[test]
fn a_healthcheck_on_another_port_is_refused() {
    let stderr = failure_with("http://127.0.0.1:50051", "http://127.0.0.1:50052");
    assert!(
        stderr.contains("does not probe the gRPC port 50051"),
        "{stderr}"
    );
}

#[test]
fn a_root_or_named_user_is_refused() {
    let stderr = failure_with("USER 10001:10001", "USER compact-asr");
    assert!(
        stderr.contains("USER must be a numeric uid:gid"),
        "{stderr}"
    );
}

#[test]
fn a_model_missing_from_the_image_is_refused() {
    let stderr = failure_with(
        "USER 10001:10001",
        "ENV COMPACT_ASR_MODEL=/opt/compact-asr/models/missing/model.toml\nUSER 10001:10001",
    );
    assert!(stderr.contains("is not in the image"), "{stderr}");
}

#[test]
fn a_server_that_cannot_start_fails_the_run() {
    // The file exists, but it is the ONNX graph, not a model.toml.
    let stderr = failure_with(
        "USER 10001:10001",
        "ENV COMPACT_ASR_MODEL=/opt/compact-asr/models/hybrid/model.onnx\nUSER 10001:10001",
    );
    assert!(
        stderr.contains("the server exited during start-up"),
        "{stderr}"
    );
}

#[test]
fn a_copy_source_excluded_from_the_build_context_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ignore = dir.path().join("dockerignore");
    let original = std::fs::read_to_string(repo_path(".dockerignore")).unwrap();
    std::fs::write(&ignore, format!("{original}models/hybrid\n")).unwrap();
    let output = image_sh(&[("IMAGE_DOCKERIGNORE", &ignore)]);
    let stderr = stderr(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("excluded by .dockerignore"), "{stderr}");
}
