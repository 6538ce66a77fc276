//! Word n-gram language model in ARPA format, with Katz-style backoff at query time.
//!
//! Beam search asks one question per completed word — how likely is this word after the
//! last few? — so the model is a hash map per order keyed by word-id slices, loaded once and
//! shared read-only between streams (`Arc<NgramLm>`). Scores are natural logs so they add to
//! the acoustic model's log-probs directly. A sorted word list answers "is this a prefix of
//! any known word?" for the partial-word penalty.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Highest n-gram order accepted (keys are built in a stack buffer of this size).
pub const MAX_ORDER: usize = 6;

const LN_10: f32 = std::f32::consts::LN_10;

/// An ARPA file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    #[error("cannot read language model {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ARPA line {line}: {message}")]
    Parse { line: usize, message: String },
}

/// Log-probability and backoff weight of one n-gram (natural log).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    log_prob: f32,
    backoff: f32,
}

/// A loaded backoff n-gram model.
#[derive(Debug)]
pub struct NgramLm {
    order: usize,
    ids: HashMap<String, u32>,
    /// `grams[n - 1]` holds the n-grams.
    grams: Vec<HashMap<Box<[u32]>, Entry>>,
    /// Every word, sorted, for prefix checks.
    sorted_words: Vec<String>,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
}

/// The words a next word is conditioned on (at most order − 1, most recent last).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LmState {
    history: Vec<u32>,
}

/// ln P for words the model cannot score at all (no `<unk>` in the file): as in KenLM, −99
/// in log10, i.e. such words are practically forbidden.
const NO_UNK_LOG_PROB: f32 = -99.0 * LN_10;

impl NgramLm {
    /// Reads an ARPA file.
    pub fn load(path: &Path) -> Result<NgramLm, LmError> {
        let text = std::fs::read_to_string(path).map_err(|source| LmError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses ARPA text: `\data\` counts, then `\N-grams:` sections of
    /// `log10prob <tab> w1 .. wN [<tab> log10backoff]`, then `\end\`.
    pub fn parse(text: &str) -> Result<NgramLm, LmError> {
        let mut counts: Vec<usize> = Vec::new();
        let mut section: Option<usize> = None;
        let mut in_data = false;
        let mut lm = NgramLm {
            order: 0,
            ids: HashMap::new(),
            grams: Vec::new(),
            sorted_words: Vec::new(),
            bos: None,
            eos: None,
            unk: None,
        };
        let err = |line: usize, message: String| LmError::Parse {
            line: line + 1,
            message,
        };
        for (no, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if line == "\\data\\" {
                in_data = true;
                continue;
            }
            if line == "\\end\\" {
                break;
            }
            if let Some(n) = line
                .strip_prefix('\\')
                .and_then(|l| l.strip_suffix("-grams:"))
            {
                let n: usize = n
                    .parse()
                    .map_err(|_| err(no, format!("bad section header {line:?}")))?;
                if n == 0 || n > counts.len() {
                    return Err(err(
                        no,
                        format!("section {n}-grams not announced in \\data\\"),
                    ));
                }
                in_data = false;
                section = Some(n);
                continue;
            }
            if in_data {
                let (n, count) = line
                    .strip_prefix("ngram ")
                    .and_then(|l| l.split_once('='))
                    .ok_or_else(|| err(no, format!("expected `ngram N=count`, got {line:?}")))?;
                let n: usize = n.trim().parse().map_err(|_| err(no, "bad order".into()))?;
                let count: usize = count
                    .trim()
                    .parse()
                    .map_err(|_| err(no, "bad count".into()))?;
                if n != counts.len() + 1 || n > MAX_ORDER {
                    return Err(err(no, format!("orders must run 1..={MAX_ORDER} in turn")));
                }
                counts.push(count);
                lm.grams.push(HashMap::with_capacity(count));
                continue;
            }
            let Some(n) = section else {
                return Err(err(no, format!("text outside any section: {line:?}")));
            };
            let mut fields = line.split_whitespace();
            let log_prob: f32 = fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| err(no, "missing log-probability".into()))?;
            let words: Vec<&str> = fields.by_ref().take(n).collect();
            if words.len() != n {
                return Err(err(no, format!("expected {n} words")));
            }
            let backoff: f32 = match fields.next() {
                Some(f) => f.parse().map_err(|_| err(no, "bad backoff".into()))?,
                None => 0.0,
            };
            let key: Box<[u32]> = words.iter().map(|w| lm.intern(w)).collect();
            lm.grams[n - 1].insert(
                key,
                Entry {
                    log_prob: log_prob * LN_10,
                    backoff: backoff * LN_10,
                },
            );
        }
        if lm.grams.is_empty() || lm.grams[0].is_empty() {
            return Err(err(0, "no unigrams".into()));
        }
        for (n, (want, map)) in counts.iter().zip(&lm.grams).enumerate() {
            if *want != map.len() {
                return Err(err(
                    0,
                    format!(
                        "\\data\\ announced {want} {}-grams, found {}",
                        n + 1,
                        map.len()
                    ),
                ));
            }
        }
        lm.order = lm.grams.len();
        lm.bos = lm.ids.get("<s>").copied();
        lm.eos = lm.ids.get("</s>").copied();
        lm.unk = lm.ids.get("<unk>").copied();
        lm.sorted_words = lm
            .ids
            .keys()
            .filter(|w| !w.starts_with('<'))
            .cloned()
            .collect();
        lm.sorted_words.sort_unstable();
        Ok(lm)
    }

    fn intern(&mut self, word: &str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(word.to_string()).or_insert(next)
    }

    /// The model's order (3 for a trigram model).
    pub fn order(&self) -> usize {
        self.order
    }

    /// The state at the start of a sentence.
    pub fn begin(&self) -> LmState {
        LmState {
            history: self.bos.into_iter().collect(),
        }
    }

    /// Whether `word` is in the vocabulary.
    pub fn contains(&self, word: &str) -> bool {
        self.ids.contains_key(word)
    }

    /// Whether some vocabulary word starts with `prefix`.
    pub fn is_word_prefix(&self, prefix: &str) -> bool {
        let at = self.sorted_words.partition_point(|w| w.as_str() < prefix);
        self.sorted_words
            .get(at)
            .is_some_and(|w| w.starts_with(prefix))
    }

    /// ln P(word | state) and the state after it.
    pub fn score(&self, state: &LmState, word: &str) -> (f32, LmState) {
        match self.ids.get(word).copied().or(self.unk) {
            Some(id) => (self.log_prob(&state.history, id), self.advance(state, id)),
            None => (NO_UNK_LOG_PROB, LmState::default()),
        }
    }

    /// ln P(</s> | state): the cost of ending the sentence here.
    pub fn score_end(&self, state: &LmState) -> f32 {
        self.eos
            .map_or(0.0, |eos| self.log_prob(&state.history, eos))
    }

    fn advance(&self, state: &LmState, id: u32) -> LmState {
        let keep = self.order.saturating_sub(1);
        let mut history = state.history.clone();
        history.push(id);
        if history.len() > keep {
            history.drain(..history.len() - keep);
        }
        LmState { history }
    }

    /// Backoff query: the longest n-gram `history[i..] + word` in the model, plus the
    /// backoff weights of the longer contexts that were missed.
    fn log_prob(&self, history: &[u32], word: u32) -> f32 {
        let mut key = [0u32; MAX_ORDER];
        let history = &history[history.len().saturating_sub(self.order - 1)..];
        let mut penalty = 0.0;
        for start in 0..=history.len() {
            let context = &history[start..];
            let n = context.len() + 1;
            key[..context.len()].copy_from_slice(context);
            key[context.len()] = word;
            if let Some(e) = self.grams[n - 1].get(&key[..n]) {
                return penalty + e.log_prob;
            }
            if !context.is_empty() {
                if let Some(e) = self.grams[context.len() - 1].get(context) {
                    penalty += e.backoff;
                }
            }
        }
        NO_UNK_LOG_PROB
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made bigram model; numbers chosen so each query path gives a distinct value.
    const ARPA: &str = "
\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-0.5\t</s>
-0.3\tcat\t-0.2
-0.7\tcar\t-0.25

\\2-grams:
-0.1\t<s> cat
-0.4\tcat </s>
-0.15\tcar cat

\\end\\
";

    fn lm() -> NgramLm {
        NgramLm::parse(ARPA).unwrap()
    }

    fn close(a: f32, b_log10: f32) {
        assert!(
            (a - b_log10 * LN_10).abs() < 1e-5,
            "{a} vs {}",
            b_log10 * LN_10
        );
    }

    #[test]
    fn scores_seen_bigrams_and_backs_off_with_weights() {
        let lm = lm();
        assert_eq!(lm.order(), 2);
        let s = lm.begin();
        let (p, after_cat) = lm.score(&s, "cat");
        close(p, -0.1);
        // "<s> car" is missing: backoff(<s>) + P(car).
        let (p, after_car) = lm.score(&s, "car");
        close(p, -0.5 + -0.7);
        close(lm.score(&after_car, "cat").0, -0.15);
        close(lm.score_end(&after_cat), -0.4);
        // "car </s>" missing: backoff(car) + P(</s>).
        close(lm.score_end(&after_car), -0.25 + -0.5);
    }

    #[test]
    fn unknown_words_score_as_unk_and_prefixes_are_found() {
        let lm = lm();
        let (p, state) = lm.score(&lm.begin(), "dog");
        close(p, -0.5 + -1.0);
        // After <unk> there is no bigram and no backoff weight on <unk>.
        close(lm.score(&state, "cat").0, -0.3);
        assert!(lm.contains("car") && !lm.contains("dog"));
        assert!(lm.is_word_prefix("ca") && lm.is_word_prefix("car"));
        assert!(!lm.is_word_prefix("cb") && !lm.is_word_prefix("cart"));
    }

    #[test]
    fn rejects_malformed_files() {
        assert!(NgramLm::parse("").is_err());
        let wrong_count = ARPA.replace("ngram 2=3", "ngram 2=4");
        assert!(matches!(
            NgramLm::parse(&wrong_count),
            Err(LmError::Parse { .. })
        ));
        let bad_prob = ARPA.replace("-0.4\tcat </s>", "x\tcat </s>");
        assert!(NgramLm::parse(&bad_prob).is_err());
    }

    #[test]
    fn the_shipped_model_loads_and_prefers_fluent_text() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/baseline/lm.arpa");
        let lm = NgramLm::load(&path).unwrap();
        assert_eq!(lm.order(), 3);
        let sentence = |words: &[&str]| {
            let mut state = lm.begin();
            let mut total = 0.0;
            for w in words {
                let (p, next) = lm.score(&state, w);
                total += p;
                state = next;
            }
            total + lm.score_end(&state)
        };
        let fluent = sentence(&["it", "is", "one", "of", "the", "best"]);
        let shuffled = sentence(&["best", "the", "of", "one", "is", "it"]);
        assert!(fluent > shuffled + 5.0, "{fluent} vs {shuffled}");
    }
}
