//! CTC best-path (greedy) decoding.
//!
//! Per frame the most probable token wins; runs of the same token collapse to one, blanks
//! separate genuine repeats ("l <b> l" is "ll") and are dropped. The previous frame's
//! winner is carried across pushes so a run split between two chunks still collapses.

use super::words;

/// Logits that do not fit the vocabulary the decoder was built with.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// The model's vocabulary size differs from the token list.
    #[error("model emits {vocab} classes but the vocabulary has {tokens} tokens")]
    VocabMismatch { vocab: usize, tokens: usize },
    /// The log-prob buffer is not a whole number of frames.
    #[error("{len} log-probs is not a whole number of frames of {vocab}")]
    RaggedInput { len: usize, vocab: usize },
}

/// Splits a row-major log-prob buffer into frames of `vocab` values, after checking it fits a
/// vocabulary of `tokens` entries; every decoder takes its input through here.
pub(crate) fn frames(
    log_probs: &[f32],
    vocab: usize,
    tokens: usize,
) -> Result<std::slice::ChunksExact<'_, f32>, DecodeError> {
    if vocab != tokens {
        return Err(DecodeError::VocabMismatch { vocab, tokens });
    }
    if vocab == 0 || !log_probs.len().is_multiple_of(vocab) {
        return Err(DecodeError::RaggedInput {
            len: log_probs.len(),
            vocab,
        });
    }
    Ok(log_probs.chunks_exact(vocab))
}

/// One token the decoder emitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmittedToken {
    /// Index into the vocabulary.
    pub id: usize,
    /// Model frame (counted from the start of the stream) where the token's run began.
    pub frame: u64,
    /// The token's probability on that frame.
    pub prob: f32,
}

/// A word of the hypothesis with the model frames it spans.
#[derive(Debug, Clone, PartialEq)]
pub struct WordSpan {
    pub text: String,
    /// Frame of the word's first token.
    pub start_frame: u64,
    /// Frame of the word's last token.
    pub end_frame: u64,
    /// Mean probability of the word's tokens.
    pub confidence: f32,
}

/// Streaming greedy CTC decoder over one utterance.
#[derive(Debug, Clone)]
pub struct CtcGreedy {
    blank_id: usize,
    tokens: Vec<String>,
    /// Winner of the last frame seen (None before the first frame).
    previous: Option<usize>,
    emitted: Vec<EmittedToken>,
    frames_seen: u64,
}

impl CtcGreedy {
    /// A decoder for `tokens` (index = class id) with `blank_id` as the CTC blank.
    pub fn new(blank_id: usize, tokens: Vec<String>) -> Self {
        Self {
            blank_id,
            tokens,
            previous: None,
            emitted: Vec::new(),
            frames_seen: 0,
        }
    }

    /// Consumes frames of `vocab` log-probs each (row-major).
    pub fn push(&mut self, log_probs: &[f32], vocab: usize) -> Result<(), DecodeError> {
        let rows = frames(log_probs, vocab, self.tokens.len())?;
        for row in rows {
            let (best, best_lp) =
                row.iter()
                    .copied()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, v)| {
                        if v > bv {
                            (i, v)
                        } else {
                            (bi, bv)
                        }
                    });
            if best != self.blank_id && self.previous != Some(best) {
                self.emitted.push(EmittedToken {
                    id: best,
                    frame: self.frames_seen,
                    prob: best_lp.exp(),
                });
            }
            self.previous = Some(best);
            self.frames_seen += 1;
        }
        Ok(())
    }

    /// The hypothesis so far: tokens joined, whitespace trimmed and collapsed.
    pub fn text(&self) -> String {
        words::text_of(&self.tokens, &self.emitted)
    }

    /// Every emitted token, in order.
    pub fn emitted(&self) -> &[EmittedToken] {
        &self.emitted
    }

    /// Words of the hypothesis (split at whitespace tokens) with frames and confidences.
    pub fn words(&self) -> Vec<WordSpan> {
        words::spans_of(&self.tokens, &self.emitted)
    }

    /// Model frames consumed since the start (or the last reset).
    pub fn frames_seen(&self) -> u64 {
        self.frames_seen
    }

    /// Forgets the hypothesis and frame count, e.g. after a final result.
    pub fn reset(&mut self) {
        self.previous = None;
        self.emitted.clear();
        self.frames_seen = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: [&str; 5] = ["<blank>", " ", "a", "b", "l"];

    fn decoder() -> CtcGreedy {
        CtcGreedy::new(0, VOCAB.iter().map(|s| s.to_string()).collect())
    }

    /// Log-probs where frame t's winner is `ids[t]` with probability 0.8.
    fn frames(ids: &[usize]) -> Vec<f32> {
        ids.iter()
            .flat_map(|&id| {
                (0..VOCAB.len()).map(move |i| if i == id { 0.8f32.ln() } else { 0.05f32.ln() })
            })
            .collect()
    }

    #[test]
    fn collapses_repeats_and_drops_blanks() {
        let mut d = decoder();
        // "a a <b> b b" -> "ab"; "l <b> l" -> "ll".
        d.push(&frames(&[2, 2, 0, 3, 3, 1, 4, 0, 4, 4]), 5).unwrap();
        assert_eq!(d.text(), "ab ll");
        assert_eq!(d.frames_seen(), 10);
        let frames_of: Vec<u64> = d.emitted().iter().map(|t| t.frame).collect();
        assert_eq!(frames_of, vec![0, 3, 5, 6, 8]);
        assert!(d.emitted().iter().all(|t| (t.prob - 0.8).abs() < 1e-6));
    }

    #[test]
    fn repeats_collapse_across_push_boundaries() {
        let ids = [2, 2, 2, 0, 2, 3, 3, 1, 1, 4];
        let mut whole = decoder();
        whole.push(&frames(&ids), 5).unwrap();
        for split in 1..ids.len() {
            let mut d = decoder();
            d.push(&frames(&ids[..split]), 5).unwrap();
            d.push(&frames(&ids[split..]), 5).unwrap();
            assert_eq!(d.text(), "aab l", "split at {split}");
            assert_eq!(d.emitted(), whole.emitted(), "split at {split}");
        }
    }

    #[test]
    fn whitespace_is_normalised_and_words_carry_timing() {
        let mut d = decoder();
        d.push(&frames(&[1, 1, 0, 2, 0, 1, 0, 1, 3, 4, 1]), 5)
            .unwrap();
        assert_eq!(d.text(), "a bl");
        let words = d.words();
        assert_eq!(words.len(), 2);
        assert_eq!(
            (
                words[0].text.as_str(),
                words[0].start_frame,
                words[0].end_frame
            ),
            ("a", 3, 3)
        );
        assert_eq!(
            (
                words[1].text.as_str(),
                words[1].start_frame,
                words[1].end_frame
            ),
            ("bl", 8, 9)
        );
        assert!((words[1].confidence - 0.8).abs() < 1e-6);
    }

    #[test]
    fn rejects_mismatched_input_and_resets() {
        let mut d = decoder();
        assert_eq!(
            d.push(&[0.0; 12], 6),
            Err(DecodeError::VocabMismatch {
                vocab: 6,
                tokens: 5
            })
        );
        assert_eq!(
            d.push(&[0.0; 7], 5),
            Err(DecodeError::RaggedInput { len: 7, vocab: 5 })
        );
        d.push(&frames(&[2]), 5).unwrap();
        d.reset();
        d.push(&frames(&[2, 3]), 5).unwrap();
        assert_eq!(d.text(), "ab");
        assert_eq!(d.emitted()[0].frame, 0);
    }
}
