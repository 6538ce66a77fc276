//! `compact-asr serve` takes its decoder from the configuration: with
//! `COMPACT_ASR_DECODER=beam` and `COMPACT_ASR_LM` it loads the LM, logs the beam search
//! and transcribes real speech over gRPC.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use compact_asr::audio::read_wav_file;
use compact_asr::client::{self, StreamOptions};
use compact_asr::eval::ErrorCount;

use crate::common::*;

/// Kills the server when the test ends, pass or fail.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_decodes_with_the_configured_beam_search_and_lm() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_compact-asr"));
    for (name, _) in std::env::vars() {
        if name.starts_with("COMPACT_ASR_") {
            command.env_remove(name);
        }
    }
    let lm = repo_path("models/baseline/lm.arpa");
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("COMPACT_ASR_MODEL", repo_path("models/baseline/model.toml"))
        .env("COMPACT_ASR_DECODER", "beam")
        .env("COMPACT_ASR_LM", &lm)
        .env("COMPACT_ASR_METRICS_LISTEN", "127.0.0.1:0")
        .env("COMPACT_ASR_POOL_SIZE", "2")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = ServerProcess(child);

    let mut loaded = None;
    let mut addr = None;
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        let fields = &entry["fields"];
        match fields["message"].as_str() {
            Some("model loaded") => loaded = Some(fields.clone()),
            Some("listening") => {
                addr = Some(fields["addr"].as_str().unwrap().to_owned());
                break;
            }
            _ => {}
        }
    }
    // Keep draining the log so the server never writes into a closed pipe.
    let log = std::thread::spawn(move || lines.map(Result::unwrap).collect::<Vec<String>>());
    let addr = addr.expect("server exited before listening");
    let loaded = loaded.expect("no \"model loaded\" log line");
    let decoder = loaded["decoder"].as_str().unwrap();
    assert!(decoder.starts_with("Beam"), "{loaded}");
    assert!(decoder.contains("beam_width: 16"), "{loaded}");
    assert!(
        loaded["lm"].as_str().unwrap().contains("lm.arpa"),
        "{loaded}"
    );

    let audio = read_wav_file(&repo_path("tests/data/piper_22k_mono.wav")).unwrap();
    let reference = std::fs::read_to_string(repo_path("tests/data/piper_22k_mono.txt")).unwrap();
    let mut client = client::connect(&format!("http://{addr}")).await.unwrap();
    let outcome = client::stream_audio(&mut client, &audio, &StreamOptions::default()).await;
    let outcome = outcome.unwrap_or_else(|e| {
        drop(server);
        panic!("{e:?}\n{}", log.join().unwrap().join("\n"))
    });
    let text = outcome.transcript().to_lowercase();
    let cer = ErrorCount::chars(reference.trim(), &text);
    assert!(cer.rate() <= 0.20, "CER {cer}: {text:?}");
}
