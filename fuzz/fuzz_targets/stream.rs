//! Client audio → `RecognitionStream` of a real engine (the tiny test model), the state
//! machine behind every stream once its config is accepted.
//!
//! Checks: a stream opens exactly for 8–48 kHz and 1–8 channels (else `InvalidConfig`);
//! audio is refused (`InvalidAudio`) exactly when a whole frame holds a NaN or infinite
//! FLOAT32 sample, however it is chunked, and any other bytes in any pieces are accepted; partials come only when asked for, after the
//! finals of a call; `finish` returns at least one final, finals tile the stream's time
//! from 0 without gaps, confidences are in [0, 1]; after `finish` every call is refused
//! with `InvalidAudio`; and the finals do not depend on how the audio was chunked.
#![no_main]

use std::sync::OnceLock;

use compact_asr::audio::Encoding;
use compact_asr::error::AsrError;
use compact_asr::pipeline::{
    Engine, EngineConfig, Hypothesis, RecognitionStream, StreamEvent, StreamSettings,
};
use fuzz_support::{pieces, Enc};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

const RATES: [u32; 6] = [8000, 11025, 16000, 22050, 44100, 48000];

#[derive(Debug, Arbitrary)]
enum Rate {
    Common(u8),
    Any(u32),
}

#[derive(Debug, Arbitrary)]
struct Input {
    encoding: Enc,
    rate: Rate,
    channels: u8,
    interim_results: bool,
    sizes: Vec<u16>,
    bytes: Vec<u8>,
}

fn runtime_and_engine() -> &'static (Runtime, Engine) {
    static CELL: OnceLock<(Runtime, Engine)> = OnceLock::new();
    CELL.get_or_init(|| {
        let model = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/tiny_model/model.toml"
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let engine = Engine::load(EngineConfig {
            pool_size: 2,
            ..EngineConfig::new(model)
        })
        .expect("tiny model loads");
        (runtime, engine)
    })
}

fn open(settings: &StreamSettings) -> Result<RecognitionStream, AsrError> {
    let (runtime, engine) = runtime_and_engine();
    runtime.block_on(engine.open_stream(settings.clone()))
}

/// Feeds `chunks`, checks each call's events and the end of the stream; returns the finals,
/// or `None` if the audio was refused (`InvalidAudio`: the service then ends the call).
fn recognise<'a>(
    stream: &mut RecognitionStream,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    interim: bool,
) -> Option<Vec<Hypothesis>> {
    let mut finals = Vec::new();
    for chunk in chunks {
        let events = match stream.accept_audio(chunk) {
            Ok(events) => events,
            Err(AsrError::InvalidAudio(_)) => return None,
            Err(other) => panic!("audio refused with {other:?}"),
        };
        let partials = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Partial(_)))
            .count();
        assert!(
            partials <= usize::from(interim),
            "{partials} partials (interim {interim})"
        );
        assert!(
            !matches!(events.split_last(), Some((_, rest)) if rest.iter().any(|e| matches!(e, StreamEvent::Partial(_)))),
            "partial before a final: {events:?}"
        );
        finals.extend(events.into_iter().filter_map(|e| match e {
            StreamEvent::Final(h) => Some(h),
            StreamEvent::Partial(_) => None,
        }));
    }
    let last = stream.finish().expect("finish");
    assert!(!last.is_empty(), "finish returned no final");
    finals.extend(last);
    assert!(matches!(
        stream.accept_audio(&[0; 4]),
        Err(AsrError::InvalidAudio(_))
    ));
    assert!(matches!(stream.finish(), Err(AsrError::InvalidAudio(_))));
    Some(finals)
}

/// Whether a whole frame of `bytes` holds a NaN or infinite FLOAT32 sample.
fn has_non_finite(encoding: Encoding, bytes: &[u8], frame_bytes: usize) -> bool {
    let whole = bytes.len() / frame_bytes * frame_bytes;
    encoding == Encoding::Float32
        && bytes[..whole]
            .chunks_exact(4)
            .any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
}

fuzz_target!(|input: Input| {
    let encoding = Encoding::from(input.encoding);
    let sample_rate_hz = match input.rate {
        Rate::Common(i) => RATES[usize::from(i) % RATES.len()],
        Rate::Any(hz) => hz,
    };
    let channels = u16::from(if input.channels < 200 {
        1 + input.channels % 2
    } else {
        input.channels - 200
    });
    let settings = StreamSettings {
        encoding,
        sample_rate_hz,
        channels,
        interim_results: input.interim_results,
    };
    let supported = (8000..=48000).contains(&sample_rate_hz) && (1..=8).contains(&channels);
    let mut whole = match open(&settings) {
        Ok(stream) => {
            assert!(supported, "{settings:?} opened");
            stream
        }
        Err(AsrError::InvalidConfig(msg)) => {
            assert!(!supported, "{settings:?} refused: {msg}");
            return;
        }
        Err(other) => panic!("{settings:?}: unexpected error {other:?}"),
    };
    let frame_bytes = encoding.bytes_per_sample() * usize::from(channels);
    let bad = has_non_finite(encoding, &input.bytes, frame_bytes);
    let expected = recognise(&mut whole, [&input.bytes[..]], input.interim_results);
    assert_eq!(
        expected.is_none(),
        bad,
        "audio refused only for a non-finite float sample"
    );
    let mut chunked = open(&settings).expect("opened before");
    let got = recognise(
        &mut chunked,
        pieces(&input.bytes, &input.sizes),
        input.interim_results,
    );
    let Some(expected) = expected else {
        assert!(
            got.is_none(),
            "chunked audio with a non-finite sample accepted"
        );
        return;
    };
    let frames = (input.bytes.len() / frame_bytes) as f64;
    assert!((whole.audio_seconds() - frames / f64::from(sample_rate_hz)).abs() < 1e-9);

    let mut start = std::time::Duration::ZERO;
    for (k, h) in expected.iter().enumerate() {
        assert_eq!(
            h.start_time, start,
            "final {k} does not start where the previous ended"
        );
        assert!(h.start_time <= h.end_time, "final {k}: {h:?}");
        assert!(
            (0.0..=1.0).contains(&h.confidence),
            "final {k}: confidence {}",
            h.confidence
        );
        start = h.end_time;
    }
    assert_eq!(got, Some(expected), "chunking changed the finals");
});
