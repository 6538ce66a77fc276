//! What a stream reports: text, confidence, alternatives, and when each word was spoken.
//!
//! The decoder counts in model frames from the start of the stream; this turns its partials
//! and finals into times, the unit every caller (gRPC, `transcribe`, `eval`) speaks.

use std::time::Duration;

use crate::decode::{Partial, Utterance, WordSpan};

/// A partial guess of the utterance in progress, or the final result of an utterance.
/// `text`, `confidence` and `words` are the best alternative's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hypothesis {
    /// Words separated by single spaces.
    pub text: String,
    /// Finals: the decoder's confidence in the text (greedy: mean word probability; beam:
    /// posterior among the beam's texts). Partials: mean word probability. 0 without words.
    pub confidence: f32,
    /// Where the utterance began, from the start of the stream (the previous final's end).
    pub start_time: Duration,
    /// Audio decoded up to this result, from the start of the stream.
    pub end_time: Duration,
    pub words: Vec<WordTiming>,
    /// Partials: share of the words the recent partials agreed on, in [0, 1]; 0 for finals.
    pub stability: f32,
    /// Next-best texts of a final, best first (empty unless more than one was asked for).
    pub alternatives: Vec<Alternative>,
}

/// A less likely text of the same utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    pub text: String,
    pub confidence: f32,
    pub words: Vec<WordTiming>,
}

/// One word with its time span, from the model frames where CTC emitted its tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct WordTiming {
    pub word: String,
    pub start: Duration,
    pub end: Duration,
    pub confidence: f32,
}

/// Turns stream frame counts into times, for a model whose frames last `frame` each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameClock {
    pub(crate) frame: Duration,
}

impl FrameClock {
    fn at(self, frames: u64) -> Duration {
        self.frame
            .saturating_mul(u32::try_from(frames).unwrap_or(u32::MAX))
    }

    fn words(self, spans: &[WordSpan]) -> Vec<WordTiming> {
        spans
            .iter()
            .map(|w| WordTiming {
                word: w.text.clone(),
                start: self.at(w.start_frame),
                // A word lasts until the end of the frame of its last token.
                end: self.at(w.end_frame + 1),
                confidence: w.confidence,
            })
            .collect()
    }

    /// The decoder's current guess.
    pub(crate) fn partial(self, partial: &Partial) -> Hypothesis {
        let words = self.words(&partial.words);
        Hypothesis {
            text: partial.text.clone(),
            confidence: mean_confidence(&words),
            start_time: self.at(partial.start_frame),
            end_time: self.at(partial.end_frame),
            words,
            stability: partial.stability.stability,
            alternatives: Vec::new(),
        }
    }

    /// A finished utterance; an utterance without alternatives reads as empty text.
    pub(crate) fn utterance(self, utterance: &Utterance) -> Hypothesis {
        let mut alternatives = utterance.candidates.iter().map(|a| Alternative {
            text: a.text.clone(),
            confidence: a.confidence,
            words: self.words(&a.words),
        });
        let best = alternatives.next().unwrap_or(Alternative {
            text: String::new(),
            confidence: 0.0,
            words: Vec::new(),
        });
        Hypothesis {
            text: best.text,
            confidence: best.confidence,
            start_time: self.at(utterance.start_frame),
            end_time: self.at(utterance.end_frame),
            words: best.words,
            stability: 0.0,
            alternatives: alternatives.collect(),
        }
    }
}

fn mean_confidence(words: &[WordTiming]) -> f32 {
    if words.is_empty() {
        0.0
    } else {
        words.iter().map(|w| w.confidence).sum::<f32>() / words.len() as f32
    }
}
