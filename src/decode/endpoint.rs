//! Endpointing: deciding from the model's output alone when an utterance has ended.
//!
//! The rules follow Kaldi's and sherpa-onnx's: a frame is *silent* when its most probable
//! token is the blank or a word separator, and an utterance ends after enough trailing
//! silence — a short wait once something was said, a longer one when nothing was (so a
//! stream of silence is cut into bounded pieces) — or when it reaches a maximum length.
//! Working on model frames keeps it in step with the decoder at no extra cost.

use std::time::Duration;

/// When an utterance ends; all durations are of audio.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// Trailing silence that ends an utterance in which something was said.
    pub trailing_silence_after_speech: Duration,
    /// Trailing silence that ends an utterance in which nothing was said.
    pub trailing_silence_without_speech: Duration,
    /// Longest utterance; it is cut here even mid-speech.
    pub max_utterance: Duration,
}

impl Default for EndpointConfig {
    /// Sherpa-onnx's rule lengths, with a shorter pause after speech (0.8 s, as in Riva)
    /// to keep finals prompt.
    fn default() -> Self {
        EndpointConfig {
            trailing_silence_after_speech: Duration::from_millis(800),
            trailing_silence_without_speech: Duration::from_millis(2400),
            max_utterance: Duration::from_secs(20),
        }
    }
}

/// Which rule ended an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointRule {
    SilenceAfterSpeech,
    SilenceWithoutSpeech,
    MaxLength,
}

/// Per-utterance frame counters checked against [`EndpointConfig`].
#[derive(Debug, Clone)]
pub struct Endpointer {
    after_speech: u64,
    without_speech: u64,
    max_frames: u64,
    frames: u64,
    trailing_silence: u64,
    speech_seen: bool,
}

/// Frames of `frame` each covering at least `span` (at least one frame).
fn frames_for(span: Duration, frame: Duration) -> u64 {
    let frames = span.as_nanos().div_ceil(frame.as_nanos().max(1)).max(1);
    u64::try_from(frames).unwrap_or(u64::MAX)
}

impl Endpointer {
    /// Rules for a model whose output frames last `frame` each.
    pub fn new(config: &EndpointConfig, frame: Duration) -> Endpointer {
        Endpointer {
            after_speech: frames_for(config.trailing_silence_after_speech, frame),
            without_speech: frames_for(config.trailing_silence_without_speech, frame),
            max_frames: frames_for(config.max_utterance, frame),
            frames: 0,
            trailing_silence: 0,
            speech_seen: false,
        }
    }

    /// Counts one frame; returns the rule that fires on it, if any.
    pub fn observe(&mut self, silent: bool) -> Option<EndpointRule> {
        self.frames += 1;
        if silent {
            self.trailing_silence += 1;
        } else {
            self.trailing_silence = 0;
            self.speech_seen = true;
        }
        if self.speech_seen && self.trailing_silence >= self.after_speech {
            Some(EndpointRule::SilenceAfterSpeech)
        } else if !self.speech_seen && self.trailing_silence >= self.without_speech {
            Some(EndpointRule::SilenceWithoutSpeech)
        } else if self.frames >= self.max_frames {
            Some(EndpointRule::MaxLength)
        } else {
            None
        }
    }

    /// Frames of trailing silence in the current utterance.
    pub fn trailing_silence(&self) -> u64 {
        self.trailing_silence
    }

    /// Starts counting a new utterance.
    pub fn reset(&mut self) {
        self.frames = 0;
        self.trailing_silence = 0;
        self.speech_seen = false;
    }
}

/// Whether a frame of log-probs is silent: its best token is the blank or whitespace.
pub fn is_silent_frame(row: &[f32], blank_id: usize, tokens: &[String]) -> bool {
    let best = row
        .iter()
        .enumerate()
        .fold((blank_id, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0;
    best == blank_id || tokens.get(best).is_some_and(|t| t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(30);

    fn endpointer() -> Endpointer {
        Endpointer::new(
            &EndpointConfig {
                trailing_silence_after_speech: Duration::from_millis(90),
                trailing_silence_without_speech: Duration::from_millis(150),
                max_utterance: Duration::from_millis(300),
            },
            FRAME,
        )
    }

    /// Index (1-based frame count) and rule of the first endpoint over `pattern` (`s` silent).
    fn first_endpoint(e: &mut Endpointer, pattern: &str) -> Option<(usize, EndpointRule)> {
        pattern
            .chars()
            .enumerate()
            .find_map(|(i, c)| e.observe(c == 's').map(|r| (i + 1, r)))
    }

    #[test]
    fn each_rule_fires_at_its_length() {
        let mut e = endpointer();
        assert_eq!(
            first_endpoint(&mut e, "ssvvsvsss"),
            Some((9, EndpointRule::SilenceAfterSpeech))
        );
        e.reset();
        assert_eq!(
            first_endpoint(&mut e, "sssssss"),
            Some((5, EndpointRule::SilenceWithoutSpeech))
        );
        e.reset();
        assert_eq!(
            first_endpoint(&mut e, "vvvvvvvvvvvv"),
            Some((10, EndpointRule::MaxLength))
        );
        e.reset();
        assert_eq!(first_endpoint(&mut e, "vsvsvsv"), None);
        assert_eq!(e.trailing_silence(), 0);
    }

    #[test]
    fn durations_round_up_to_whole_frames() {
        assert_eq!(frames_for(Duration::from_millis(800), FRAME), 27);
        assert_eq!(frames_for(Duration::from_millis(90), FRAME), 3);
        assert_eq!(frames_for(Duration::ZERO, FRAME), 1);
    }

    #[test]
    fn silence_is_a_blank_or_space_winner() {
        let tokens: Vec<String> = ["<blank>", " ", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(is_silent_frame(&[-0.1, -3.0, -3.0], 0, &tokens));
        assert!(is_silent_frame(&[-3.0, -0.1, -3.0], 0, &tokens));
        assert!(!is_silent_frame(&[-3.0, -3.0, -0.1], 0, &tokens));
    }
}
