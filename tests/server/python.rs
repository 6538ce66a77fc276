//! The Python example client (examples/python/stream_wav.py, official `grpcio`) against the
//! real server: proof that a client in another language works.
//!
//! The example's virtualenv is created once with `python3 -m venv` + pip (from PyPI) and
//! cached under Cargo's target dir; it is rebuilt when `requirements.txt` changes.

use crate::common::venv;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// A venv with examples/python/requirements.txt, reused while the file is unchanged.
fn example_venv() -> PathBuf {
    venv::pinned_venv(
        &repo_path("examples/python/requirements.txt"),
        "python-example-venv",
    )
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
