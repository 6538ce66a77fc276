//! deploy/check.py under `cargo test`: hadolint on the Dockerfile, shellcheck on image.sh,
//! the Kubernetes manifests against Kubernetes' schemas (strict), the Compose file against
//! the Compose spec, and the cross-file checks (ports, configuration keys against the real
//! binary's `config --print-default`, probe services, the shutdown budget, the non-root user,
//! the dashboard's metric names against the ones the server exports).
//!
//! The tools come from PyPI (deploy/requirements-check.txt) into a virtualenv cached under
//! Cargo's target dir, rebuilt when the requirements change.

use crate::common::venv;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::repo_path;

/// A venv with deploy/requirements-check.txt, reused while the file is unchanged.
fn check_venv() -> PathBuf {
    venv::pinned_venv(
        &repo_path("deploy/requirements-check.txt"),
        "deploy-check-venv",
    )
}

/// Runs deploy/check.py on `deploy` (a copy of deploy/, or the real one).
fn check(deploy: &Path) -> Output {
    let venv = check_venv();
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(venv.join("bin/python"))
        .arg(repo_path("deploy/check.py"))
        .arg("--deploy")
        .arg(deploy)
        .env("PATH", path)
        .env("COMPACT_ASR_BIN", env!("CARGO_BIN_EXE_compact-asr"))
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Replaces `from` by `to` in `file` under `dir`; `from` must occur, or the mutation (and
/// the test) would mean nothing.
fn mutate(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} no longer contains {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn deploy_files_pass_linters_schemas_and_cross_checks() {
    let output = check(&repo_path("deploy"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("deploy checks passed"), "{stdout}");
}

#[test]
fn broken_deploy_files_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let deploy = dir.path().join("deploy");
    copy_dir(&repo_path("deploy"), &deploy);
    mutate(
        &deploy,
        "k8s/deployment.yaml",
        "terminationGracePeriodSeconds: 50",
        "terminationGracePeriodSeconds: 30",
    );
    mutate(&deploy, "k8s/deployment.yaml", "port: 50051", "port: 50052");
    mutate(
        &deploy,
        "k8s/service.yaml",
        "clusterIP: None",
        "clusterIP: None\n  sessionAfinity: None",
    );
    mutate(
        &deploy,
        "k8s/configmap.yaml",
        "shutdown_grace_secs = 30",
        "shutdown_grace = 30",
    );
    mutate(
        &deploy,
        "Dockerfile",
        "USER 10001:10001",
        "USER 10001:10001\nRUN cd /opt",
    );
    mutate(
        &deploy,
        "prometheus/prometheus.yml",
        "compact-asr:9090",
        "compact-asr:9091",
    );
    mutate(
        &deploy,
        "grafana/dashboards/compact-asr.json",
        "compact_asr_chunk_latency_seconds_bucket",
        "compact_asr_chunk_latency_bucket",
    );

    let output = check(&deploy);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    for expected in [
        "terminationGracePeriodSeconds 30 does not cover",
        "startupProbe probes port 50052, not 50051",
        "'sessionAfinity' was unexpected",
        "the server has no setting 'shutdown_grace'",
        "hadolint",
        "Prometheus does not scrape compact-asr:9090",
        "queries compact_asr_chunk_latency_bucket, which the server does not export",
    ] {
        assert!(stderr.contains(expected), "no {expected:?} in:\n{stderr}");
    }
}
