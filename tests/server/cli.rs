//! The `compact-asr` binary end to end: `serve` (address from COMPACT_ASR_LISTEN),
//! `transcribe` over gRPC and in-process, and `bench`, all with the tiny test model.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::*;

fn compact_asr() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_compact-asr"));
    command
        .env("COMPACT_ASR_MODEL", tiny_model())
        // Parallel servers must not all claim the default metrics port.
        .env("COMPACT_ASR_METRICS_LISTEN", "127.0.0.1:0")
        .env("COMPACT_ASR_WS_LISTEN", "127.0.0.1:0")
        .env_remove("RUST_LOG");
    command
}

fn stdout_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Starts `compact-asr serve` on a free loopback port; returns it and its address, read
/// from the "listening" log line.
fn serve() -> (ServerProcess, String) {
    let mut child = compact_asr()
        .arg("serve")
        .env("COMPACT_ASR_LISTEN", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = ServerProcess(child);
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if line.contains("listening") {
            let addr = line
                .split("addr=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next();
            break addr.unwrap().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (server, addr)
}

#[test]
fn transcribe_over_grpc_and_in_process_print_file_tab_transcript() {
    let wav = tone_wav_path();
    let expected = format!("{}\t{}\n", wav.display(), tone_expected());

    let in_process = stdout_of(compact_asr().arg("transcribe").arg(&wav));
    assert_eq!(in_process, expected);

    let (_server, addr) = serve();
    let url = format!("http://{addr}");
    let over_grpc = stdout_of(
        compact_asr()
            .args(["transcribe", "--server", &url, "--request-ms", "30"])
            .arg(&wav)
            .arg(&wav),
    );
    assert_eq!(over_grpc, expected.repeat(2));
}

#[test]
fn transcribe_reports_unreadable_files_and_fails() {
    let output = compact_asr()
        .args(["transcribe", "Cargo.toml"])
        .current_dir(repo_path(""))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Cargo.toml"), "{stderr}");
}

#[test]
fn bench_prints_real_time_factor_latency_and_transcript() {
    let stdout = stdout_of(compact_asr().arg("bench").arg(tone_wav_path()));
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} in\n{stdout}"))
            .trim()
            .to_owned()
    };
    let rtf: f64 = field("real-time factor:").parse().unwrap();
    assert!(rtf > 0.0, "{stdout}");
    let latency = field("final latency:");
    assert!(
        latency.ends_with("(last chunk sent -> final received)"),
        "{stdout}"
    );
    assert_eq!(field("transcript:"), tone_expected());
    assert_eq!(field("audio:"), "2.00 s");
}

#[test]
fn bench_realtime_reports_latency_without_a_real_time_factor() {
    let stdout = stdout_of(
        compact_asr()
            .args(["bench", "--realtime", "--request-ms", "200"])
            .arg(tone_wav_path()),
    );
    assert!(stdout.contains("real-time factor:   n/a"), "{stdout}");
    assert!(stdout.contains("final latency:"), "{stdout}");
}

#[test]
fn eval_prints_word_and_character_error_rates_per_manifest() {
    // Two readings of tone.wav: one matching the reference transcript, one a letter off.
    let expected = tone_expected();
    let wrong = format!("{}x", &expected[..expected.len() - 1]);
    let manifest = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tone-manifest.tsv");
    let wav = tone_wav_path();
    std::fs::write(
        &manifest,
        format!(
            "id\tpath\tduration\ttext\nright\t{0}\t2.0\t{expected}\nwrong\t{0}\t2.0\t{wrong}\n",
            wav.display()
        ),
    )
    .unwrap();
    let stdout = stdout_of(compact_asr().arg("eval").arg(&manifest));
    let words = expected.split_whitespace().count() * 2;
    let chars = expected.len() * 2;
    assert!(
        stdout.starts_with(&format!("{}\t", manifest.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("(1/{words})")),
        "WER counts in {stdout}"
    );
    assert!(
        stdout.contains(&format!("(1/{chars})")),
        "CER counts in {stdout}"
    );
    assert!(stdout.contains("utterances=2"), "{stdout}");
}

/// The engine keys are one definition: set through their environment variables they reach
/// `transcribe` and `eval` (in-process) exactly as they reach `serve`, checked the same way.
#[test]
fn engine_keys_from_the_environment_reach_every_command_alike() {
    let wav = tone_wav_path();
    let manifest = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("env-manifest.tsv");
    std::fs::write(
        &manifest,
        format!("id\tpath\tduration\ttext\nt\t{}\t2.0\tx\n", wav.display()),
    )
    .unwrap();
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[
                ("COMPACT_ASR_DECODER", "beam"),
                ("COMPACT_ASR_BEAM_WIDTH", "0"),
            ],
            "beam_width must be at least 1",
        ),
        (
            &[("COMPACT_ASR_POOL_SIZE", "0")],
            "the session pool needs at least 1 session",
        ),
        (
            &[("COMPACT_ASR_MODEL", "/no/such/model.toml")],
            "/no/such/model.toml",
        ),
    ];
    for (env, expected) in cases {
        for command in [
            vec!["serve".into()],
            vec!["transcribe".into(), wav.display().to_string()],
            vec!["eval".into(), manifest.display().to_string()],
        ] {
            let output = compact_asr()
                .args(&command)
                .env("COMPACT_ASR_LISTEN", "127.0.0.1:0")
                .envs(env.iter().copied())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{command:?} {env:?} succeeded");
            assert!(stderr.contains(expected), "{command:?} {env:?}: {stderr}");
        }
    }
}
