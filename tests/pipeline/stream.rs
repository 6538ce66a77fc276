//! One stream end to end on the tiny model: bytes in, partials and a final hypothesis out.
//! The expected text comes from kaldi-native-fbank + onnxruntime (make_tiny_model.py), so
//! this checks the whole Rust front end and runtime against independent implementations.

use std::path::Path;
use std::time::Duration;

use compact_asr::audio::{read_wav_file, Encoding};
use compact_asr::error::AsrError;
use compact_asr::pipeline::{Engine, EngineConfig, Hypothesis, StreamEvent, StreamSettings};

const TINY: &str = "tests/data/tiny_model";

fn engine(interim_interval_ms: u32) -> Engine {
    Engine::load(EngineConfig {
        interim_interval_ms,
        ..EngineConfig::new(Path::new(TINY).join("model.toml"))
    })
    .unwrap()
}

fn settings(encoding: Encoding, channels: u16, interim_results: bool) -> StreamSettings {
    StreamSettings {
        encoding,
        sample_rate_hz: 16000,
        channels,
        interim_results,
    }
}

fn tone_samples() -> Vec<f32> {
    let audio = read_wav_file(&Path::new(TINY).join("tone.wav")).unwrap();
    assert_eq!(audio.sample_rate, 16000);
    audio.samples
}

fn expected_text() -> String {
    let text = std::fs::read_to_string(Path::new(TINY).join("tone.expected.txt")).unwrap();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.len() > 3,
        "fixture text {text:?} too short to test anything"
    );
    text
}

/// 16-bit little-endian PCM, `channels` copies of each sample interleaved.
fn linear16(samples: &[f32], channels: usize) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|&s| {
            let v = ((s * 32768.0).round() as i32).clamp(-32768, 32767) as i16;
            std::iter::repeat_n(v.to_le_bytes(), channels).flatten()
        })
        .collect()
}

/// Streams `bytes` in pieces of `piece` bytes; returns the partials and the final result
/// (the default endpointing must not split these short clips: exactly one final).
async fn stream_bytes(
    engine: &Engine,
    s: StreamSettings,
    bytes: &[u8],
    piece: usize,
) -> (Vec<Hypothesis>, Hypothesis) {
    let mut stream = engine.open_stream(s).await.unwrap();
    let mut partials = Vec::new();
    let mut finals = Vec::new();
    for chunk in bytes.chunks(piece) {
        for event in stream.accept_audio(chunk).unwrap() {
            match event {
                StreamEvent::Partial(h) => partials.push(h),
                StreamEvent::Final(h) => finals.push(h),
            }
        }
    }
    finals.extend(stream.finish().unwrap());
    assert_eq!(finals.len(), 1, "{finals:#?}");
    (partials, finals.remove(0))
}

/// [`stream_bytes`] through the async path a live server stream takes.
async fn stream_bytes_async(
    engine: &Engine,
    s: StreamSettings,
    bytes: &[u8],
    piece: usize,
) -> Vec<StreamEvent> {
    let mut stream = engine.open_stream(s).await.unwrap();
    let mut events = Vec::new();
    for chunk in bytes.chunks(piece) {
        events.extend(stream.accept_audio_async(chunk).await.unwrap());
    }
    events.extend(
        stream
            .finish_async()
            .await
            .unwrap()
            .into_iter()
            .map(StreamEvent::Final),
    );
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_path_gives_exactly_the_blocking_paths_results() {
    let engine = engine(160);
    let bytes = linear16(&tone_samples(), 1);
    for piece in [37, 3201] {
        let (partials, last) = stream_bytes(
            &engine,
            settings(Encoding::Linear16, 1, true),
            &bytes,
            piece,
        )
        .await;
        let mut blocking: Vec<StreamEvent> =
            partials.into_iter().map(StreamEvent::Partial).collect();
        blocking.push(StreamEvent::Final(last));
        let awaited = stream_bytes_async(
            &engine,
            settings(Encoding::Linear16, 1, true),
            &bytes,
            piece,
        )
        .await;
        assert_eq!(awaited, blocking, "pieces of {piece} bytes");
    }
}

#[tokio::test]
async fn final_text_matches_the_independent_reference_for_any_byte_split() {
    let engine = engine(160);
    let bytes = linear16(&tone_samples(), 1);
    for piece in [37, 640, 3201, bytes.len()] {
        let (_, result) = stream_bytes(
            &engine,
            settings(Encoding::Linear16, 1, false),
            &bytes,
            piece,
        )
        .await;
        assert_eq!(result.text, expected_text(), "pieces of {piece} bytes");
        // 2 s of audio: (32000 - 400) / 160 + 1 = 198 fbank frames -> 66 model frames of 30 ms.
        assert_eq!(result.end_time, Duration::from_millis(66 * 30));
    }
}

#[tokio::test]
async fn stereo_and_float_input_give_the_same_text() {
    let engine = engine(160);
    let samples = tone_samples();
    let (_, stereo) = stream_bytes(
        &engine,
        settings(Encoding::Linear16, 2, false),
        &linear16(&samples, 2),
        999,
    )
    .await;
    assert_eq!(stereo.text, expected_text());
    let floats: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let (_, float) = stream_bytes(
        &engine,
        settings(Encoding::Float32, 1, false),
        &floats,
        1234,
    )
    .await;
    assert_eq!(float.text, expected_text());
}

#[tokio::test]
async fn partials_grow_towards_the_final_text_at_the_interim_interval() {
    let engine = engine(160);
    let bytes = linear16(&tone_samples(), 1);
    // 20 ms per message, like a live client.
    let (partials, last) =
        stream_bytes(&engine, settings(Encoding::Linear16, 1, true), &bytes, 640).await;
    assert!(partials.len() >= 2, "only {} partials", partials.len());
    for pair in partials.windows(2) {
        assert_ne!(
            pair[0].text, pair[1].text,
            "a partial repeated unchanged text"
        );
        assert!(
            pair[1].end_time >= pair[0].end_time + Duration::from_millis(160),
            "{pair:?}"
        );
    }
    for p in &partials {
        // Greedy CTC on a causal model: later audio only appends.
        assert!(
            last.text.starts_with(&p.text),
            "partial {:?} is not a prefix of {:?}",
            p.text,
            last.text
        );
        assert!(p.end_time <= last.end_time);
    }

    let (none, quiet) =
        stream_bytes(&engine, settings(Encoding::Linear16, 1, false), &bytes, 640).await;
    assert!(none.is_empty());
    assert_eq!(quiet.text, last.text);
}

#[tokio::test]
async fn words_carry_ordered_times_and_confidences() {
    let engine = engine(160);
    let (_, result) = stream_bytes(
        &engine,
        settings(Encoding::Linear16, 1, false),
        &linear16(&tone_samples(), 1),
        4096,
    )
    .await;
    let words: Vec<&str> = result.words.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(words, result.text.split(' ').collect::<Vec<_>>());
    let mut previous_end = Duration::ZERO;
    for w in &result.words {
        assert!(
            w.start >= previous_end && w.start < w.end && w.end <= result.end_time,
            "{w:?}"
        );
        assert!(w.confidence > 0.0 && w.confidence <= 1.0, "{w:?}");
        previous_end = w.end;
    }
    let mean = result.words.iter().map(|w| w.confidence).sum::<f32>() / result.words.len() as f32;
    assert!((result.confidence - mean).abs() < 1e-6);
}

#[tokio::test]
async fn timing_accessors_and_use_after_finish() {
    let engine = engine(160);
    let mut stream = engine
        .open_stream(settings(Encoding::Float32, 1, false))
        .await
        .unwrap();
    stream.accept_samples(&vec![0.0; 8000], 16000).unwrap();
    assert!(matches!(
        stream.accept_samples(&[0.0; 10], 8000),
        Err(AsrError::StreamMisuse(_))
    ));
    let silent = stream.finish().unwrap();
    assert_eq!(silent.len(), 1);
    assert_eq!((silent[0].text.as_str(), silent[0].confidence), ("", 0.0));
    assert_eq!(stream.audio_seconds(), 0.5);
    assert!(stream.compute_seconds() > 0.0);
    assert!(matches!(
        stream.accept_audio(&[0; 4]),
        Err(AsrError::StreamMisuse(_))
    ));
    assert!(matches!(stream.finish(), Err(AsrError::StreamMisuse(_))));
}

#[tokio::test]
async fn unsupported_settings_name_what_is_supported() {
    let engine = engine(160);
    for (rate, channels, needle) in [
        (7999, 1, "8000 to 48000 Hz"),
        (96000, 1, "8000 to 48000 Hz"),
        (16000, 0, "1 to 8"),
        (16000, 9, "1 to 8"),
    ] {
        let s = StreamSettings {
            encoding: Encoding::Linear16,
            sample_rate_hz: rate,
            channels,
            interim_results: false,
        };
        match engine.open_stream(s).await {
            Err(AsrError::InvalidConfig(msg)) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("{rate} Hz x{channels}: {:?}", other.map(|_| ())),
        }
    }
    assert_eq!(engine.pool_in_use(), 0);
    // Other rates are resampled to the model's.
    let mut stream = engine
        .open_stream(StreamSettings {
            sample_rate_hz: 8000,
            ..settings(Encoding::Linear16, 1, false)
        })
        .await
        .unwrap();
    stream.accept_audio(&linear16(&vec![0.1; 8000], 1)).unwrap();
    assert_eq!(stream.audio_seconds(), 1.0);
    // 1 s at 16 kHz after resampling: 98 fbank frames -> 32 model frames.
    assert_eq!(
        stream.finish().unwrap()[0].end_time,
        Duration::from_millis(32 * 30)
    );
}
