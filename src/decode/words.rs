//! Emitted tokens to text and to words with frames and confidences.
//!
//! Greedy and beam search both end with a list of emitted tokens; this is the one place
//! that turns such a list into the normalised text and the per-word spans, so both modes
//! report words the same way.

use super::{EmittedToken, WordSpan};

/// Tokens joined, whitespace trimmed and collapsed to single spaces.
pub(crate) fn text_of(tokens: &[String], emitted: &[EmittedToken]) -> String {
    let raw: String = emitted.iter().map(|t| tokens[t.id].as_str()).collect();
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Words (split at whitespace tokens), each with the frames of its first and last token and
/// the mean probability of its tokens as confidence.
pub(crate) fn spans_of(tokens: &[String], emitted: &[EmittedToken]) -> Vec<WordSpan> {
    let mut words = Vec::new();
    let mut current: Vec<&EmittedToken> = Vec::new();
    let flush = |current: &mut Vec<&EmittedToken>, words: &mut Vec<WordSpan>| {
        if let (Some(first), Some(last)) = (current.first(), current.last()) {
            words.push(WordSpan {
                text: current.iter().map(|t| tokens[t.id].as_str()).collect(),
                start_frame: first.frame,
                end_frame: last.frame,
                confidence: current.iter().map(|t| t.prob).sum::<f32>() / current.len() as f32,
            });
        }
        current.clear();
    };
    for token in emitted {
        if tokens[token.id].trim().is_empty() {
            flush(&mut current, &mut words);
        } else {
            current.push(token);
        }
    }
    flush(&mut current, &mut words);
    words
}
