//! Builds the protobuf responses from the engine's hypotheses.
//!
//! Why separate: the shapes follow Google Cloud Speech v1 (results → alternatives → words),
//! and keeping that translation in one file keeps the service logic about flow, not fields.

use std::time::Duration;

use crate::pipeline::Hypothesis;
use crate::proto::{
    RecognizeResponse, SpeechRecognitionAlternative, SpeechRecognitionResult,
    StreamingRecognitionResult, StreamingRecognizeResponse, WordInfo,
};

/// A partial result: the text so far, which may still grow.
pub fn interim(hypothesis: &Hypothesis) -> StreamingRecognizeResponse {
    StreamingRecognizeResponse {
        results: vec![StreamingRecognitionResult {
            alternatives: vec![alternative(hypothesis, false)],
            is_final: false,
            stability: stability(&hypothesis.text),
            result_end_time: Some(duration(hypothesis.end_time)),
        }],
        ..Default::default()
    }
}

/// The final result of a stream, sent after the client half-closes.
pub fn streaming_final(hypothesis: &Hypothesis, with_words: bool) -> StreamingRecognizeResponse {
    StreamingRecognizeResponse {
        results: vec![StreamingRecognitionResult {
            alternatives: vec![alternative(hypothesis, with_words)],
            is_final: true,
            stability: 0.0,
            result_end_time: Some(duration(hypothesis.end_time)),
        }],
        ..Default::default()
    }
}

/// The answer to a unary `Recognize`; billed time is the audio's duration.
pub fn recognize(hypothesis: &Hypothesis, with_words: bool, audio: Duration) -> RecognizeResponse {
    RecognizeResponse {
        results: vec![SpeechRecognitionResult {
            alternatives: vec![alternative(hypothesis, with_words)],
            result_end_time: Some(duration(hypothesis.end_time)),
        }],
        total_billed_time: Some(duration(audio)),
    }
}

fn alternative(hypothesis: &Hypothesis, with_words: bool) -> SpeechRecognitionAlternative {
    let words = if with_words {
        hypothesis
            .words
            .iter()
            .map(|w| WordInfo {
                start_time: Some(duration(w.start)),
                end_time: Some(duration(w.end)),
                word: w.word.clone(),
                confidence: w.confidence,
            })
            .collect()
    } else {
        Vec::new()
    };
    SpeechRecognitionAlternative {
        transcript: hypothesis.text.clone(),
        confidence: hypothesis.confidence,
        words,
    }
}

/// Share of the partial text made of completed words.
///
/// Greedy CTC over a causal model never revises text it has emitted; the only part that can
/// still change is the word being spoken (it may grow). So completed words (those followed
/// by a space) are stable and the trailing word is not.
fn stability(text: &str) -> f32 {
    let trimmed = text.trim_end();
    if trimmed.is_empty() {
        return 0.0;
    }
    let settled = if text.len() > trimmed.len() {
        trimmed.len()
    } else {
        trimmed.rfind(' ').unwrap_or(0)
    };
    settled as f32 / trimmed.len() as f32
}

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // Always below 1e9, so it fits.
        nanos: d.subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stability_counts_completed_words() {
        assert_eq!(stability(""), 0.0);
        assert_eq!(stability("hel"), 0.0);
        assert_eq!(stability("hello wor"), 5.0 / 9.0);
        assert_eq!(stability("hello "), 1.0);
    }

    #[test]
    fn duration_keeps_nanoseconds() {
        let d = duration(Duration::from_millis(2_340));
        assert_eq!((d.seconds, d.nanos), (2, 340_000_000));
    }
}
