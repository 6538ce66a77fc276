//! The one helpers module of the integration tests, shared by every test binary
//! (`tests/{server,faults,model,pipeline,client,deploy}/main.rs` declare it `pub mod common`,
//! so helpers one binary does not call are not dead code there): start a real server on a
//! loopback port and talk to it through the generated tonic client, plus the submodules
//! below for recordings, noise, reference outputs and Python venvs.

pub mod cdp;
pub mod log_probs;
pub mod noise;
pub mod recordings;
pub mod reference;
pub mod venv;
pub mod ws_client;

use std::path::{Path, PathBuf};
use std::time::Duration;

use compact_asr::audio::{read_wav_file, DecodedAudio};
use compact_asr::pipeline::{Engine, EngineConfig};
use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::proto::recognizer_client::RecognizerClient;
use compact_asr::proto::streaming_recognize_request::StreamingRequest;
use compact_asr::proto::{
    RecognitionConfig, StreamingRecognitionConfig, StreamingRecognizeRequest,
    StreamingRecognizeResponse,
};
use compact_asr::server::RunningServer;
use tonic::transport::Channel;

/// A `compact-asr` child process (a server) killed when the test ends, pass or fail.
pub struct ServerProcess(pub std::process::Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The tiny random-weight model; its transcripts were computed by onnxruntime +
/// kaldi-native-fbank (tests/data/tiny_model/make_tiny_model.py), not by this code.
pub fn tiny_model() -> PathBuf {
    repo_path("tests/data/tiny_model/model.toml")
}

pub fn tone_wav_path() -> PathBuf {
    repo_path("tests/data/tiny_model/tone.wav")
}

pub fn tone_wav() -> DecodedAudio {
    read_wav_file(&tone_wav_path()).unwrap()
}

/// The tiny model's greedy transcript of tone.wav, as the reference runtime decoded it.
pub fn tone_expected() -> String {
    std::fs::read_to_string(repo_path("tests/data/tiny_model/tone.expected.txt"))
        .unwrap()
        .trim()
        .to_owned()
}

pub fn engine(model: &Path, pool_size: usize, acquire_timeout: Duration) -> Engine {
    Engine::load(EngineConfig {
        pool_size,
        acquire_timeout,
        ..EngineConfig::new(model)
    })
    .unwrap()
}

/// A server with the tiny model on 127.0.0.1:0 and a client connected to it.
pub async fn start_tiny(
    pool_size: usize,
    acquire_timeout: Duration,
) -> (RunningServer, RecognizerClient<Channel>) {
    start(engine(&tiny_model(), pool_size, acquire_timeout)).await
}

pub async fn start(engine: Engine) -> (RunningServer, RecognizerClient<Channel>) {
    let server = RunningServer::start(engine, "127.0.0.1:0").await.unwrap();
    let client = compact_asr::client::connect(&server.url()).await.unwrap();
    (server, client)
}

/// A plain channel to `server`, for the health and reflection clients.
pub async fn channel(server: &RunningServer) -> Channel {
    tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub fn config_request(
    encoding: AudioEncoding,
    sample_rate_hertz: i32,
    audio_channel_count: i32,
    interim_results: bool,
) -> StreamingRecognizeRequest {
    StreamingRecognizeRequest {
        streaming_request: Some(StreamingRequest::StreamingConfig(
            StreamingRecognitionConfig {
                config: Some(RecognitionConfig {
                    encoding: encoding.into(),
                    sample_rate_hertz,
                    audio_channel_count,
                    enable_word_time_offsets: true,
                    ..Default::default()
                }),
                interim_results,
                single_utterance: false,
            },
        )),
    }
}

pub fn audio_request(bytes: &[u8]) -> StreamingRecognizeRequest {
    StreamingRecognizeRequest {
        streaming_request: Some(StreamingRequest::AudioContent(bytes.to_vec())),
    }
}

/// Splits `bytes` into chunks of cycling, uneven sizes, odd ones included (half samples).
pub fn uneven_chunks(bytes: &[u8]) -> Vec<Vec<u8>> {
    const SIZES: [usize; 7] = [1, 4097, 3, 2000, 333, 8191, 2];
    let mut chunks = Vec::new();
    let mut start = 0;
    for size in SIZES.iter().cycle() {
        if start >= bytes.len() {
            break;
        }
        let end = (start + size).min(bytes.len());
        chunks.push(bytes[start..end].to_vec());
        start = end;
    }
    chunks
}

/// Sends `requests` then half-closes; collects every response or the call's status.
pub async fn stream(
    client: &mut RecognizerClient<Channel>,
    requests: Vec<StreamingRecognizeRequest>,
) -> Result<Vec<StreamingRecognizeResponse>, tonic::Status> {
    let mut responses = client
        .streaming_recognize(tokio_stream::iter(requests))
        .await?
        .into_inner();
    let mut all = Vec::new();
    while let Some(response) = responses.message().await? {
        all.push(response);
    }
    Ok(all)
}

/// 16-bit little-endian PCM of mono samples in [-1, 1].
pub fn pcm16(samples: &[f32]) -> Vec<u8> {
    compact_asr::client::linear16(samples)
}

/// The first request of a stream with a config of the caller's making.
pub fn streaming_config_request(
    config: RecognitionConfig,
    interim_results: bool,
    single_utterance: bool,
) -> StreamingRecognizeRequest {
    StreamingRecognizeRequest {
        streaming_request: Some(StreamingRequest::StreamingConfig(
            StreamingRecognitionConfig {
                config: Some(config),
                interim_results,
                single_utterance,
            },
        )),
    }
}

/// Opens a LINEAR16 mono stream at `rate` and sends `chunks`, keeping the request side open:
/// the caller sends more, half-closes (drops the sender) or vanishes. The call returns once
/// the server has admitted and opened the stream.
pub async fn open_live_stream(
    url: &str,
    rate: i32,
    chunks: &[&[u8]],
) -> (
    tokio::sync::mpsc::Sender<StreamingRecognizeRequest>,
    tonic::Streaming<StreamingRecognizeResponse>,
) {
    let mut client = compact_asr::client::connect(url).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tx.send(config_request(AudioEncoding::Linear16, rate, 1, false))
        .await
        .unwrap();
    for chunk in chunks {
        tx.send(audio_request(chunk)).await.unwrap();
    }
    let responses = client
        .streaming_recognize(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    (tx, responses)
}

/// Runs `client` on a runtime of its own, then shuts that runtime down without closing
/// anything: its connections die without a goodbye, as when a client process is killed.
/// Returns what the client held (dropped by the caller only after the runtime is gone).
pub async fn as_a_dying_process<T: Send + 'static>(
    client: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let held = runtime.block_on(client);
        runtime.shutdown_background();
        held
    })
    .await
    .unwrap()
}
