//! Any sequence of `StreamingRecognize` requests → `RequestSequence`, the stream's request
//! state machine (src/server/protocol.rs), checked against a small reference model.
//!
//! Checks, request by request: an empty request is `EmptyRequest`; audio before the config
//! is `ConfigNotFirst`; a config is accepted exactly once, as the first accepted request,
//! and a second one is `RepeatedConfig`; a refused config names a fault it really has, an
//! accepted one has none and maps its fields (0 channels = 1); a chunk over the size limit
//! is `ChunkTooLarge` with its size; accepted audio comes back byte for byte, and the
//! chunk that crosses the duration limit is cut to exactly the limit (whole frames of the
//! config's encoding), after which audio is `StreamTooLong`; errors never change the state;
//! `finish` fails exactly while no config has been accepted; and every error maps to
//! INVALID_ARGUMENT, or OUT_OF_RANGE for the duration limit.
#![no_main]

use std::time::Duration;

use compact_asr::audio::Encoding;
use compact_asr::proto::streaming_recognize_request::StreamingRequest;
use compact_asr::proto::{
    RecognitionConfig, StreamingRecognitionConfig, StreamingRecognizeRequest,
};
use compact_asr::server::protocol::{RequestSequence, Step, StreamLimits};
use compact_asr::server::status::{RequestError, ServiceError};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tonic::{Code, Status};

#[derive(Debug, Arbitrary)]
enum Request {
    Empty,
    Config {
        missing: bool,
        encoding: i8,
        sample_rate_hertz: i32,
        audio_channel_count: i32,
        max_alternatives: i8,
        interim_results: bool,
    },
    Audio {
        len: u16,
        fill: u8,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    max_chunk_bytes: u16,
    max_audio_ms: u32,
    requests: Vec<Request>,
}

/// What the reference model expects of the sequence so far.
#[derive(Debug)]
enum Model {
    AwaitingConfig,
    Streaming { received: u64, limit: u64 },
    Full,
}

fuzz_target!(|input: Input| {
    let limits = StreamLimits {
        max_chunk_bytes: usize::from(input.max_chunk_bytes),
        max_audio: Duration::from_millis(u64::from(input.max_audio_ms)),
    };
    let mut seq = RequestSequence::new(limits);
    let mut model = Model::AwaitingConfig;
    for (i, request) in input.requests.iter().enumerate() {
        let result = seq.next(build(request));
        model = step(model, request, &result, limits, i);
        if let Err(e) = result {
            check_status(e, limits.max_audio);
        }
        assert_eq!(
            seq.finish().is_err(),
            matches!(model, Model::AwaitingConfig),
            "request {i}: finish"
        );
        if let Err(e) = seq.finish() {
            assert!(matches!(e, RequestError::NoConfig));
        }
    }
});

fn build(request: &Request) -> StreamingRecognizeRequest {
    let streaming_request = match *request {
        Request::Empty => None,
        Request::Config {
            missing,
            encoding,
            sample_rate_hertz,
            audio_channel_count,
            max_alternatives,
            interim_results,
        } => Some(StreamingRequest::StreamingConfig(
            StreamingRecognitionConfig {
                config: (!missing).then(|| RecognitionConfig {
                    encoding: i32::from(encoding),
                    sample_rate_hertz,
                    audio_channel_count,
                    max_alternatives: i32::from(max_alternatives),
                    ..Default::default()
                }),
                interim_results,
                ..Default::default()
            },
        )),
        Request::Audio { len, fill } => {
            Some(StreamingRequest::AudioContent(vec![fill; usize::from(len)]))
        }
    };
    StreamingRecognizeRequest { streaming_request }
}

/// Checks one request's outcome against the model; returns the model's next state.
fn step(
    model: Model,
    request: &Request,
    result: &Result<Step, RequestError>,
    limits: StreamLimits,
    i: usize,
) -> Model {
    match (model, request) {
        (model, Request::Empty) => {
            assert!(
                matches!(result, Err(RequestError::EmptyRequest)),
                "request {i}: {result:?}"
            );
            model
        }
        (Model::AwaitingConfig, Request::Audio { .. }) => {
            assert!(
                matches!(result, Err(RequestError::ConfigNotFirst)),
                "request {i}: {result:?}"
            );
            Model::AwaitingConfig
        }
        (
            Model::AwaitingConfig,
            &Request::Config {
                missing,
                encoding,
                sample_rate_hertz,
                audio_channel_count,
                max_alternatives,
                interim_results,
            },
        ) => {
            let encoding = i32::from(encoding);
            let max_alternatives = i32::from(max_alternatives);
            let pcm = match encoding {
                1 => Some(Encoding::Linear16),
                2 => Some(Encoding::Float32),
                3 => Some(Encoding::Mulaw),
                _ => None,
            };
            match result {
                Ok(Step::Config { settings, .. }) => {
                    assert!(!missing, "request {i}: missing config accepted");
                    assert_eq!(Some(settings.encoding), pcm, "request {i}");
                    assert!(
                        (0..=30).contains(&max_alternatives),
                        "request {i}: max_alternatives {max_alternatives}"
                    );
                    assert_eq!(
                        i64::from(settings.sample_rate_hz),
                        i64::from(sample_rate_hertz),
                        "request {i}"
                    );
                    let channels = if audio_channel_count == 0 {
                        1
                    } else {
                        audio_channel_count
                    };
                    assert_eq!(i32::from(settings.channels), channels, "request {i}");
                    assert_eq!(settings.interim_results, interim_results);
                    let frame_bytes = (settings.encoding.bytes_per_sample()
                        * usize::from(settings.channels))
                        as u128;
                    let frames =
                        limits.max_audio.as_millis() * u128::from(settings.sample_rate_hz) / 1000;
                    let limit = u64::try_from(frames * frame_bytes).unwrap_or(u64::MAX);
                    Model::Streaming { received: 0, limit }
                }
                Ok(other) => panic!("request {i}: config answered with {other:?}"),
                Err(e) => {
                    let real_fault = match *e {
                        RequestError::MissingRecognitionConfig => missing,
                        RequestError::UnspecifiedStreamingEncoding => !missing && encoding == 0,
                        RequestError::UnknownEncoding(v) => {
                            !missing && v == encoding && !(0..=3).contains(&v)
                        }
                        RequestError::MaxAlternatives(v) => {
                            !missing && v == max_alternatives && !(0..=30).contains(&v)
                        }
                        RequestError::SampleRate(v) => !missing && v == sample_rate_hertz && v < 0,
                        RequestError::ChannelCount(v) => {
                            !missing && v == audio_channel_count && u16::try_from(v).is_err()
                        }
                        _ => false,
                    };
                    assert!(real_fault, "request {i}: config refused with {e:?}");
                    Model::AwaitingConfig
                }
            }
        }
        (model, Request::Config { .. }) => {
            assert!(
                matches!(result, Err(RequestError::RepeatedConfig)),
                "request {i}: {result:?}"
            );
            model
        }
        (Model::Full, Request::Audio { .. }) => {
            match result {
                Err(RequestError::StreamTooLong(max)) => assert_eq!(*max, limits.max_audio),
                other => panic!("request {i}: audio past the limit answered with {other:?}"),
            }
            Model::Full
        }
        (Model::Streaming { received, limit }, &Request::Audio { len, fill }) => {
            let len = usize::from(len);
            if len > limits.max_chunk_bytes {
                assert!(
                    matches!(result, Err(RequestError::ChunkTooLarge { bytes, max }) if *bytes == len && *max == limits.max_chunk_bytes),
                    "request {i}: {len}-byte chunk answered with {result:?}"
                );
                return Model::Streaming { received, limit };
            }
            let room = limit - received;
            match result {
                Ok(Step::Audio(audio)) => {
                    assert!(
                        len as u64 <= room,
                        "request {i}: {len} bytes accepted with {room} left"
                    );
                    assert_eq!(*audio, vec![fill; len], "request {i}");
                    Model::Streaming {
                        received: received + len as u64,
                        limit,
                    }
                }
                Ok(Step::LastAudio(audio)) => {
                    assert!(
                        len as u64 > room,
                        "request {i}: {len} bytes cut with {room} left"
                    );
                    assert_eq!(*audio, vec![fill; room as usize], "request {i}: cut chunk");
                    Model::Full
                }
                other => panic!("request {i}: {len}-byte chunk answered with {other:?}"),
            }
        }
    }
}

/// Every protocol error is the client's fault: INVALID_ARGUMENT, except the duration limit.
fn check_status(err: RequestError, max_audio: Duration) {
    let message = err.to_string();
    let expected = match err {
        RequestError::StreamTooLong(d) => {
            assert_eq!(d, max_audio);
            Code::OutOfRange
        }
        _ => Code::InvalidArgument,
    };
    let status = Status::from(ServiceError::from(err));
    assert_eq!(status.code(), expected, "{message}");
    assert_eq!(status.message(), message);
}
