//! Per-request phrase boosting ("speech contexts", hotwords) for prefix beam search.
//!
//! The phrases form a character trie. A hypothesis carries a [`BoostState`]: how far into a
//! phrase its text currently is, and the credit of phrases it has already completed. While a
//! phrase is being spelled out the hypothesis gets a growing share of that phrase's boost
//! (`boost × depth / length`), so the beam keeps the phrase alive long enough to finish it;
//! if the text then leaves the phrase, the partial credit is simply no longer counted —
//! only whole phrases, ending at a word boundary, keep their boost. Phrases start only at
//! word starts, so "cat" does not boost "concatenate" or "category".
//!
//! Limitation: when one phrase continues another ("new" and "new york"), a hypothesis
//! that goes on past "new " follows the longer phrase and keeps "new"'s credit only if it
//! completes "new york".

/// A phrase to favour and by how much: `boost` is added (natural-log units, like the
/// acoustic and LM scores) to any hypothesis containing the whole phrase.
#[derive(Debug, Clone, PartialEq)]
pub struct BoostPhrase {
    pub text: String,
    pub boost: f32,
}

/// A phrase list that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BoostError {
    #[error("boosted phrase {0:?} has no letters the model can emit")]
    EmptyPhrase(String),
    #[error("boost for {phrase:?} must be a positive finite number, got {boost}")]
    BadBoost { phrase: String, boost: f32 },
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: Vec<(char, u32)>,
    /// Credit for a hypothesis whose text is inside a phrase at this node.
    potential: f32,
    /// Boost of the phrase that ends here, if one does.
    complete: Option<f32>,
}

/// The compiled phrase list of one request.
#[derive(Debug, Clone)]
pub struct PhraseBoost {
    nodes: Vec<Node>,
}

/// Where one hypothesis stands against the phrase list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoostState {
    /// Trie node the text is at (`None`: inside a word that matches no phrase).
    node: Option<u32>,
    /// The last character was a word boundary (or nothing was read yet).
    at_word_start: bool,
    /// Boost of phrases completed so far.
    committed: f32,
}

const ROOT: u32 = 0;

impl PhraseBoost {
    /// Compiles `phrases`, lower-cased with whitespace collapsed to single spaces; `alphabet`
    /// says which characters the model can emit (others are dropped from the phrases).
    pub fn new(
        phrases: &[BoostPhrase],
        alphabet: impl Fn(char) -> bool,
    ) -> Result<PhraseBoost, BoostError> {
        let mut nodes = vec![Node::default()];
        for phrase in phrases {
            if !(phrase.boost.is_finite() && phrase.boost > 0.0) {
                return Err(BoostError::BadBoost {
                    phrase: phrase.text.clone(),
                    boost: phrase.boost,
                });
            }
            let lowered = phrase.text.to_lowercase();
            let words: Vec<String> = lowered
                .split_whitespace()
                .map(|w| w.chars().filter(|&c| alphabet(c)).collect::<String>())
                .filter(|w| !w.is_empty())
                .collect();
            let chars: Vec<char> = words.join(" ").chars().collect();
            if chars.is_empty() {
                return Err(BoostError::EmptyPhrase(phrase.text.clone()));
            }
            let mut at = ROOT as usize;
            for (depth, &c) in chars.iter().enumerate() {
                let child = match nodes[at].children.iter().find(|(k, _)| *k == c) {
                    Some(&(_, child)) => child as usize,
                    None => {
                        nodes.push(Node::default());
                        let child = nodes.len() - 1;
                        nodes[at].children.push((c, child as u32));
                        child
                    }
                };
                let share = phrase.boost * (depth + 1) as f32 / chars.len() as f32;
                nodes[child].potential = nodes[child].potential.max(share);
                at = child;
            }
            let complete = nodes[at].complete.get_or_insert(0.0);
            *complete = complete.max(phrase.boost);
        }
        Ok(PhraseBoost { nodes })
    }

    /// The state before any text.
    pub fn start(&self) -> BoostState {
        BoostState {
            node: Some(ROOT),
            at_word_start: true,
            committed: 0.0,
        }
    }

    /// Total boost of a hypothesis in `state`: completed phrases plus the partial credit.
    pub fn score(&self, state: &BoostState) -> f32 {
        state.committed + state.node.map_or(0.0, |n| self.nodes[n as usize].potential)
    }

    /// Whether the text is part-way into some phrase (so an unknown word may be on purpose).
    pub fn in_phrase(&self, state: &BoostState) -> bool {
        state.node.is_some_and(|n| n != ROOT)
    }

    /// The state after one more character of text.
    pub fn advance(&self, state: &BoostState, c: char) -> BoostState {
        let child = |node: u32, c: char| {
            self.nodes[node as usize]
                .children
                .iter()
                .find(|(k, _)| *k == c)
                .map(|&(_, n)| n)
        };
        if c.is_whitespace() {
            if state.at_word_start {
                return *state;
            }
            // A multi-word phrase goes on; otherwise a phrase that ends here is kept.
            if let Some(next) = state.node.and_then(|n| child(n, ' ')) {
                return BoostState {
                    node: Some(next),
                    at_word_start: true,
                    committed: state.committed,
                };
            }
            return self.finish(state);
        }
        let node = match state.node.and_then(|n| child(n, c)) {
            Some(next) => Some(next),
            // Left a multi-word phrase at a word start: a new phrase may begin here.
            None if state.at_word_start => child(ROOT, c),
            None => None,
        };
        BoostState {
            node,
            at_word_start: false,
            committed: state.committed,
        }
    }

    /// The state at the end of the text: a phrase that ends here is kept, a partial one is not.
    pub fn finish(&self, state: &BoostState) -> BoostState {
        let completed = state
            .node
            .and_then(|n| self.nodes[n as usize].complete)
            .filter(|_| !state.at_word_start)
            .unwrap_or(0.0);
        BoostState {
            node: Some(ROOT),
            at_word_start: true,
            committed: state.committed + completed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boost(phrases: &[(&str, f32)]) -> PhraseBoost {
        let phrases: Vec<BoostPhrase> = phrases
            .iter()
            .map(|&(text, boost)| BoostPhrase {
                text: text.into(),
                boost,
            })
            .collect();
        PhraseBoost::new(&phrases, |c| c.is_ascii_lowercase() || c == '\'').unwrap()
    }

    /// Score after reading `text`, and after finishing it.
    fn run(b: &PhraseBoost, text: &str) -> (f32, f32) {
        let state = text.chars().fold(b.start(), |s, c| b.advance(&s, c));
        (b.score(&state), b.score(&b.finish(&state)))
    }

    #[test]
    fn partial_credit_grows_and_is_kept_only_for_whole_phrases() {
        let b = boost(&[("Cat", 3.0)]);
        assert!((run(&b, "c").0 - 1.0).abs() < 1e-6);
        assert!((run(&b, "ca").0 - 2.0).abs() < 1e-6);
        assert_eq!(run(&b, "the cat"), (3.0, 3.0));
        assert_eq!(run(&b, "the cat sat").0, 3.0);
        assert_eq!(run(&b, "cat cat").1, 6.0);
        // Abandoned or extended: the credit goes.
        assert_eq!(run(&b, "cap"), (0.0, 0.0));
        assert_eq!(run(&b, "category").1, 0.0);
        assert_eq!(run(&b, "cats ").0, 0.0);
        // Only at word starts.
        assert_eq!(run(&b, "scat").1, 0.0);
    }

    #[test]
    fn multi_word_phrases_and_shared_prefixes() {
        let b = boost(&[("new york", 4.0), ("newark", 2.0)]);
        assert_eq!(run(&b, "in new york").1, 4.0);
        assert!((run(&b, "new ").0 - 2.0).abs() < 1e-6);
        assert_eq!(run(&b, "newark").1, 2.0);
        assert_eq!(run(&b, "new jersey").1, 0.0);
        // Leaving a multi-word phrase at a word start can begin another phrase there.
        let b = boost(&[("new york", 4.0), ("jersey", 1.0)]);
        assert_eq!(run(&b, "new jersey").1, 1.0);
    }

    #[test]
    fn rejects_bad_phrases() {
        let alphabet = |c: char| c.is_ascii_lowercase();
        let bad = |text: &str, boost: f32| {
            PhraseBoost::new(
                &[BoostPhrase {
                    text: text.into(),
                    boost,
                }],
                alphabet,
            )
            .unwrap_err()
        };
        assert_eq!(bad("42 !", 1.0), BoostError::EmptyPhrase("42 !".into()));
        assert!(matches!(bad("cat", -1.0), BoostError::BadBoost { .. }));
        assert!(matches!(bad("cat", f32::NAN), BoostError::BadBoost { .. }));
    }
}
