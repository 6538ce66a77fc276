//! What a stream reports: text, confidence, and when each word was spoken.

use std::time::Duration;

use crate::decode::CtcGreedy;

/// The recognised text so far (partial) or of the whole stream (final).
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Words separated by single spaces.
    pub text: String,
    /// Mean probability of the words (0 when there are none).
    pub confidence: f32,
    /// Audio decoded so far, from the start of the stream.
    pub end_time: Duration,
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

impl Hypothesis {
    /// The decoder's current result, with frames turned into times of `frame` each.
    pub(crate) fn from_ctc(ctc: &CtcGreedy, frame: Duration) -> Hypothesis {
        let at = |frames: u64| frame.saturating_mul(u32::try_from(frames).unwrap_or(u32::MAX));
        let words: Vec<WordTiming> = ctc
            .words()
            .into_iter()
            .map(|w| WordTiming {
                word: w.text,
                start: at(w.start_frame),
                // A word lasts until the end of the frame of its last token.
                end: at(w.end_frame + 1),
                confidence: w.confidence,
            })
            .collect();
        let confidence = if words.is_empty() {
            0.0
        } else {
            words.iter().map(|w| w.confidence).sum::<f32>() / words.len() as f32
        };
        Hypothesis {
            text: ctc.text(),
            confidence,
            end_time: at(ctc.frames_seen()),
            words,
        }
    }
}
