//! The Python example client (examples/python/stream_wav.py, official `grpcio`) against the
//! real server: proof that a client in another language works.
//!
//! The example's virtualenv is created once with `python3 -m venv` + pip (from PyPI) and
//! cached under Cargo's target dir; it is rebuilt when `requirements.txt` changes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// A venv with the example's pinned requirements, reused while they are unchanged.
fn example_venv() -> PathBuf {
    let requirements = repo_path("examples/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-example-venv");
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return venv;
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements));
    std::fs::write(&stamp, wanted).unwrap();
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_example_prints_partials_and_the_final_transcript() {
    let venv = tokio::task::spawn_blocking(example_venv).await.unwrap();
    let (server, _client) = start_tiny(1, Duration::from_secs(30)).await;
    let addr = server.addr().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(venv.join("bin/python"))
            .arg(repo_path("examples/python/stream_wav.py"))
            .args(["--server", &addr, "--chunk-ms", "50"])
            .arg(tone_wav_path())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some(format!("final: {}", tone_expected()).as_str()),
        "{stdout}"
    );
    assert!(lines.iter().any(|l| l.starts_with("partial: ")), "{stdout}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("final: ")).count(), 1);
}
