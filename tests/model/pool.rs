//! The session pool behind `Engine::open_stream`: bounded, a bounded wait, and sessions
//! that come back (state reset) whenever a stream is dropped.

use std::path::Path;
use std::time::{Duration, Instant};

use compact_asr::audio::{read_wav_file, Encoding};
use compact_asr::error::AsrError;
use compact_asr::pipeline::{Engine, EngineConfig, StreamSettings};

const TINY: &str = "tests/data/tiny_model";

fn engine(pool_size: usize, acquire_timeout: Duration) -> Engine {
    Engine::load(EngineConfig {
        pool_size,
        acquire_timeout,
        ..EngineConfig::new(Path::new(TINY).join("model.toml"))
    })
    .unwrap()
}

fn float_settings() -> StreamSettings {
    StreamSettings {
        encoding: Encoding::Float32,
        sample_rate_hz: 16000,
        channels: 1,
        interim_results: false,
    }
}

#[tokio::test]
async fn exhausted_pool_fails_after_the_timeout_and_dropping_frees_a_session() {
    let timeout = Duration::from_millis(150);
    let engine = engine(2, timeout);
    assert_eq!((engine.pool_capacity(), engine.pool_in_use()), (2, 0));
    let first = engine.open_stream(float_settings()).await.unwrap();
    let _second = engine.open_stream(float_settings()).await.unwrap();
    assert_eq!(engine.pool_in_use(), 2);

    let started = Instant::now();
    let err = engine.open_stream(float_settings()).await.unwrap_err();
    assert!(
        started.elapsed() >= timeout,
        "gave up after {:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, AsrError::PoolExhausted { waited } if waited == timeout),
        "{err:?}"
    );

    drop(first);
    assert_eq!(engine.pool_in_use(), 1);
    let _third = engine.open_stream(float_settings()).await.unwrap();
    assert_eq!(engine.pool_in_use(), 2);
}

#[tokio::test]
async fn a_waiting_stream_gets_the_session_another_stream_releases() {
    let engine = engine(1, Duration::from_secs(10));
    let held = engine.open_stream(float_settings()).await.unwrap();
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(held);
    });
    let started = Instant::now();
    let _next = engine.open_stream(float_settings()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(started.elapsed() < Duration::from_secs(5));
    releaser.await.unwrap();
}

#[tokio::test]
async fn an_aborted_stream_returns_its_session_with_state_reset() {
    let engine = engine(1, Duration::from_secs(1));
    let tone = read_wav_file(&Path::new(TINY).join("tone.wav")).unwrap();
    let expected = std::fs::read_to_string(Path::new(TINY).join("tone.expected.txt")).unwrap();

    let mut aborted = engine.open_stream(float_settings()).await.unwrap();
    aborted
        .accept_samples(&tone.samples[..tone.samples.len() / 2], 16000)
        .unwrap();
    drop(aborted);
    assert_eq!(engine.pool_in_use(), 0);

    // Same (only) session again: a leftover state would change the text.
    let mut stream = engine.open_stream(float_settings()).await.unwrap();
    stream.accept_samples(&tone.samples, 16000).unwrap();
    assert_eq!(
        stream.finish().unwrap()[0].text,
        expected.split_whitespace().collect::<Vec<_>>().join(" ")
    );
}

#[test]
fn a_pool_of_zero_sessions_is_rejected() {
    let err = Engine::load(EngineConfig {
        pool_size: 0,
        ..EngineConfig::new(Path::new(TINY).join("model.toml"))
    })
    .unwrap_err();
    assert!(matches!(err, AsrError::InvalidConfig(_)), "{err:?}");
}
