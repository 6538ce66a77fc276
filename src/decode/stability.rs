//! How settled a partial result is.
//!
//! Prefix beam search may rewrite the end of its best guess as audio arrives (greedy rarely
//! does). A client showing partials wants to know which part to trust: the words that have
//! stayed the same over the last few partials are unlikely to change again. The stability
//! of a partial is the share of its words that every one of the recent partials agreed on.

use std::collections::VecDeque;

/// Recent partial texts of one utterance.
#[derive(Debug, Clone)]
pub struct StabilityTracker {
    window: usize,
    recent: VecDeque<Vec<String>>,
}

/// A partial's stable part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stability {
    /// Leading words unchanged across the recent partials.
    pub stable_words: usize,
    /// `stable_words` over the partial's word count, in [0, 1] (0 for an empty partial).
    pub stability: f32,
}

impl StabilityTracker {
    /// Compares each partial with the `window` partials before it.
    pub fn new(window: usize) -> StabilityTracker {
        StabilityTracker {
            window: window.max(1),
            recent: VecDeque::new(),
        }
    }

    /// Records `text` as the newest partial and says how stable it is.
    pub fn observe(&mut self, text: &str) -> Stability {
        let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        let stable_words = if self.recent.len() < self.window {
            0
        } else {
            self.recent
                .iter()
                .map(|old| old.iter().zip(&words).take_while(|(a, b)| a == b).count())
                .min()
                .unwrap_or(0)
        };
        let stability = if words.is_empty() {
            0.0
        } else {
            stable_words as f32 / words.len() as f32
        };
        if self.recent.len() == self.window {
            self.recent.pop_front();
        }
        self.recent.push_back(words);
        Stability {
            stable_words,
            stability,
        }
    }

    /// Forgets the history, at the start of a new utterance.
    pub fn reset(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_agreed_on_by_the_whole_window_are_stable() {
        let mut t = StabilityTracker::new(2);
        assert_eq!(t.observe("the").stable_words, 0);
        assert_eq!(t.observe("the cat").stable_words, 0);
        let s = t.observe("the cat sat");
        assert_eq!(s.stable_words, 1);
        assert!((s.stability - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(t.observe("the cat sat on").stable_words, 2);
        // A rewrite of the second word: only "the" is still agreed on.
        assert_eq!(t.observe("the bat sat on").stable_words, 1);
        assert_eq!(t.observe("the bat sat on the").stable_words, 1);
        assert_eq!(t.observe("the bat sat on the mat").stable_words, 4);
        t.reset();
        assert_eq!(t.observe("the").stability, 0.0);
        assert_eq!(t.observe("").stability, 0.0);
    }
}
