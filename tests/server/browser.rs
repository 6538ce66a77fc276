//! The demo page in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `tests/install-browser.sh`) opens `http://127.0.0.1:PORT/?autostart=1` on a server with
//! the shipped model; its microphone is fed a recording from `tests/data` (Chromium's fake
//! capture device), the page streams it through its AudioWorklet and the WebSocket, and the
//! test asserts the transcript that appears in the page's DOM. A screenshot of the page is
//! written to `target/browser/demo.png`.
//!
//! Without `/usr/bin/chromium`, or when it cannot start here, the test says why and passes.

use crate::common::cdp;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use compact_asr::eval::ErrorCount;
use compact_asr::server::{RunningServer, ServerOptions};
use serde_json::Value;

/// The recording the microphone plays, and its reference transcript.
const RECORDING: &str = "tests/data/piper_22k_mono";
/// Highest character error rate accepted. Above the gRPC bound (0.20): the audio goes
/// through the browser's capture, its resampler and the page's 16 kHz downsampler first.
const MAX_CER: f64 = 0.35;
/// Longest the page may take to get from loading to its final transcript.
const PATIENCE: Duration = Duration::from_secs(60);

/// The recording with 0.5 s of silence before (the capture starts while the page connects)
/// and 2 s after (an endpoint, so a final arrives before the page is stopped), as the
/// 16-bit PCM WAV Chromium's fake device reads.
fn padded_wav(dir: &Path) -> PathBuf {
    let mut reader = hound::WavReader::open(repo_path(&format!("{RECORDING}.wav"))).unwrap();
    let spec = reader.spec();
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let silence = |secs: f64| vec![0i16; (f64::from(spec.sample_rate) * secs) as usize];
    let path = dir.join("microphone.wav");
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    for sample in silence(0.5).iter().chain(&samples).chain(&silence(2.0)) {
        writer.write_sample(*sample).unwrap();
    }
    writer.finalize().unwrap();
    path
}

/// Where cargo keeps build outputs (`target/` unless CARGO_TARGET_DIR says otherwise).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The page's state: phase, finals, partial, error (see `window.demo` in demo.js).
async fn page_state(page: &mut cdp::Page) -> Value {
    let text = page
        .eval("JSON.stringify(window.demo ? window.demo.state : null)")
        .await;
    serde_json::from_str(text.as_str().unwrap_or("null")).unwrap()
}

/// Polls the page until `done` holds for its state; fails on a page error or after
/// [`PATIENCE`].
async fn wait_for(
    page: &mut cdp::Page,
    browser: &cdp::Browser,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let state = page_state(page).await;
        let error = state["error"].as_str().unwrap_or_default();
        assert!(
            error.is_empty(),
            "the page failed: {error}\n{state}\nChromium's log:\n{}",
            browser.log_tail()
        );
        if done(&state) {
            return state;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no {what} after {PATIENCE:?}: {state}\nChromium's log:\n{}",
            browser.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_transcribes_the_microphone_in_headless_chromium() {
    if !Path::new(cdp::CHROMIUM).exists() {
        eprintln!(
            "SKIPPED: {} is missing (run tests/install-browser.sh)",
            cdp::CHROMIUM
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wav = padded_wav(dir.path());
    let profile = dir.path().join("profile");
    let browser = match cdp::Browser::launch(&profile, &wav) {
        Ok(browser) => browser,
        Err(why) => {
            eprintln!("SKIPPED: Chromium cannot run here: {why}");
            return;
        }
    };
    let model = repo_path(compact_asr::config::DEFAULT_MODEL);
    let options = ServerOptions {
        ws_listen: Some("127.0.0.1:0".into()),
        ..ServerOptions::default()
    };
    let engine = engine(&model, 2, Duration::from_secs(60));
    let server = RunningServer::start_with(engine.clone(), "127.0.0.1:0", options)
        .await
        .unwrap();
    let addr = server.ws_addr().unwrap();

    let mut page = browser.open(&format!("http://{addr}/?autostart=1")).await;
    wait_for(&mut page, &browser, "listening page", |s| {
        s["phase"] == "listening"
    })
    .await;
    // The recording's speech, then the endpoint's final.
    wait_for(&mut page, &browser, "final", |s| {
        s["finals"].as_array().is_some_and(|f| !f.is_empty()) && s["partial"] == ""
    })
    .await;
    page.eval("window.demo.stop()").await;
    let state = wait_for(&mut page, &browser, "close", |s| s["phase"] == "closed").await;
    assert_eq!(state["closeCode"], 1000, "{state}");

    let on_page = page
        .eval("document.getElementById('finals').innerText")
        .await;
    let transcript = on_page
        .as_str()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let shot = target_dir().join("browser/demo.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    std::fs::write(&shot, page.screenshot().await).unwrap();
    eprintln!(
        "page transcript: {transcript:?}; screenshot: {}",
        shot.display()
    );

    let reference = std::fs::read_to_string(repo_path(&format!("{RECORDING}.txt"))).unwrap();
    let reference = reference.split_whitespace().collect::<Vec<_>>().join(" ");
    let cer = ErrorCount::chars(&reference, &transcript);
    assert!(
        cer.rate() <= MAX_CER,
        "CER {cer} over {MAX_CER}\n  reference:  {reference}\n  on the page: {transcript}"
    );
    drop(page);
    drop(browser);
    server.stop().await.unwrap();
    assert_eq!(engine.pool_in_use(), 0);
}
