//! Which responses a stream's client gets, and when its call ends: the reply rules of
//! `StreamingRecognize` as a pure type, apart from the I/O that delivers them.
//!
//! Google's rules: partials as they come; each utterance's final at its endpoint; at the end
//! of the audio the finals that have text, and one final even if nothing was said. With
//! `single_utterance` the first endpoint ends the call: END_OF_SINGLE_UTTERANCE, then that
//! final, and nothing after it.

use crate::pipeline::{Hypothesis, StreamEvent};
use crate::proto::StreamingRecognizeResponse;

use super::responses;

/// One stream's reply state.
#[derive(Debug, Clone)]
pub struct Replies {
    /// Word time offsets in finals.
    with_words: bool,
    /// Stop after the first final.
    single_utterance: bool,
    finals_sent: usize,
}

impl Replies {
    pub fn new(with_words: bool, single_utterance: bool) -> Replies {
        Replies {
            with_words,
            single_utterance,
            finals_sent: 0,
        }
    }

    /// Responses for an event mid-stream, in order.
    pub fn on_event(&mut self, event: &StreamEvent) -> Vec<StreamingRecognizeResponse> {
        if self.is_done() {
            return Vec::new();
        }
        match event {
            StreamEvent::Partial(hypothesis) => vec![responses::interim(hypothesis)],
            StreamEvent::Final(hypothesis) => {
                self.finals_sent += 1;
                let last = responses::streaming_final(hypothesis, self.with_words);
                if self.single_utterance {
                    vec![responses::end_of_single_utterance(), last]
                } else {
                    vec![last]
                }
            }
        }
    }

    /// Whether the call is over (a single utterance has had its final): read no more audio.
    pub fn is_done(&self) -> bool {
        self.single_utterance && self.finals_sent > 0
    }

    /// Responses for the finals the stream's `finish` returned: those with text, and the
    /// last even without text when no final was sent at all; none after a single utterance.
    pub fn on_finish(&mut self, last: &[Hypothesis]) -> Vec<StreamingRecognizeResponse> {
        let mut out = Vec::new();
        for (i, hypothesis) in last.iter().enumerate() {
            let is_last = i + 1 == last.len();
            let wanted = !hypothesis.text.is_empty() || (is_last && self.finals_sent == 0);
            if wanted && !self.is_done() {
                out.push(responses::streaming_final(hypothesis, self.with_words));
                self.finals_sent += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::streaming_recognize_response::SpeechEventType;

    fn hypothesis(text: &str) -> Hypothesis {
        Hypothesis {
            text: text.into(),
            ..Hypothesis::default()
        }
    }

    /// `(is_final, transcript)` per result, or "EOU" for the end-of-utterance event.
    fn shape(responses: &[StreamingRecognizeResponse]) -> Vec<String> {
        responses
            .iter()
            .map(|r| {
                if r.speech_event_type == SpeechEventType::EndOfSingleUtterance as i32 {
                    return "EOU".to_owned();
                }
                let result = &r.results[0];
                let kind = if result.is_final { "final" } else { "partial" };
                format!("{kind}:{}", result.alternatives[0].transcript)
            })
            .collect()
    }

    #[test]
    fn partials_and_finals_pass_through_and_the_end_keeps_finals_with_text() {
        let mut replies = Replies::new(false, false);
        let mut out = replies.on_event(&StreamEvent::Partial(hypothesis("hel")));
        out.extend(replies.on_event(&StreamEvent::Final(hypothesis("hello"))));
        assert!(!replies.is_done());
        out.extend(replies.on_finish(&[hypothesis("world"), hypothesis("")]));
        assert_eq!(shape(&out), ["partial:hel", "final:hello", "final:world"]);
    }

    #[test]
    fn a_stream_with_nothing_said_gets_one_empty_final() {
        let mut replies = Replies::new(false, false);
        let out = replies.on_finish(&[hypothesis(""), hypothesis("")]);
        assert_eq!(shape(&out), ["final:"]);
        let mut spoke = Replies::new(false, false);
        spoke.on_event(&StreamEvent::Final(hypothesis("hi")));
        assert!(spoke.on_finish(&[hypothesis("")]).is_empty());
    }

    #[test]
    fn single_utterance_sends_the_event_then_its_final_and_nothing_after() {
        let mut replies = Replies::new(false, true);
        let out = replies.on_event(&StreamEvent::Final(hypothesis("stop")));
        assert_eq!(shape(&out), ["EOU", "final:stop"]);
        assert!(replies.is_done());
        assert!(replies
            .on_event(&StreamEvent::Partial(hypothesis("more")))
            .is_empty());
        assert!(replies.on_finish(&[hypothesis("later")]).is_empty());
    }

    #[test]
    fn single_utterance_ended_by_the_audio_gets_only_its_first_final() {
        let mut replies = Replies::new(false, true);
        let out = replies.on_finish(&[hypothesis("one"), hypothesis("two")]);
        assert_eq!(shape(&out), ["final:one"]);
    }
}
