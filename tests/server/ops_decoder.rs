//! `compact-asr serve` takes its decoder from the configuration: with
//! `COMPACT_ASR_DECODER=beam` and `COMPACT_ASR_LM` it loads the LM, logs the beam search
//! and transcribes speech over gRPC; with no decoder keys at all it decodes as the default
//! model's `[decoder]` table says.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use compact_asr::audio::read_wav_file;
use compact_asr::client::{self, StreamOptions};
use compact_asr::eval::ErrorCount;

use crate::common::*;

/// A running `compact-asr serve` (JSON logs) with `env` over a clean environment: the
/// server, its address and the fields of its "model loaded" log line.
fn serve(env: &[(&str, std::path::PathBuf)]) -> (ServerProcess, String, serde_json::Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_compact-asr"));
    for (name, _) in std::env::vars() {
        if name.starts_with("COMPACT_ASR_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("COMPACT_ASR_METRICS_LISTEN", "127.0.0.1:0")
        .env("COMPACT_ASR_WS_LISTEN", "127.0.0.1:0")
        .env("COMPACT_ASR_POOL_SIZE", "2")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(repo_path(""))
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
    std::thread::spawn(move || lines.for_each(drop));
    let addr = addr.expect("server exited before listening");
    (server, addr, loaded.expect("no \"model loaded\" log line"))
}

/// Streams tests/data/piper_22k_mono.wav and checks the transcript's character error rate.
async fn transcribes_the_piper_recording(addr: &str) {
    let audio = read_wav_file(&repo_path("tests/data/piper_22k_mono.wav")).unwrap();
    let reference = std::fs::read_to_string(repo_path("tests/data/piper_22k_mono.txt")).unwrap();
    let mut client = client::connect(&format!("http://{addr}")).await.unwrap();
    let outcome = client::stream_audio(&mut client, &audio, &StreamOptions::default())
        .await
        .unwrap();
    let text = outcome.transcript().to_lowercase();
    let cer = ErrorCount::chars(reference.trim(), &text);
    assert!(cer.rate() <= 0.20, "CER {cer}: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_decodes_with_the_configured_beam_search_and_lm() {
    let (_server, addr, loaded) = serve(&[
        ("COMPACT_ASR_MODEL", repo_path("models/baseline/model.toml")),
        ("COMPACT_ASR_DECODER", "beam".into()),
        ("COMPACT_ASR_LM", repo_path("models/baseline/lm.arpa")),
    ]);
    let decoder = loaded["decoder"].as_str().unwrap();
    assert!(decoder.starts_with("Beam"), "{loaded}");
    assert!(decoder.contains("beam_width: 16"), "{loaded}");
    assert!(
        loaded["lm"].as_str().unwrap().contains("baseline/lm.arpa"),
        "{loaded}"
    );
    transcribes_the_piper_recording(&addr).await;
}

/// With no decoder keys anywhere, `serve` decodes as the default model's `[decoder]` table
/// says (beam search with its LM: its best measured WER, models/README.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_flags_decodes_as_the_default_model_recommends() {
    let (_server, addr, loaded) = serve(&[]);
    assert_eq!(loaded["model"].as_str(), Some("hybrid"), "{loaded}");
    let decoder = loaded["decoder"].as_str().unwrap();
    assert!(decoder.starts_with("Beam"), "{loaded}");
    // The weights are tuned per model (models/README.md), so read them from its table.
    let spec: toml::Table = std::fs::read_to_string(repo_path("models/hybrid/model.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let weight = |key: &str| spec["decoder"][key].as_float().unwrap() as f32;
    for key in ["lm_weight", "word_bonus"] {
        let want = format!("{key}: {:?}", weight(key));
        assert!(decoder.contains(&want), "{want} missing: {loaded}");
    }
    assert!(
        loaded["lm"]
            .as_str()
            .unwrap()
            .contains("models/hybrid/lm.arpa"),
        "{loaded}"
    );
    transcribes_the_piper_recording(&addr).await;
    // A flag still wins over the model's table.
    let (_server, _, greedy) = serve(&[("COMPACT_ASR_DECODER", "greedy".into())]);
    assert_eq!(greedy["decoder"].as_str(), Some("Greedy"), "{greedy}");
}
