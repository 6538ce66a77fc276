//! The one place where WebSocket failures become close codes.
//!
//! Why one place: a WebSocket client learns why it was closed from two things only, the
//! `{"error": "…"}` message sent just before and the close code, and programs against the
//! code (retry on 1013, fix the request on 1007, re-authenticate on 1008). Each variant's
//! message says what to send instead.

use std::time::Duration;

use tonic::Code;

use crate::error::AsrError;
use crate::server::protocol::StreamLimits;
use crate::server::status::{engine_code, RequestError};
use crate::server::{MAX_PHRASES, MAX_PHRASE_CHARS};

/// RFC 6455 close codes the endpoint sends.
pub mod close_code {
    /// The stream ended as asked (after `{"eof" : 1}` and its final result).
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the WebSocket framing rules.
    pub const PROTOCOL: u16 = 1002;
    /// A message of a kind the endpoint does not accept (text that is not JSON, an unknown
    /// request).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A message of the right kind with a wrong payload (a bad config).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Refused by policy: no or a wrong token, or a server limit (idle, stream length).
    pub const POLICY: u16 = 1008;
    /// A message over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// A fault in the server.
    pub const INTERNAL: u16 = 1011;
    /// Every recognition session is busy; retry later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Why a WebSocket stream was refused or ended early.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error(
        "text message is not JSON ({0}); send {{\"config\": {{\"sample_rate\": 16000}}}} \
         first (optional), then binary 16-bit PCM, then {{\"eof\" : 1}}"
    )]
    NotJson(String),
    #[error(
        "unknown message {0}; text messages are {{\"config\": {{...}}}} (before any audio) \
         or {{\"eof\" : 1}}; audio goes in binary messages"
    )]
    UnknownMessage(String),
    #[error("bad config: {0}")]
    Config(String),
    #[error(
        "bad config: config must be the first message, sent once, before any audio; \
         open a new connection to change it"
    )]
    LateConfig,
    #[error(
        "message of {size} bytes is over the limit of {max} bytes (max_chunk_bytes); send \
         audio in smaller messages, e.g. 100 ms each (3200 bytes at 16 kHz)"
    )]
    TooBig { size: usize, max: usize },
    #[error("WebSocket protocol error: {0}")]
    Protocol(String),
    /// The stream reached `max_audio_secs`; its final result has been sent.
    #[error(transparent)]
    Limit(RequestError),
    /// No message for the idle timeout; the final result has been sent.
    #[error(
        "no message for {} s (idle_timeout_secs): the stream was ended, after the final \
         result for any audio received; send audio continuously and {{\"eof\" : 1}} when done",
        .0.as_secs_f64()
    )]
    Idle(Duration),
    #[error(
        "missing token: send header `Authorization: Bearer <token>`, or from a browser \
         add `?token=<token>` to the URL"
    )]
    MissingToken,
    #[error("malformed header `Authorization`: it must be `Bearer <token>`")]
    MalformedToken,
    #[error(
        "invalid token: send a token the server accepts, as header `Authorization: Bearer \
         <token>` or `?token=<token>`"
    )]
    InvalidToken,
    #[error(transparent)]
    Engine(#[from] AsrError),
    #[error("server shutting down: not accepting new streams; retry on another instance")]
    Draining,
    #[error("server shutting down: stream cut at the shutdown deadline after its final result")]
    ShutdownDeadline,
}

impl WsError {
    /// The close code that goes with this error.
    pub fn close_code(&self) -> u16 {
        use close_code::*;
        match self {
            WsError::NotJson(_) | WsError::UnknownMessage(_) => UNSUPPORTED_DATA,
            WsError::Config(_) | WsError::LateConfig => INVALID_PAYLOAD,
            WsError::TooBig { .. } => TOO_BIG,
            WsError::Protocol(_) => PROTOCOL,
            WsError::Limit(_)
            | WsError::Idle(_)
            | WsError::MissingToken
            | WsError::MalformedToken
            | WsError::InvalidToken => POLICY,
            WsError::Engine(e) => match engine_code(e) {
                Code::InvalidArgument => INVALID_PAYLOAD,
                Code::ResourceExhausted => TRY_AGAIN_LATER,
                _ => INTERNAL,
            },
            WsError::Draining | WsError::ShutdownDeadline => GOING_AWAY,
        }
    }

    /// The close frame's reason: the message, cut to the 123 bytes a close frame can carry
    /// (the whole message goes in the `{"error": …}` before it).
    pub fn close_reason(&self) -> String {
        let mut reason = self.to_string();
        if reason.len() > MAX_REASON_BYTES {
            let mut end = MAX_REASON_BYTES - '…'.len_utf8();
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
            reason.push('…');
        }
        reason
    }

    /// `phrase_list` holds too many or too long phrases.
    pub(crate) fn phrases(count: usize, longest: usize) -> Option<WsError> {
        if count > MAX_PHRASES {
            return Some(WsError::Config(format!(
                "phrase_list holds {count} phrases; send at most {MAX_PHRASES}"
            )));
        }
        (longest > MAX_PHRASE_CHARS).then(|| {
            WsError::Config(format!(
                "phrase_list has a phrase of {longest} characters; use at most {MAX_PHRASE_CHARS}"
            ))
        })
    }
}

/// Largest close-frame reason (RFC 6455: 125 bytes of payload, 2 of them the code).
const MAX_REASON_BYTES: usize = 123;

/// The transport's own message limit. Why above `max_chunk_bytes`: a message up to this size
/// is read whole, so the endpoint can answer it with [`WsError::TooBig`] and a clean close;
/// only a larger one is cut off mid-message (close 1009 without the handshake's courtesy).
pub fn transport_limit(limits: &StreamLimits) -> usize {
    limits.max_chunk_bytes.saturating_mul(2).max(64 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_close_code() {
        let cases: Vec<(WsError, u16)> = vec![
            (WsError::NotJson("x".into()), 1003),
            (WsError::UnknownMessage("{}".into()), 1003),
            (WsError::Config("rate".into()), 1007),
            (WsError::LateConfig, 1007),
            (WsError::TooBig { size: 9, max: 8 }, 1009),
            (WsError::Protocol("mask".into()), 1002),
            (WsError::Idle(Duration::from_secs(3)), 1008),
            (WsError::MissingToken, 1008),
            (WsError::InvalidToken, 1008),
            (AsrError::InvalidConfig("rate".into()).into(), 1007),
            (
                AsrError::PoolExhausted {
                    waited: Duration::from_secs(1),
                }
                .into(),
                1013,
            ),
            (AsrError::Internal("bug".into()).into(), 1011),
            (WsError::Draining, 1001),
            (WsError::ShutdownDeadline, 1001),
        ];
        for (err, code) in cases {
            assert_eq!(err.close_code(), code, "{err}");
        }
        let limit = WsError::Limit(RequestError::StreamTooLong(Duration::from_secs(5)));
        assert_eq!(limit.close_code(), 1008);
        assert!(limit.to_string().contains("max_audio_secs"), "{limit}");
    }

    #[test]
    fn close_reasons_fit_a_close_frame_and_messages_say_what_to_send() {
        let err = WsError::NotJson("expected value at line 1 column 1".into());
        assert!(err.to_string().contains("{\"eof\" : 1}"), "{err}");
        let reason = err.close_reason();
        assert!(reason.len() <= 123, "{} bytes", reason.len());
        assert!(reason.ends_with('…'));
        let short = WsError::Draining;
        assert_eq!(short.close_reason(), short.to_string());
        let idle = WsError::Idle(Duration::from_secs(30)).to_string();
        assert!(idle.contains("idle_timeout_secs"), "{idle}");
    }

    #[test]
    fn phrase_limits_name_the_key() {
        assert!(WsError::phrases(MAX_PHRASES, MAX_PHRASE_CHARS).is_none());
        let many = WsError::phrases(MAX_PHRASES + 1, 1).unwrap().to_string();
        assert!(
            many.contains("phrase_list") && many.contains("1000"),
            "{many}"
        );
        let long = WsError::phrases(1, MAX_PHRASE_CHARS + 1)
            .unwrap()
            .to_string();
        assert!(long.contains("101 characters"), "{long}");
        assert!(transport_limit(&StreamLimits::default()) > 1024 * 1024);
    }
}
