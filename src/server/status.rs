//! The one place where failures become gRPC status codes.
//!
//! Why one place: clients program against status codes (retry on RESOURCE_EXHAUSTED, fix
//! the request on INVALID_ARGUMENT), so the mapping must be deliberate and consistent across
//! both RPCs rather than decided ad hoc at each `?`.

use std::time::Duration;

use tonic::{Code, Status};

use crate::audio::AudioError;
use crate::error::AsrError;

use super::auth::AuthError;

/// Protocol misuse by a client, found by the service before the engine sees any audio.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("first request must be streaming_config")]
    ConfigNotFirst,
    #[error("streaming_config may only be sent once, as the first request")]
    RepeatedConfig,
    #[error("request stream ended before streaming_config was sent")]
    NoConfig,
    #[error("request carries neither streaming_config nor audio_content")]
    EmptyRequest,
    #[error("streaming_config.config is missing")]
    MissingRecognitionConfig,
    #[error(
        "encoding ENCODING_UNSPECIFIED is only for Recognize with WAV bytes; \
         StreamingRecognize supports LINEAR16, FLOAT32 and MULAW"
    )]
    UnspecifiedStreamingEncoding,
    #[error("unknown encoding {0}; supported: LINEAR16, FLOAT32, MULAW (or ENCODING_UNSPECIFIED for WAV in Recognize)")]
    UnknownEncoding(i32),
    #[error("sample_rate_hertz {0} is negative")]
    SampleRate(i32),
    #[error("audio_channel_count {0} is negative or too large (0 means 1)")]
    ChannelCount(i32),
    #[error("max_alternatives {value} is out of range; use 0 to {max} (0 means 1)")]
    MaxAlternatives { value: i32, max: i32 },
    #[error(
        "speech_contexts boost {value} is out of range; use 0 to {max} \
         (0 means the default {default})"
    )]
    Boost { value: f32, max: f32, default: f32 },
    #[error("speech_contexts hold {count} phrases; send at most {max} in all")]
    TooManyPhrases { count: usize, max: usize },
    #[error("speech_contexts phrase of {chars} characters is too long; use at most {max}")]
    PhraseTooLong { chars: usize, max: usize },
    /// One message too big to be a live chunk: a client bug (or a whole file sent as one
    /// chunk), not a stream that ran long, so INVALID_ARGUMENT (as Google's per-message limit).
    #[error(
        "audio_content of {bytes} bytes is over the limit of {max} bytes per message \
         (max_chunk_bytes); send the audio in smaller chunks, e.g. 100 ms each"
    )]
    ChunkTooLarge { bytes: usize, max: usize },
    /// A stream outlived the longest audio a call may carry; OUT_OF_RANGE, as Google's
    /// "exceeded maximum allowed stream duration", and only after the final result.
    #[error(
        "stream reached the maximum of {} s of audio (max_audio_secs); the final result \
         covers the audio up to that point; open a new stream to go on",
        .0.as_secs_f64()
    )]
    StreamTooLong(Duration),
    /// A `Recognize` request with more audio than a call may carry; refused before any work.
    #[error(
        "Recognize audio of {:.1} s is over the limit of {} s (max_audio_secs); \
         send shorter audio or stream it with StreamingRecognize",
        .audio.as_secs_f64(), .max.as_secs_f64()
    )]
    AudioTooLong { audio: Duration, max: Duration },
    /// No request arrived for the idle timeout. DEADLINE_EXCEEDED: a server-side time limit
    /// ran out while waiting on the client (not OUT_OF_RANGE, which is the duration limit, nor
    /// CANCELLED, which says the caller gave up), and the final result has been sent.
    #[error(
        "no request for {} s (idle_timeout_secs): the stream was ended, after the final \
         result for any audio received; send audio continuously, or half-close when done",
        .0.as_secs_f64()
    )]
    Idle(Duration),
}

impl RequestError {
    fn code(&self) -> Code {
        match self {
            RequestError::StreamTooLong(_) => Code::OutOfRange,
            RequestError::Idle(_) => Code::DeadlineExceeded,
            _ => Code::InvalidArgument,
        }
    }
}

/// Everything that can end a call unsuccessfully.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Engine(#[from] AsrError),
    #[error("recognition task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Reading the client's request stream failed (bad message, reset, too large).
    #[error("reading the request stream failed: {}", .0.message())]
    Inbound(#[from] Status),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A new call while the server drains before exiting.
    #[error("server shutting down: not accepting new calls; retry on another instance")]
    Draining,
    /// An open stream reached the shutdown deadline; its final result has been sent.
    #[error("server shutting down: stream cut at the shutdown deadline after its final result")]
    ShutdownDeadline,
}

/// The auth interceptor answers with a status directly (no call to end yet).
impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        ServiceError::Auth(err).into()
    }
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        let code = code_for(&err);
        crate::metrics::error(code);
        if code == Code::Internal {
            tracing::error!(error = %err, "request failed");
        } else {
            tracing::debug!(error = %err, ?code, "request rejected");
        }
        Status::new(code, err.to_string())
    }
}

fn code_for(err: &ServiceError) -> Code {
    match err {
        ServiceError::Request(e) => e.code(),
        ServiceError::Engine(e) => engine_code(e),
        ServiceError::Task(_) => Code::Internal,
        ServiceError::Inbound(status) => status.code(),
        ServiceError::Auth(_) => Code::Unauthenticated,
        ServiceError::Draining | ServiceError::ShutdownDeadline => Code::Unavailable,
    }
}

/// Whose fault an engine error is, as a status code: the one classification of engine
/// errors, which the WebSocket endpoint turns into its close codes too.
pub fn engine_code(err: &AsrError) -> Code {
    match err {
        AsrError::Audio(
            AudioError::Resample(_)
            | AudioError::ResampleBuffer(_)
            | AudioError::ResamplerSetup { .. },
        ) => Code::Internal,
        AsrError::InvalidConfig(_)
        | AsrError::Audio(_)
        | AsrError::StreamMisuse(_)
        | AsrError::Boost(_) => Code::InvalidArgument,
        AsrError::PoolExhausted { .. } => Code::ResourceExhausted,
        AsrError::Model(..)
        | AsrError::ModelLoad { .. }
        | AsrError::Features(_)
        | AsrError::Decode(_)
        | AsrError::Internal(..) => Code::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(err: impl Into<ServiceError>) -> Code {
        Status::from(err.into()).code()
    }

    #[test]
    fn client_mistakes_are_invalid_argument() {
        assert_eq!(code(RequestError::ConfigNotFirst), Code::InvalidArgument);
        assert_eq!(code(RequestError::RepeatedConfig), Code::InvalidArgument);
        assert_eq!(
            code(AsrError::InvalidConfig("rate".into())),
            Code::InvalidArgument
        );
        assert_eq!(
            code(AsrError::StreamMisuse("bad".into())),
            Code::InvalidArgument
        );
        let boost = Status::from(ServiceError::from(RequestError::Boost {
            value: -1.0,
            max: 20.0,
            default: 5.0,
        }));
        assert_eq!(boost.code(), Code::InvalidArgument);
        assert!(
            boost.message().contains("use 0 to 20"),
            "{}",
            boost.message()
        );
        let wav = crate::audio::read_wav(b"RIFF").unwrap_err();
        assert_eq!(code(AsrError::from(wav)), Code::InvalidArgument);
    }

    #[test]
    fn busy_pool_is_resource_exhausted_and_faults_are_internal() {
        let busy = AsrError::PoolExhausted {
            waited: Duration::from_millis(5),
        };
        assert_eq!(code(busy), Code::ResourceExhausted);
        assert_eq!(code(AsrError::Model("nan".into())), Code::Internal);
        assert_eq!(code(AsrError::Internal("bug".into())), Code::Internal);
    }

    #[test]
    fn limits_have_their_own_codes_and_name_the_setting() {
        let long = Status::from(ServiceError::from(RequestError::StreamTooLong(
            Duration::from_secs(300),
        )));
        assert_eq!(long.code(), Code::OutOfRange);
        assert!(long.message().contains("300 s"), "{}", long.message());
        assert!(
            long.message().contains("max_audio_secs"),
            "{}",
            long.message()
        );
        let idle = Status::from(ServiceError::from(RequestError::Idle(Duration::from_secs(
            30,
        ))));
        assert_eq!(idle.code(), Code::DeadlineExceeded);
        assert!(
            idle.message().contains("idle_timeout_secs"),
            "{}",
            idle.message()
        );
        let chunk = RequestError::ChunkTooLarge { bytes: 9, max: 8 };
        assert_eq!(code(chunk), Code::InvalidArgument);
    }

    #[test]
    fn auth_failures_are_unauthenticated_and_shutdown_is_unavailable() {
        assert_eq!(code(AuthError::Missing), Code::Unauthenticated);
        assert_eq!(code(AuthError::Invalid), Code::Unauthenticated);
        assert_eq!(code(ServiceError::Draining), Code::Unavailable);
        let cut = Status::from(ServiceError::ShutdownDeadline);
        assert_eq!(cut.code(), Code::Unavailable);
        assert!(
            cut.message().starts_with("server shutting down"),
            "{}",
            cut.message()
        );
    }

    #[test]
    fn inbound_transport_errors_keep_their_code_and_messages_survive() {
        assert_eq!(code(Status::cancelled("gone")), Code::Cancelled);
        let status = Status::from(ServiceError::from(RequestError::ConfigNotFirst));
        assert_eq!(status.message(), "first request must be streaming_config");
    }
}
