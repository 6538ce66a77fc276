//! The decoder settings (search, LM weights, endpointing) and their one mapping onto
//! [`DecoderConfig`].
//!
//! Why here: `serve` reads them from its configuration, `transcribe` and `eval` from flags;
//! both go through [`DecoderSettings::decoder_config`], so the same values always decode
//! the same way.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::decode::{BeamConfig, DecoderConfig, EndpointConfig, SearchMode};

/// How streams search the model's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// Best path: lowest latency; no LM, no phrase boosts, one alternative.
    Greedy,
    /// CTC prefix beam search, with the LM and per-request phrase boosts.
    Beam,
}

/// The decoder knobs, under the names of their configuration keys and flags.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderSettings {
    pub decoder: DecoderKind,
    pub beam_width: usize,
    pub lm_weight: f32,
    pub word_bonus: f32,
    pub endpointing: bool,
    pub endpoint_silence_ms: u64,
    pub endpoint_silence_no_speech_ms: u64,
    pub max_utterance_ms: u64,
}

impl Default for DecoderSettings {
    /// Greedy search, with [`BeamConfig::default`] and [`EndpointConfig::default`].
    fn default() -> Self {
        let beam = BeamConfig::default();
        let endpoint = EndpointConfig::default();
        DecoderSettings {
            decoder: DecoderKind::Greedy,
            beam_width: beam.beam_width,
            lm_weight: beam.lm_weight,
            word_bonus: beam.word_bonus,
            endpointing: true,
            endpoint_silence_ms: millis(endpoint.trailing_silence_after_speech),
            endpoint_silence_no_speech_ms: millis(endpoint.trailing_silence_without_speech),
            max_utterance_ms: millis(endpoint.max_utterance),
        }
    }
}

impl DecoderSettings {
    /// The engine's decoder configuration (the LM path travels separately, in
    /// `EngineConfig::lm`).
    pub fn decoder_config(&self) -> DecoderConfig {
        let mode = match self.decoder {
            DecoderKind::Greedy => SearchMode::Greedy,
            DecoderKind::Beam => SearchMode::Beam(BeamConfig {
                beam_width: self.beam_width,
                lm_weight: self.lm_weight,
                word_bonus: self.word_bonus,
                ..BeamConfig::default()
            }),
        };
        let endpoint = self.endpointing.then(|| EndpointConfig {
            trailing_silence_after_speech: Duration::from_millis(self.endpoint_silence_ms),
            trailing_silence_without_speech: Duration::from_millis(
                self.endpoint_silence_no_speech_ms,
            ),
            max_utterance: Duration::from_millis(self.max_utterance_ms),
        });
        DecoderConfig {
            mode,
            endpoint,
            ..DecoderConfig::default()
        }
    }
}

/// A duration in whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beam_settings_give_a_beam_search_with_their_weights_and_endpoints() {
        let settings = DecoderSettings {
            decoder: DecoderKind::Beam,
            beam_width: 4,
            lm_weight: 0.25,
            word_bonus: 2.0,
            endpoint_silence_ms: 500,
            endpoint_silence_no_speech_ms: 900,
            max_utterance_ms: 7000,
            ..DecoderSettings::default()
        };
        let config = settings.decoder_config();
        let SearchMode::Beam(beam) = &config.mode else {
            panic!("{:?}", config.mode)
        };
        assert_eq!(
            (beam.beam_width, beam.lm_weight, beam.word_bonus),
            (4, 0.25, 2.0)
        );
        let endpoint = config.endpoint.unwrap();
        assert_eq!(
            endpoint.trailing_silence_after_speech,
            Duration::from_millis(500)
        );
        assert_eq!(
            endpoint.trailing_silence_without_speech,
            Duration::from_millis(900)
        );
        assert_eq!(endpoint.max_utterance, Duration::from_millis(7000));
    }

    #[test]
    fn defaults_are_greedy_with_the_default_endpointing_and_no_endpointing_turns_it_off() {
        let config = DecoderSettings::default().decoder_config();
        assert!(matches!(config.mode, SearchMode::Greedy));
        let endpoint = config.endpoint.unwrap();
        let defaults = EndpointConfig::default();
        assert_eq!(endpoint.max_utterance, defaults.max_utterance);
        let off = DecoderSettings {
            endpointing: false,
            ..DecoderSettings::default()
        };
        assert!(off.decoder_config().endpoint.is_none());
    }
}
