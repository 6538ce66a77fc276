//! The order and size rules of a `StreamingRecognize` request stream, as a pure state
//! machine: the config first and exactly once, then audio chunks, each under the chunk
//! limit, until the stream carries the longest audio a call may.
//!
//! Why pure and synchronous: the rules are the part of the server a hostile client drives
//! directly, so they are kept free of I/O, time and the model, where unit tests and a fuzz
//! target can throw any request sequence at them. The service only moves messages to and
//! from [`RequestSequence::next`] and acts on the [`Step`] it returns.

use std::time::Duration;

use crate::pipeline::StreamSettings;
use crate::proto::streaming_recognize_request::StreamingRequest;
use crate::proto::{StreamingRecognitionConfig, StreamingRecognizeRequest};

use super::request_config;
use super::status::RequestError;

/// Size limits of one stream's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Largest `audio_content` of one message, in bytes.
    pub max_chunk_bytes: usize,
    /// Most audio one call may carry (measured in the config's sample frames).
    pub max_audio: Duration,
}

impl Default for StreamLimits {
    /// 1 MiB per message (over 2.5 s of 48 kHz stereo FLOAT32) and 300 s of audio.
    fn default() -> Self {
        StreamLimits {
            max_chunk_bytes: 1024 * 1024,
            max_audio: Duration::from_secs(300),
        }
    }
}

impl StreamLimits {
    /// A `Recognize` request's audio must fit in `max_audio` too; checked before any work.
    pub fn check_unary(&self, audio: Duration) -> Result<(), RequestError> {
        if audio > self.max_audio {
            return Err(RequestError::AudioTooLong {
                audio,
                max: self.max_audio,
            });
        }
        Ok(())
    }
}

/// What the service must do with an accepted request.
#[derive(Debug, Clone)]
pub enum Step {
    /// The stream's config (the first request), with the settings to open it with.
    Config {
        config: StreamingRecognitionConfig,
        settings: StreamSettings,
    },
    /// Audio to recognise (possibly empty: zero-length chunks are accepted).
    Audio(Vec<u8>),
    /// This chunk reaches the audio limit: recognise `audio` (its part within the limit),
    /// send the final result, then end the call with [`RequestError::StreamTooLong`]
    /// (from [`RequestSequence::limit_error`]). Every later request is refused.
    LastAudio(Vec<u8>),
}

/// Where a stream is in its request sequence.
#[derive(Debug, Clone, Copy)]
enum State {
    AwaitingConfig,
    /// Audio may follow, within the budget of the config's encoding.
    Streaming(AudioBudget),
}

/// Audio accepted by an [`AudioBudget`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// Within the limits (possibly empty).
    Audio(Vec<u8>),
    /// The part of the message within the duration limit: recognise it, send the final
    /// result, then end the stream with [`AudioBudget::limit_error`]; the budget refuses
    /// every later message.
    Last(Vec<u8>),
}

/// The size rules of one stream's audio, whatever carries it: each message at most
/// `max_chunk_bytes`, the stream at most `max_audio` (counted in whole sample frames of its
/// encoding). Why separate from [`RequestSequence`]: the WebSocket endpoint has its own
/// message order but must enforce the very same limits.
#[derive(Debug, Clone, Copy)]
pub struct AudioBudget {
    limits: StreamLimits,
    received: u64,
    /// `max_audio` in bytes of the stream's encoding.
    max_bytes: u64,
    full: bool,
}

impl AudioBudget {
    /// The budget of a stream opened with `settings`.
    pub fn new(limits: StreamLimits, settings: &StreamSettings) -> AudioBudget {
        AudioBudget {
            limits,
            received: 0,
            max_bytes: max_bytes(settings, limits.max_audio),
            full: false,
        }
    }

    /// Takes the next message's audio: refused when over the chunk limit or once the
    /// duration limit has been reached; cut at that limit.
    pub fn take(&mut self, mut audio: Vec<u8>) -> Result<Admitted, RequestError> {
        if self.full {
            return Err(self.limit_error());
        }
        if audio.len() > self.limits.max_chunk_bytes {
            return Err(RequestError::ChunkTooLarge {
                bytes: audio.len(),
                max: self.limits.max_chunk_bytes,
            });
        }
        let room = self.max_bytes - self.received;
        let len = audio.len() as u64;
        if len <= room {
            self.received += len;
            return Ok(Admitted::Audio(audio));
        }
        // Below `len`, itself a usize.
        audio.truncate(room as usize);
        self.received = self.max_bytes;
        self.full = true;
        Ok(Admitted::Last(audio))
    }

    /// The error that ends a stream which reached the audio limit.
    pub fn limit_error(&self) -> RequestError {
        RequestError::StreamTooLong(self.limits.max_audio)
    }
}

/// Checks one stream's requests in arrival order.
#[derive(Debug, Clone)]
pub struct RequestSequence {
    limits: StreamLimits,
    state: State,
}

impl RequestSequence {
    pub fn new(limits: StreamLimits) -> Self {
        RequestSequence {
            limits,
            state: State::AwaitingConfig,
        }
    }

    /// Takes the next request; an error ends the call with its status.
    pub fn next(&mut self, request: StreamingRecognizeRequest) -> Result<Step, RequestError> {
        let request = request
            .streaming_request
            .ok_or(RequestError::EmptyRequest)?;
        match (&mut self.state, request) {
            (State::AwaitingConfig, StreamingRequest::StreamingConfig(config)) => {
                let settings = request_config::streaming_settings(&config)?;
                self.state = State::Streaming(AudioBudget::new(self.limits, &settings));
                Ok(Step::Config { config, settings })
            }
            (State::AwaitingConfig, StreamingRequest::AudioContent(_)) => {
                Err(RequestError::ConfigNotFirst)
            }
            (_, StreamingRequest::StreamingConfig(_)) => Err(RequestError::RepeatedConfig),
            (State::Streaming(budget), StreamingRequest::AudioContent(audio)) => {
                Ok(match budget.take(audio)? {
                    Admitted::Audio(audio) => Step::Audio(audio),
                    Admitted::Last(audio) => Step::LastAudio(audio),
                })
            }
        }
    }

    /// The client half-closed: fine once the config has come.
    pub fn finish(&self) -> Result<(), RequestError> {
        match self.state {
            State::AwaitingConfig => Err(RequestError::NoConfig),
            State::Streaming(_) => Ok(()),
        }
    }

    /// The error that ends a stream which reached the audio limit.
    pub fn limit_error(&self) -> RequestError {
        RequestError::StreamTooLong(self.limits.max_audio)
    }
}

/// `max_audio` in bytes of whole frames of the stream's encoding (0 at a 0 Hz rate, which
/// the engine refuses anyway).
fn max_bytes(settings: &StreamSettings, max_audio: Duration) -> u64 {
    let frames = max_audio.as_nanos() * u128::from(settings.sample_rate_hz) / 1_000_000_000;
    let frame_bytes = settings.encoding.bytes_per_sample() as u128 * u128::from(settings.channels);
    u64::try_from(frames.saturating_mul(frame_bytes)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Encoding;
    use crate::proto::recognition_config::AudioEncoding;
    use crate::proto::RecognitionConfig;

    fn config(encoding: AudioEncoding, rate: i32) -> StreamingRecognizeRequest {
        StreamingRecognizeRequest {
            streaming_request: Some(StreamingRequest::StreamingConfig(
                StreamingRecognitionConfig {
                    config: Some(RecognitionConfig {
                        encoding: encoding.into(),
                        sample_rate_hertz: rate,
                        ..Default::default()
                    }),
                    interim_results: false,
                    single_utterance: false,
                },
            )),
        }
    }

    fn audio(len: usize) -> StreamingRecognizeRequest {
        StreamingRecognizeRequest {
            streaming_request: Some(StreamingRequest::AudioContent(vec![7; len])),
        }
    }

    /// `result` is audio (the last before the limit when `last`) of exactly `bytes`.
    fn assert_step(result: Result<Step, RequestError>, last: bool, bytes: Vec<u8>) {
        match result {
            Ok(Step::Audio(audio)) if !last => assert_eq!(audio, bytes),
            Ok(Step::LastAudio(audio)) if last => assert_eq!(audio, bytes),
            other => panic!("expected audio (last: {last}) of {bytes:?}, got {other:?}"),
        }
    }

    fn limits(max_chunk_bytes: usize, max_audio_ms: u64) -> StreamLimits {
        StreamLimits {
            max_chunk_bytes,
            max_audio: Duration::from_millis(max_audio_ms),
        }
    }

    #[test]
    fn config_then_audio_including_empty_chunks() {
        let mut seq = RequestSequence::new(StreamLimits::default());
        let Ok(Step::Config { settings, .. }) = seq.next(config(AudioEncoding::Float32, 8000))
        else {
            panic!("config refused");
        };
        assert_eq!(settings.encoding, Encoding::Float32);
        assert_eq!(settings.sample_rate_hz, 8000);
        assert_step(seq.next(audio(0)), false, Vec::new());
        assert_step(seq.next(audio(3)), false, vec![7; 3]);
        assert!(seq.finish().is_ok());
    }

    #[test]
    fn order_errors() {
        let mut seq = RequestSequence::new(StreamLimits::default());
        assert!(matches!(seq.finish(), Err(RequestError::NoConfig)));
        assert!(matches!(
            seq.next(audio(2)),
            Err(RequestError::ConfigNotFirst)
        ));
        let empty = StreamingRecognizeRequest {
            streaming_request: None,
        };
        assert!(matches!(
            seq.next(empty.clone()),
            Err(RequestError::EmptyRequest)
        ));
        seq.next(config(AudioEncoding::Linear16, 16000)).unwrap();
        assert!(matches!(
            seq.next(config(AudioEncoding::Linear16, 16000)),
            Err(RequestError::RepeatedConfig)
        ));
        assert!(matches!(seq.next(empty), Err(RequestError::EmptyRequest)));
    }

    #[test]
    fn bad_config_is_refused_and_the_sequence_still_awaits_one() {
        let mut seq = RequestSequence::new(StreamLimits::default());
        assert!(matches!(
            seq.next(config(AudioEncoding::EncodingUnspecified, 16000)),
            Err(RequestError::UnspecifiedStreamingEncoding)
        ));
        assert!(matches!(seq.finish(), Err(RequestError::NoConfig)));
    }

    #[test]
    fn chunks_over_the_size_limit_are_refused() {
        let mut seq = RequestSequence::new(limits(4, 60_000));
        seq.next(config(AudioEncoding::Mulaw, 8000)).unwrap();
        assert_step(seq.next(audio(4)), false, vec![7; 4]);
        assert!(matches!(
            seq.next(audio(5)),
            Err(RequestError::ChunkTooLarge { bytes: 5, max: 4 })
        ));
    }

    #[test]
    fn audio_is_cut_at_the_duration_limit_then_refused() {
        // 10 ms of 16 kHz LINEAR16 = 160 frames = 320 bytes.
        let mut seq = RequestSequence::new(limits(1000, 10));
        seq.next(config(AudioEncoding::Linear16, 16000)).unwrap();
        assert_step(seq.next(audio(300)), false, vec![7; 300]);
        assert_step(seq.next(audio(0)), false, Vec::new());
        assert_step(seq.next(audio(30)), true, vec![7; 20]);
        let err = seq.next(audio(1)).unwrap_err();
        assert!(matches!(err, RequestError::StreamTooLong(d) if d == Duration::from_millis(10)));
        assert!(matches!(
            seq.next(config(AudioEncoding::Linear16, 16000)),
            Err(RequestError::RepeatedConfig)
        ));
        assert!(seq.finish().is_ok());
    }

    #[test]
    fn audio_exactly_at_the_limit_is_accepted() {
        let mut seq = RequestSequence::new(limits(1000, 10));
        seq.next(config(AudioEncoding::Linear16, 16000)).unwrap();
        assert_step(seq.next(audio(320)), false, vec![7; 320]);
        assert_step(seq.next(audio(1)), true, Vec::new());
    }

    #[test]
    fn unary_audio_over_the_limit_is_refused() {
        let limits = limits(1000, 2000);
        assert!(limits.check_unary(Duration::from_secs(2)).is_ok());
        let err = limits.check_unary(Duration::from_millis(2500)).unwrap_err();
        assert!(err.to_string().contains("2.5 s"), "{err}");
        assert!(err.to_string().contains("limit of 2 s"), "{err}");
    }

    #[test]
    fn limit_scales_with_channels_and_sample_size() {
        let settings = StreamSettings {
            encoding: Encoding::Float32,
            sample_rate_hz: 48_000,
            channels: 2,
            interim_results: false,
        };
        assert_eq!(max_bytes(&settings, Duration::from_secs(1)), 48_000 * 8);
        let extreme = StreamSettings {
            sample_rate_hz: u32::MAX,
            channels: u16::MAX,
            ..settings
        };
        assert!(max_bytes(&extreme, Duration::MAX) > 0);
    }
}
