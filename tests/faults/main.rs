//! Faults a production server meets, over real loopback gRPC: clients that vanish mid-stream
//! (1,000 of them), an exhausted pool, a missing or corrupt model at start, and a client
//! that sends fast but never reads. Each test asserts on what an operator would watch: pool
//! sessions in use, process memory, and whether other callers are still served.
//!
//! The in-process tests measure this process's RSS, so they take [`SERIAL`] and never run
//! at the same time as each other (the model-file tests start the real binary instead).

// A failed unwrap here is a failed test, never a crashed server.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
pub mod common;

use std::any::Any;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use compact_asr::pipeline::Engine;
use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::proto::recognizer_client::RecognizerClient;
use compact_asr::proto::{StreamingRecognizeRequest, StreamingRecognizeResponse};
use compact_asr::server::{RunningServer, ServerOptions};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Code;

/// Serialises the tests that read this process's RSS.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long any "eventually" below may take before the test fails; generous, because the
/// machine may be busy. Nothing asserts that something happens quickly.
const PATIENCE: Duration = Duration::from_secs(60);

/// How much RSS may grow across a fault scenario. A leak of one stream's state (features,
/// decoder, buffers, HTTP/2 stream, task: tens of KiB) per aborted stream would pass it
/// within 1,000 streams (32 KiB each), and an unbounded queue in the slow-reader case would
/// pass it within minutes of audio. What it must leave room for is allocator caching:
/// glibc keeps freed memory in per-thread arenas, and bursts of 50 streams on tokio's
/// blocking threads spread over more of them. Measured on 2 cores in a debug build:
/// +11 to +22 MiB across the 1,000 aborted streams, growing ever slower (+17 MiB across
/// 2,750 more), and +3 MiB for the slow reader.
const RSS_TOLERANCE: u64 = 32 << 20;

/// This process's resident set size in bytes (Linux).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib << 10
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Waits (bounded by [`PATIENCE`]) until no pool session is lent to a stream and no call
/// is open (the `compact_asr_active_streams` gauge; the tests that use this hold [`SERIAL`],
/// so no other test's calls count).
async fn pool_drains(engine: &Engine) {
    let start = Instant::now();
    loop {
        let active = active_streams();
        if engine.pool_in_use() == 0 && active == 0 {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{} pool sessions and {active} calls still open {PATIENCE:?} after their clients left",
            engine.pool_in_use()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `compact_asr_active_streams` gauge.
fn active_streams() -> i64 {
    compact_asr::metrics::render()
        .lines()
        .find_map(|line| line.strip_prefix("compact_asr_active_streams "))
        .and_then(|value| value.parse().ok())
        .expect("compact_asr_active_streams is exported")
}

/// The tone's 16 kHz LINEAR16 audio.
fn tone_pcm() -> Vec<u8> {
    pcm16(&tone_wav().samples)
}

/// 100 ms of 16 kHz LINEAR16.
const CHUNK_BYTES: usize = 3200;

/// Streams the whole tone in 100 ms chunks and asserts the reference transcript.
async fn transcribes_the_tone(client: &mut RecognizerClient<Channel>) {
    let mut requests = vec![config_request(AudioEncoding::Linear16, 16000, 1, true)];
    requests.extend(tone_pcm().chunks(CHUNK_BYTES).map(audio_request));
    let responses = stream(client, requests).await.unwrap();
    let finals: Vec<&str> = responses
        .iter()
        .flat_map(|r| &r.results)
        .filter(|r| r.is_final)
        .map(|r| r.alternatives[0].transcript.as_str())
        .collect();
    assert_eq!(finals, [tone_expected()], "{responses:?}");
}

/// Where a client gives up on its stream.
#[derive(Debug, Clone, Copy)]
enum GiveUp {
    /// The call was answered (the server holds a session), no audio yet.
    BeforeAudio,
    /// Part of the audio sent.
    MidAudio,
    /// Right after the first response (a partial) arrived.
    AfterResponse,
    /// Before or while the call is being answered.
    DuringAdmission,
    /// The call's handles dropped on a connection that stays up: the request stream ends
    /// without the client ever reading a result.
    CallDropped,
}

const GIVE_UPS: [GiveUp; 5] = [
    GiveUp::BeforeAudio,
    GiveUp::MidAudio,
    GiveUp::AfterResponse,
    GiveUp::DuringAdmission,
    GiveUp::CallDropped,
];

/// Runs one stream up to its give-up point and returns what must stay alive until the
/// client vanishes, and whether a response had arrived.
async fn doomed_stream(
    mut client: RecognizerClient<Channel>,
    audio: Arc<Vec<u8>>,
    give_up: GiveUp,
    ix: usize,
) -> (Box<dyn Any + Send>, bool) {
    let (tx, rx) = mpsc::channel(64);
    let interim = matches!(give_up, GiveUp::AfterResponse);
    tx.send(config_request(AudioEncoding::Linear16, 16000, 1, interim))
        .await
        .unwrap();
    let call = client.streaming_recognize(ReceiverStream::new(rx));
    match give_up {
        GiveUp::DuringAdmission => {
            let _ = tx.send(audio_request(&audio[..CHUNK_BYTES])).await;
            // Polls the call for 0-4 ms: sometimes not sent, sometimes queued for a session.
            let wait = Duration::from_millis((ix % 5) as u64);
            let answered = tokio::time::timeout(wait, call).await;
            (Box::new((tx, answered)), false)
        }
        GiveUp::BeforeAudio => {
            let responses = call.await.unwrap();
            (Box::new((tx, responses)), false)
        }
        GiveUp::MidAudio => {
            let responses = call.await.unwrap();
            let chunks = 1 + ix % 7;
            for chunk in audio.chunks(CHUNK_BYTES).take(chunks) {
                tx.send(audio_request(chunk)).await.unwrap();
            }
            (Box::new((tx, responses)), false)
        }
        GiveUp::AfterResponse => {
            let mut responses = call.await.unwrap().into_inner();
            for chunk in audio.chunks(CHUNK_BYTES) {
                tx.send(audio_request(chunk)).await.unwrap();
            }
            let first = tokio::time::timeout(PATIENCE, responses.message()).await;
            let got = matches!(first, Ok(Ok(Some(_))));
            (Box::new((tx, responses)), got)
        }
        GiveUp::CallDropped => {
            let responses = call.await.unwrap();
            for chunk in audio.chunks(CHUNK_BYTES).take(3) {
                tx.send(audio_request(chunk)).await.unwrap();
            }
            drop((responses, tx));
            (Box::new(()), false)
        }
    }
}

/// `streams` clients on `connections` connections of their own runtime, each giving up at
/// one of [`GIVE_UPS`]; once all have, the runtime is shut down, closing the connections
/// without a goodbye, as when a client process dies. Returns how many got a response first.
async fn vanishing_clients(url: &str, streams: usize, connections: usize, round: usize) -> usize {
    let url = url.to_owned();
    let held = as_a_dying_process(async move {
        let audio = Arc::new(tone_pcm());
        let mut clients = Vec::new();
        for _ in 0..connections {
            clients.push(compact_asr::client::connect(&url).await.unwrap());
        }
        let tasks: Vec<_> = (0..streams)
            .map(|k| {
                let ix = round * streams + k;
                let client = clients[k % connections].clone();
                let give_up = GIVE_UPS[ix % GIVE_UPS.len()];
                tokio::spawn(doomed_stream(client, Arc::clone(&audio), give_up, ix))
            })
            .collect();
        let mut held = Vec::new();
        for task in tasks {
            held.push(task.await.unwrap());
        }
        held
    })
    .await;
    held.iter().filter(|(_, responded)| *responded).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_aborted_streams_free_every_session_and_their_memory() {
    const ROUNDS: usize = 20;
    const CONCURRENT: usize = 50;
    let _serial = SERIAL.lock().await;
    let engine = engine(&tiny_model(), 64, PATIENCE);
    let (server, mut client) = start(engine.clone()).await;
    let url = server.url();

    // Warm-up: thread pools, allocator arenas and connection buffers reach their working size.
    for round in 0..4 {
        vanishing_clients(&url, CONCURRENT, 5, round).await;
    }
    pool_drains(&engine).await;
    transcribes_the_tone(&mut client).await;
    let before = rss();

    let mut responded = 0;
    for round in 0..ROUNDS {
        responded += vanishing_clients(&url, CONCURRENT, 1 + round % 5, round).await;
        // Sessions of vanished clients come back; none may pile up across rounds.
        assert!(
            engine.pool_in_use() <= CONCURRENT,
            "round {round}: {} sessions in use",
            engine.pool_in_use()
        );
    }
    pool_drains(&engine).await;
    let after = rss();
    let after_response = ROUNDS * CONCURRENT / GIVE_UPS.len();
    assert!(
        responded > after_response / 2,
        "only {responded} of {after_response} clients saw a response before vanishing"
    );
    eprintln!(
        "RSS after warm-up {:.1} MiB, after {} aborted streams {:.1} MiB ({:+.1} MiB)",
        mib(before),
        ROUNDS * CONCURRENT,
        mib(after),
        mib(after) - mib(before)
    );
    assert!(
        after < before + RSS_TOLERANCE,
        "RSS grew from {:.1} to {:.1} MiB",
        mib(before),
        mib(after)
    );
    transcribes_the_tone(&mut client).await;
    assert_eq!(engine.pool_in_use(), 0);
}

/// Sends the tone's remaining chunks, half-closes and returns the finals' transcripts.
async fn finish_stream(
    tx: mpsc::Sender<StreamingRecognizeRequest>,
    mut responses: tonic::Streaming<StreamingRecognizeResponse>,
    sent: usize,
) -> Vec<String> {
    for chunk in tone_pcm().chunks(CHUNK_BYTES).skip(sent) {
        tx.send(audio_request(chunk)).await.unwrap();
    }
    drop(tx);
    let mut finals = Vec::new();
    while let Some(response) = responses.message().await.unwrap() {
        finals.extend(
            response
                .results
                .iter()
                .filter(|r| r.is_final)
                .map(|r| r.alternatives[0].transcript.clone()),
        );
    }
    finals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_refuses_after_its_wait_and_keeps_serving_the_open_streams() {
    let acquire_timeout = Duration::from_millis(400);
    let _serial = SERIAL.lock().await;
    let engine = engine(&tiny_model(), 2, acquire_timeout);
    let (server, mut client) = start(engine.clone()).await;
    let url = server.url();
    let pcm = tone_pcm();
    let chunks: Vec<&[u8]> = pcm.chunks(CHUNK_BYTES).collect();
    let first = open_live_stream(&url, 16000, &chunks[..5]).await;
    let second = open_live_stream(&url, 16000, &chunks[..8]).await;
    assert_eq!(engine.pool_in_use(), 2);

    let asked = Instant::now();
    let config = config_request(AudioEncoding::Linear16, 16000, 1, false);
    let refused = tokio::time::timeout(PATIENCE, stream(&mut client, vec![config]))
        .await
        .expect("the refusal comes back after the bounded wait")
        .expect_err("a third stream does not fit a pool of 2");
    let waited = asked.elapsed();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    for needle in ["busy", "retry"] {
        assert!(
            refused.message().contains(needle),
            "{:?} should say {needle:?}",
            refused.message()
        );
    }
    // It queued for a session (the acquire timeout) rather than failing at once.
    assert!(
        waited >= acquire_timeout * 9 / 10,
        "refused after {waited:?}"
    );

    // The two admitted streams are unaffected and run to their transcripts.
    let (first, second) = tokio::join!(
        finish_stream(first.0, first.1, 5),
        finish_stream(second.0, second.1, 8)
    );
    assert_eq!(first, [tone_expected()]);
    assert_eq!(second, [tone_expected()]);
    pool_drains(&engine).await;
    // With their sessions back, a new stream is admitted.
    transcribes_the_tone(&mut client).await;
}

/// A client that streams audio as fast as the transport lets it and reads responses only
/// when told to, on a runtime of its own so that it can vanish like a dead process.
struct SlowReader {
    /// Audio bytes handed to the transport so far.
    sent: Arc<AtomicUsize>,
    commands: mpsc::UnboundedSender<usize>,
    thread: std::thread::JoinHandle<()>,
}

/// Most audio a stream that is not read may make the server take: its HTTP/2 receive
/// window (hyper's default, 1 MiB) plus what it recognised before its queued responses and
/// the client's window filled (measured: 2 MiB in all). The slow reader stops sending here.
const SLOW_READER_LIMIT: usize = 8 << 20;

impl SlowReader {
    /// Connects, opens an interim-results stream and starts pushing the tone over and over.
    /// Returns once the call is answered (the stream holds its session).
    async fn start(url: &str) -> SlowReader {
        let url = url.to_owned();
        let sent = Arc::new(AtomicUsize::new(0));
        let (commands, mut orders) = mpsc::unbounded_channel::<usize>();
        let (opened_tx, opened) = tokio::sync::oneshot::channel();
        let counter = Arc::clone(&sent);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let held = runtime.block_on(async move {
                // A small receive window stands for a client whose buffers are full; with
                // the default (2 MiB) the server would first send hours of partials.
                let channel = tonic::transport::Endpoint::from_shared(url)
                    .unwrap()
                    .initial_stream_window_size(8 * 1024)
                    .connect()
                    .await
                    .unwrap();
                let mut client = RecognizerClient::new(channel);
                let (tx, rx) = mpsc::channel(1);
                tx.send(config_request(AudioEncoding::Linear16, 16000, 1, true))
                    .await
                    .unwrap();
                let mut responses = client
                    .streaming_recognize(ReceiverStream::new(rx))
                    .await
                    .unwrap()
                    .into_inner();
                let pcm = tone_pcm();
                let producer = tokio::spawn(async move {
                    loop {
                        for chunk in pcm.chunks(CHUNK_BYTES) {
                            if tx.send(audio_request(chunk)).await.is_err()
                                || counter.fetch_add(chunk.len(), Ordering::SeqCst)
                                    > SLOW_READER_LIMIT
                            {
                                return;
                            }
                        }
                    }
                });
                opened_tx.send(()).unwrap();
                // Each order: read that many responses. The channel closing: vanish.
                while let Some(count) = orders.recv().await {
                    for _ in 0..count {
                        responses.message().await.unwrap().unwrap();
                    }
                }
                (responses, producer, client)
            });
            runtime.shutdown_background();
            drop(held);
        });
        opened.await.unwrap();
        SlowReader {
            sent,
            commands,
            thread,
        }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Waits until the transport stops taking audio: nothing more sent for a whole second.
    async fn until_pushed_back(&self) -> usize {
        let start = Instant::now();
        let mut last = (self.sent(), Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let sent = self.sent();
            assert!(
                sent < SLOW_READER_LIMIT,
                "the server took {} MiB of audio without pushing back",
                mib(sent as u64)
            );
            if sent != last.0 {
                last = (sent, Instant::now());
            } else if last.1.elapsed() >= Duration::from_secs(1) {
                return sent;
            }
            assert!(start.elapsed() < 3 * PATIENCE, "never pushed back");
        }
    }

    /// Reads `count` responses.
    fn read(&self, count: usize) {
        self.commands.send(count).unwrap();
    }

    /// Closes the client's connection without a goodbye.
    fn vanish(self) {
        drop(self.commands);
        self.thread.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_pushed_back_and_freed_when_it_goes() {
    let _serial = SERIAL.lock().await;
    let engine = engine(&tiny_model(), 4, PATIENCE);
    let (server, mut client) = start(engine.clone()).await;
    transcribes_the_tone(&mut client).await;
    let before = rss();

    let slow = SlowReader::start(&server.url()).await;
    let stalled = slow.until_pushed_back().await;
    let during = rss();
    eprintln!(
        "slow reader pushed back after {:.2} MiB of audio ({:.0} s); RSS {:.1} -> {:.1} MiB",
        mib(stalled as u64),
        stalled as f64 / 32_000.0,
        mib(before),
        mib(during)
    );
    assert_eq!(engine.pool_in_use(), 1, "the slow stream keeps its session");
    assert!(
        during < before + RSS_TOLERANCE,
        "RSS grew from {:.1} to {:.1} MiB while a client did not read",
        mib(before),
        mib(during)
    );
    // Another caller is served meanwhile.
    transcribes_the_tone(&mut client).await;

    // Reading releases the push-back: recognition and the audio flow resume.
    slow.read(200);
    let start = Instant::now();
    while slow.sent() == stalled {
        assert!(
            start.elapsed() < PATIENCE,
            "reading did not resume the stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    slow.until_pushed_back().await;
    assert!(rss() < before + RSS_TOLERANCE);

    slow.vanish();
    pool_drains(&engine).await;
    transcribes_the_tone(&mut client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_session_after_the_idle_timeout() {
    let _serial = SERIAL.lock().await;
    let engine = engine(&tiny_model(), 4, PATIENCE);
    let options = ServerOptions {
        idle_timeout: Duration::from_secs(1),
        ..ServerOptions::default()
    };
    let server = RunningServer::start_with(engine.clone(), "127.0.0.1:0", options)
        .await
        .unwrap();
    let slow = SlowReader::start(&server.url()).await;
    slow.until_pushed_back().await;
    // The connection stays open and the client still holds the call, but it has not taken a
    // response for over the idle timeout: the server lets the stream go.
    pool_drains(&engine).await;
    let mut client = compact_asr::client::connect(&server.url()).await.unwrap();
    transcribes_the_tone(&mut client).await;
    slow.vanish();
}

/// `compact-asr serve` with `model` on loopback ports and no COMPACT_ASR_* from outside.
fn serve_with(model: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_compact-asr"));
    for (name, _) in std::env::vars() {
        if name.starts_with("COMPACT_ASR_") {
            command.env_remove(name);
        }
    }
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--model"])
        .arg(model)
        .env("COMPACT_ASR_METRICS_LISTEN", "127.0.0.1:0")
        .env("COMPACT_ASR_WS_LISTEN", "127.0.0.1:0")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs `serve` and asserts that it exits non-zero within [`PATIENCE`] with an error
/// naming `file` and every one of `problem`, and without a panic; returns stderr.
fn refuses_to_start(model: &Path, file: &str, problem: &[&str]) -> String {
    let mut child = serve_with(model).spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("serve kept running with a broken model {}", model.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{status:?}\n{stderr}");
    let error = stderr
        .find("error: ")
        .map(|at| &stderr[at..])
        .unwrap_or_else(|| panic!("no error in:\n{stderr}"));
    assert!(error.contains(file), "{error:?} should name {file}");
    for needle in problem {
        assert!(error.contains(needle), "{error:?} should say {needle:?}");
    }
    for crash in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(crash), "{crash} in:\n{stderr}");
    }
    stderr
}

/// A copy of the tiny model in a temporary folder, for breaking.
fn model_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["model.toml", "model.onnx"] {
        std::fs::copy(
            repo_path("tests/data/tiny_model").join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    dir
}

#[test]
fn a_missing_model_file_stops_serve_with_its_name() {
    let dir = model_copy();
    let toml = dir.path().join("model.toml");
    refuses_to_start(
        &dir.path().join("nowhere.toml"),
        "nowhere.toml",
        &["No such file"],
    );
    std::fs::remove_file(dir.path().join("model.onnx")).unwrap();
    refuses_to_start(&toml, "model.onnx", &["No such file"]);
}

#[test]
fn a_corrupt_onnx_file_stops_serve_with_its_name() {
    let dir = model_copy();
    let toml = dir.path().join("model.toml");
    let onnx = dir.path().join("model.onnx");
    let good = std::fs::read(&onnx).unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for (what, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("garbage", garbage),
        ("empty", Vec::new()),
    ] {
        std::fs::write(&onnx, &bytes).unwrap();
        let stderr = refuses_to_start(&toml, "model.onnx", &["cannot load model"]);
        eprintln!("{what}: {stderr}");
    }
}

#[test]
fn a_malformed_or_mismatched_model_toml_stops_serve_saying_what_is_wrong() {
    let dir = model_copy();
    let toml = dir.path().join("model.toml");
    let good = std::fs::read_to_string(&toml).unwrap();
    let broken = |from: &str, to: &str| {
        assert!(good.contains(from), "{from:?}");
        std::fs::write(&toml, good.replacen(from, to, 1)).unwrap();
    };
    // Not TOML at all.
    std::fs::write(&toml, format!("{good}\n[[[ not toml\n")).unwrap();
    refuses_to_start(&toml, "model.toml", &["TOML parse error"]);
    // TOML, but not the contract.
    broken("[frames]", "[frame]");
    refuses_to_start(&toml, "model.toml", &["frame"]);
    // Valid contract, but it does not describe this graph.
    broken(r#"input = "features""#, r#"input = "feats""#);
    refuses_to_start(&toml, "model.onnx", &["feats"]);
    broken(r#", "z"]"#, "]");
    refuses_to_start(&toml, "model.onnx", &["vocab"]);
    broken("num_mel_bins = 80", "num_mel_bins = 40");
    refuses_to_start(&toml, "model.onnx", &["120"]);
    broken("shape = [1, 1, 8]", "shape = [1, 1, 16]");
    refuses_to_start(&toml, "model.onnx", &["16"]);
}
