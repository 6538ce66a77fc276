//! Builds the protobuf responses from the engine's hypotheses.
//!
//! Why separate: the shapes follow Google Cloud Speech v1 (results → alternatives → words),
//! and keeping that translation in one file keeps the service logic about flow, not fields.

use std::time::Duration;

use crate::pipeline::{Hypothesis, WordTiming};
use crate::proto::streaming_recognize_response::SpeechEventType;
use crate::proto::{
    RecognizeResponse, SpeechRecognitionAlternative, SpeechRecognitionResult,
    StreamingRecognitionResult, StreamingRecognizeResponse, WordInfo,
};

/// A partial result: the guess so far and how stable it is (the decoder's stability).
pub fn interim(hypothesis: &Hypothesis) -> StreamingRecognizeResponse {
    StreamingRecognizeResponse {
        results: vec![StreamingRecognitionResult {
            alternatives: vec![alternative(
                &hypothesis.text,
                hypothesis.confidence,
                &hypothesis.words,
                false,
            )],
            is_final: false,
            stability: hypothesis.stability,
            result_end_time: Some(duration(hypothesis.end_time)),
            result_start_time: Some(duration(hypothesis.start_time)),
        }],
        ..Default::default()
    }
}

/// The final result of one utterance (at an endpoint, or after the client half-closes),
/// every alternative the request asked for, best first.
pub fn streaming_final(hypothesis: &Hypothesis, with_words: bool) -> StreamingRecognizeResponse {
    StreamingRecognizeResponse {
        results: vec![StreamingRecognitionResult {
            alternatives: alternatives(hypothesis, with_words),
            is_final: true,
            stability: 0.0,
            result_end_time: Some(duration(hypothesis.end_time)),
            result_start_time: Some(duration(hypothesis.start_time)),
        }],
        ..Default::default()
    }
}

/// `single_utterance`: the utterance has ended; no more audio will be recognised.
pub fn end_of_single_utterance() -> StreamingRecognizeResponse {
    StreamingRecognizeResponse {
        results: Vec::new(),
        speech_event_type: SpeechEventType::EndOfSingleUtterance.into(),
    }
}

/// The answer to a unary `Recognize`: one result per utterance that has text (or the last
/// one when none has); billed time is the audio's duration.
pub fn recognize(finals: &[Hypothesis], with_words: bool, audio: Duration) -> RecognizeResponse {
    let mut spoken: Vec<&Hypothesis> = finals.iter().filter(|h| !h.text.is_empty()).collect();
    if spoken.is_empty() {
        spoken.extend(finals.last());
    }
    RecognizeResponse {
        results: spoken
            .into_iter()
            .map(|h| SpeechRecognitionResult {
                alternatives: alternatives(h, with_words),
                result_end_time: Some(duration(h.end_time)),
            })
            .collect(),
        total_billed_time: Some(duration(audio)),
    }
}

fn alternatives(hypothesis: &Hypothesis, with_words: bool) -> Vec<SpeechRecognitionAlternative> {
    let best = alternative(
        &hypothesis.text,
        hypothesis.confidence,
        &hypothesis.words,
        with_words,
    );
    let others = hypothesis
        .alternatives
        .iter()
        .map(|a| alternative(&a.text, a.confidence, &a.words, with_words));
    std::iter::once(best).chain(others).collect()
}

fn alternative(
    text: &str,
    confidence: f32,
    words: &[WordTiming],
    with_words: bool,
) -> SpeechRecognitionAlternative {
    let words = if with_words {
        words
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
        transcript: text.to_owned(),
        confidence,
        words,
    }
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
    fn duration_keeps_nanoseconds() {
        let d = duration(Duration::from_millis(2_340));
        assert_eq!((d.seconds, d.nanos), (2, 340_000_000));
    }
}
