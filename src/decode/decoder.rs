//! One stream's decoder: search (greedy or beam), endpointing, n-best, stability.
//!
//! The pipeline hands it log-prob frames as the model produces them and asks for a partial
//! whenever it wants to send one. Endpointing runs frame by frame inside `push`, so an
//! utterance ends on the exact frame its rule fires even mid-chunk: the decoder returns that
//! utterance's final and starts the next one with the remaining frames. Frames in results
//! count from the start of the stream, so word times stay absolute across utterances.

use std::sync::Arc;
use std::time::Duration;

use super::beam::{BeamConfig, BeamSearch};
use super::boost::PhraseBoost;
use super::ctc_greedy::frames;
use super::endpoint::{is_silent_frame, EndpointConfig, EndpointRule, Endpointer};
use super::lm::NgramLm;
use super::stability::{Stability, StabilityTracker};
use super::{CtcGreedy, DecodeError, WordSpan};

/// How to search.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchMode {
    /// Best path: lowest latency and cost; no LM, no boosting, one alternative.
    Greedy,
    /// Prefix beam search, with the decoder's LM and phrase boosts if given.
    Beam(BeamConfig),
}

/// Everything a stream may choose about decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    pub mode: SearchMode,
    /// Alternatives per final, at least 1 (greedy always gives 1).
    pub max_alternatives: usize,
    /// Rules that end utterances mid-stream; `None`: one utterance per stream.
    pub endpoint: Option<EndpointConfig>,
    /// Partials a partial is compared with for its stability.
    pub stability_window: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            mode: SearchMode::Greedy,
            max_alternatives: 1,
            endpoint: Some(EndpointConfig::default()),
            stability_window: 3,
        }
    }
}

/// One candidate text of an utterance (the pipeline's `Alternative` is it in times); word
/// frames count from the start of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub text: String,
    /// Beam: posterior of this text among the beam's final texts. Greedy: mean word
    /// confidence. In [0, 1].
    pub confidence: f32,
    /// Words with their first/last token frames and mean token probability.
    pub words: Vec<WordSpan>,
}

/// The result of one utterance, best alternative first.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub candidates: Vec<Candidate>,
    /// Stream frame where the utterance began (the previous endpoint, or 0).
    pub start_frame: u64,
    /// Stream frame where it ended (exclusive).
    pub end_frame: u64,
    /// The rule that ended it; `None` when the stream ended.
    pub endpoint: Option<EndpointRule>,
}

/// The current best guess of the utterance in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    pub text: String,
    pub words: Vec<WordSpan>,
    pub stability: Stability,
    pub start_frame: u64,
    pub end_frame: u64,
}

#[derive(Debug, Clone)]
enum Search {
    Greedy(CtcGreedy),
    Beam(BeamSearch),
}

/// A streaming decoder over one stream of model frames.
#[derive(Debug, Clone)]
pub struct StreamingDecoder {
    blank_id: usize,
    tokens: Vec<String>,
    max_alternatives: usize,
    search: Search,
    endpointer: Option<Endpointer>,
    stability: StabilityTracker,
    utterance_start: u64,
    frames_seen: u64,
}

impl StreamingDecoder {
    /// A decoder for a model whose output frames last `frame` each. `lm` and `boost` are
    /// used by beam search only.
    pub fn new(
        config: &DecoderConfig,
        blank_id: usize,
        tokens: Vec<String>,
        frame: Duration,
        lm: Option<Arc<NgramLm>>,
        boost: Option<Arc<PhraseBoost>>,
    ) -> StreamingDecoder {
        let search = match &config.mode {
            SearchMode::Greedy => Search::Greedy(CtcGreedy::new(blank_id, tokens.clone())),
            SearchMode::Beam(beam) => Search::Beam(BeamSearch::new(
                beam.clone(),
                blank_id,
                tokens.clone(),
                lm,
                boost,
            )),
        };
        StreamingDecoder {
            blank_id,
            tokens,
            max_alternatives: config.max_alternatives.max(1),
            search,
            endpointer: config.endpoint.as_ref().map(|e| Endpointer::new(e, frame)),
            stability: StabilityTracker::new(config.stability_window),
            utterance_start: 0,
            frames_seen: 0,
        }
    }

    /// Consumes frames of `vocab` log-probs each; returns the finals of utterances that
    /// ended in them (utterances with no words end silently).
    pub fn push(&mut self, log_probs: &[f32], vocab: usize) -> Result<Vec<Utterance>, DecodeError> {
        let rows = frames(log_probs, vocab, self.tokens.len())?;
        let mut finals = Vec::new();
        for row in rows {
            match &mut self.search {
                Search::Greedy(g) => g.push(row, vocab)?,
                Search::Beam(b) => b.push(row, vocab)?,
            }
            self.frames_seen += 1;
            let silent = is_silent_frame(row, self.blank_id, &self.tokens);
            if let Some(rule) = self.endpointer.as_mut().and_then(|e| e.observe(silent)) {
                let utterance = self.end_utterance(Some(rule));
                if utterance.candidates.iter().any(|a| !a.text.is_empty()) {
                    finals.push(utterance);
                }
            }
        }
        Ok(finals)
    }

    /// The best guess for the utterance in progress; each call counts as a partial sent
    /// for the stability of later ones.
    pub fn partial(&mut self) -> Partial {
        let (text, words) = match &self.search {
            Search::Greedy(g) => (g.text(), g.words()),
            Search::Beam(b) => b.best().map(|h| (h.text, h.words)).unwrap_or_default(),
        };
        Partial {
            stability: self.stability.observe(&text),
            words: self.shift(words),
            text,
            start_frame: self.utterance_start,
            end_frame: self.frames_seen,
        }
    }

    /// Ends the stream: the final of the utterance in progress (possibly empty text).
    pub fn finish(&mut self) -> Utterance {
        self.end_utterance(None)
    }

    /// Model frames consumed since the stream began.
    pub fn frames_seen(&self) -> u64 {
        self.frames_seen
    }

    fn end_utterance(&mut self, endpoint: Option<EndpointRule>) -> Utterance {
        let alternatives = match &mut self.search {
            Search::Greedy(g) => {
                let words = g.words();
                let confidence = if words.is_empty() {
                    0.0
                } else {
                    words.iter().map(|w| w.confidence).sum::<f32>() / words.len() as f32
                };
                let alternative = Candidate {
                    text: g.text(),
                    confidence,
                    words,
                };
                g.reset();
                vec![alternative]
            }
            Search::Beam(b) => {
                let finals = b.finals();
                b.reset();
                let best = finals.first().map_or(0.0, |h| h.score);
                let total: f32 = finals.iter().map(|h| (h.score - best).exp()).sum();
                finals
                    .into_iter()
                    .take(self.max_alternatives)
                    .map(|h| Candidate {
                        confidence: (h.score - best).exp() / total,
                        text: h.text,
                        words: h.words,
                    })
                    .collect()
            }
        };
        let utterance = Utterance {
            candidates: alternatives
                .into_iter()
                .map(|a| Candidate {
                    words: self.shift(a.words),
                    ..a
                })
                .collect(),
            start_frame: self.utterance_start,
            end_frame: self.frames_seen,
            endpoint,
        };
        self.utterance_start = self.frames_seen;
        self.stability.reset();
        if let Some(e) = &mut self.endpointer {
            e.reset();
        }
        utterance
    }

    /// Word frames from utterance-relative to stream-relative.
    fn shift(&self, words: Vec<WordSpan>) -> Vec<WordSpan> {
        words
            .into_iter()
            .map(|w| WordSpan {
                start_frame: w.start_frame + self.utterance_start,
                end_frame: w.end_frame + self.utterance_start,
                ..w
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: [&str; 5] = ["<blank>", " ", "a", "b", "c"];
    const FRAME: Duration = Duration::from_millis(30);

    fn tokens() -> Vec<String> {
        VOCAB.iter().map(|s| s.to_string()).collect()
    }

    /// Frames whose winner is given by `pattern`: `.` blank, `_` space, letters themselves.
    fn frames(pattern: &str) -> Vec<f32> {
        pattern
            .chars()
            .flat_map(|c| {
                let id = match c {
                    '.' => 0,
                    '_' => 1,
                    c => VOCAB.iter().position(|t| t.starts_with(c)).unwrap(),
                };
                (0..VOCAB.len()).map(move |i| if i == id { 0.9f32.ln() } else { 0.025f32.ln() })
            })
            .collect()
    }

    fn config(mode: SearchMode) -> DecoderConfig {
        DecoderConfig {
            mode,
            max_alternatives: 3,
            endpoint: Some(EndpointConfig {
                trailing_silence_after_speech: Duration::from_millis(90),
                trailing_silence_without_speech: Duration::from_millis(300),
                max_utterance: Duration::from_secs(10),
            }),
            stability_window: 1,
        }
    }

    fn decoder(mode: SearchMode) -> StreamingDecoder {
        StreamingDecoder::new(&config(mode), 0, tokens(), FRAME, None, None)
    }

    #[test]
    fn endpoints_split_the_stream_with_absolute_frames() {
        for mode in [SearchMode::Greedy, SearchMode::Beam(BeamConfig::default())] {
            let mut d = decoder(mode.clone());
            // "ab" then 3 silent frames (endpoint), "c" then the stream ends.
            let finals = d.push(&frames("ab_...c.c"), VOCAB.len()).unwrap();
            assert_eq!(finals.len(), 1, "{mode:?}");
            let first = &finals[0];
            assert_eq!(first.candidates[0].text, "ab");
            assert_eq!((first.start_frame, first.end_frame), (0, 5));
            assert_eq!(first.endpoint, Some(EndpointRule::SilenceAfterSpeech));
            let w = &first.candidates[0].words[0];
            assert_eq!((w.start_frame, w.end_frame), (0, 1));
            let last = d.finish();
            assert_eq!(last.candidates[0].text, "cc");
            assert_eq!((last.start_frame, last.end_frame), (5, 9));
            assert_eq!(last.endpoint, None);
            let w = &last.candidates[0].words[0];
            assert_eq!((w.start_frame, w.end_frame), (6, 8));
        }
    }

    #[test]
    fn silence_only_utterances_end_without_a_final() {
        let mut d = decoder(SearchMode::Greedy);
        assert!(d
            .push(&frames(".........."), VOCAB.len())
            .unwrap()
            .is_empty());
        assert_eq!(d.partial().start_frame, 10);
        assert_eq!(d.frames_seen(), 10);
    }

    #[test]
    fn beam_finals_carry_ranked_alternatives_with_posteriors() {
        let mut d = decoder(SearchMode::Beam(BeamConfig::default()));
        // First frame: 0.5 "a" vs 0.4 "b".
        let mut f = frames("a.");
        f[2] = 0.5f32.ln();
        f[3] = 0.4f32.ln();
        d.push(&f, VOCAB.len()).unwrap();
        let u = d.finish();
        let texts: Vec<&str> = u.candidates.iter().map(|a| a.text.as_str()).collect();
        assert_eq!(&texts[..2], &["a", "b"]);
        assert_eq!(u.candidates.len(), 3);
        let c: Vec<f32> = u.candidates.iter().map(|a| a.confidence).collect();
        assert!(c[0] > c[1] && c[1] > c[2] && c[0] < 1.0, "{c:?}");
        assert!((c[0] / c[1] - 0.5 / 0.4).abs() < 0.01, "{c:?}");
    }

    #[test]
    fn partials_report_stability_and_reject_bad_input() {
        let mut d = decoder(SearchMode::Greedy);
        d.push(&frames("a_"), VOCAB.len()).unwrap();
        assert_eq!(d.partial().stability.stable_words, 0);
        d.push(&frames("b"), VOCAB.len()).unwrap();
        let p = d.partial();
        assert_eq!(p.text, "a b");
        assert_eq!(p.stability.stable_words, 1);
        assert!(d.push(&[0.0; 4], 4).is_err());
        assert!(d.push(&[0.0; 7], 5).is_err());
    }
}
