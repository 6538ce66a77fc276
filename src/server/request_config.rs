//! Turns the client's `RecognitionConfig` into the engine's [`StreamSettings`] and
//! [`DecodeOptions`].
//!
//! Why here and not in the engine: these are protocol rules (proto enum values, "0 means 1",
//! which encoding each RPC allows). Ranges the engine supports (sample rates, channel
//! counts) are checked once, by `Engine::open_stream`, before it takes a pool session.

use std::time::Duration;

use crate::audio::Encoding;
use crate::decode::BoostPhrase;
use crate::pipeline::{DecodeOptions, StreamSettings};
use crate::proto::recognition_config::AudioEncoding;
use crate::proto::{RecognitionConfig, StreamingRecognitionConfig};

use super::status::RequestError;

/// Most alternatives a request may ask for (Google's limit).
pub const MAX_ALTERNATIVES: i32 = 30;
/// Highest phrase boost (Google's range is 0 to 20 too).
pub const MAX_BOOST: f32 = 20.0;
/// Boost of phrases whose context leaves `boost` at 0.
pub const DEFAULT_BOOST: f32 = 5.0;
/// Most phrases over all of a request's speech contexts.
pub const MAX_PHRASES: usize = 1000;
/// Longest phrase, in characters.
pub const MAX_PHRASE_CHARS: usize = 100;

/// What a `Recognize` request's `audio_content` holds.
#[derive(Debug)]
pub enum UnaryAudio {
    /// A WAV file (ENCODING_UNSPECIFIED): its header describes the samples.
    Wav,
    /// Raw PCM described by the config.
    Pcm(StreamSettings),
}

/// Settings for a `StreamingRecognize` call; its config must name a PCM encoding.
pub fn streaming_settings(
    streaming: &StreamingRecognitionConfig,
) -> Result<StreamSettings, RequestError> {
    let config = streaming
        .config
        .as_ref()
        .ok_or(RequestError::MissingRecognitionConfig)?;
    let encoding =
        pcm_encoding(config.encoding)?.ok_or(RequestError::UnspecifiedStreamingEncoding)?;
    pcm_settings(config, encoding, streaming.interim_results)
}

/// How long `bytes` of PCM audio with these settings last (zero at 0 Hz, which the engine
/// refuses).
pub fn pcm_duration(settings: &StreamSettings, bytes: usize) -> Duration {
    let frame_bytes = settings.frame_bytes();
    if settings.sample_rate_hz == 0 || frame_bytes == 0 {
        return Duration::ZERO;
    }
    let frames = (bytes / frame_bytes) as f64;
    Duration::from_secs_f64(frames / f64::from(settings.sample_rate_hz))
}

/// How to read a `Recognize` request's audio.
pub fn unary_audio(config: &RecognitionConfig) -> Result<UnaryAudio, RequestError> {
    check_max_alternatives(config)?;
    Ok(match pcm_encoding(config.encoding)? {
        None => UnaryAudio::Wav,
        Some(encoding) => UnaryAudio::Pcm(pcm_settings(config, encoding, false)?),
    })
}

/// The request's n-best size and boosted phrases.
pub fn decode_options(config: &RecognitionConfig) -> Result<DecodeOptions, RequestError> {
    check_max_alternatives(config)?;
    let mut phrases = Vec::new();
    for context in &config.speech_contexts {
        let boost = context.boost;
        if !(0.0..=MAX_BOOST).contains(&boost) {
            return Err(RequestError::Boost {
                value: boost,
                max: MAX_BOOST,
                default: DEFAULT_BOOST,
            });
        }
        let boost = if boost == 0.0 { DEFAULT_BOOST } else { boost };
        for phrase in &context.phrases {
            let chars = phrase.chars().count();
            if chars > MAX_PHRASE_CHARS {
                return Err(RequestError::PhraseTooLong {
                    chars,
                    max: MAX_PHRASE_CHARS,
                });
            }
            phrases.push(BoostPhrase {
                text: phrase.clone(),
                boost,
            });
        }
    }
    if phrases.len() > MAX_PHRASES {
        return Err(RequestError::TooManyPhrases {
            count: phrases.len(),
            max: MAX_PHRASES,
        });
    }
    Ok(DecodeOptions {
        // In range, checked above.
        max_alternatives: config.max_alternatives.max(1) as usize,
        phrases,
    })
}

/// `None` for ENCODING_UNSPECIFIED.
fn pcm_encoding(value: i32) -> Result<Option<Encoding>, RequestError> {
    match AudioEncoding::try_from(value) {
        Ok(AudioEncoding::EncodingUnspecified) => Ok(None),
        Ok(AudioEncoding::Linear16) => Ok(Some(Encoding::Linear16)),
        Ok(AudioEncoding::Float32) => Ok(Some(Encoding::Float32)),
        Ok(AudioEncoding::Mulaw) => Ok(Some(Encoding::Mulaw)),
        Err(_) => Err(RequestError::UnknownEncoding(value)),
    }
}

fn pcm_settings(
    config: &RecognitionConfig,
    encoding: Encoding,
    interim_results: bool,
) -> Result<StreamSettings, RequestError> {
    check_max_alternatives(config)?;
    let sample_rate_hz = u32::try_from(config.sample_rate_hertz)
        .map_err(|_| RequestError::SampleRate(config.sample_rate_hertz))?;
    let channels = match config.audio_channel_count {
        0 => 1,
        n => u16::try_from(n).map_err(|_| RequestError::ChannelCount(n))?,
    };
    Ok(StreamSettings {
        encoding,
        sample_rate_hz,
        channels,
        interim_results,
    })
}

/// 0 to [`MAX_ALTERNATIVES`]; greedy decoding yields one alternative whatever is asked.
fn check_max_alternatives(config: &RecognitionConfig) -> Result<(), RequestError> {
    if !(0..=MAX_ALTERNATIVES).contains(&config.max_alternatives) {
        return Err(RequestError::MaxAlternatives {
            value: config.max_alternatives,
            max: MAX_ALTERNATIVES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::SpeechContext;

    fn config(encoding: AudioEncoding, rate: i32, channels: i32) -> RecognitionConfig {
        RecognitionConfig {
            encoding: encoding.into(),
            sample_rate_hertz: rate,
            audio_channel_count: channels,
            ..Default::default()
        }
    }

    fn streaming(config: RecognitionConfig) -> StreamingRecognitionConfig {
        StreamingRecognitionConfig {
            config: Some(config),
            interim_results: true,
            single_utterance: false,
        }
    }

    #[test]
    fn streaming_maps_fields_and_zero_channels_means_mono() {
        let settings =
            streaming_settings(&streaming(config(AudioEncoding::Mulaw, 8000, 0))).unwrap();
        assert!(matches!(
            settings,
            StreamSettings {
                encoding: Encoding::Mulaw,
                sample_rate_hz: 8000,
                channels: 1,
                interim_results: true,
            }
        ));
    }

    #[test]
    fn streaming_rejects_unspecified_encoding_naming_the_supported_ones() {
        let err = streaming_settings(&streaming(config(
            AudioEncoding::EncodingUnspecified,
            16000,
            1,
        )))
        .unwrap_err();
        assert!(matches!(err, RequestError::UnspecifiedStreamingEncoding));
        let message = err.to_string();
        for name in ["LINEAR16", "FLOAT32", "MULAW"] {
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn negative_rates_and_channel_counts_are_rejected() {
        let rate = streaming_settings(&streaming(config(AudioEncoding::Linear16, -8000, 1)));
        assert!(matches!(rate, Err(RequestError::SampleRate(-8000))));
        let channels = streaming_settings(&streaming(config(AudioEncoding::Float32, 16000, -2)));
        assert!(matches!(channels, Err(RequestError::ChannelCount(-2))));
    }

    #[test]
    fn unknown_encoding_and_missing_config_are_rejected() {
        let mut bad = config(AudioEncoding::Linear16, 16000, 1);
        bad.encoding = 42;
        assert!(matches!(
            unary_audio(&bad),
            Err(RequestError::UnknownEncoding(42))
        ));
        let missing = StreamingRecognitionConfig::default();
        assert!(matches!(
            streaming_settings(&missing),
            Err(RequestError::MissingRecognitionConfig)
        ));
    }

    #[test]
    fn unary_unspecified_means_wav_and_pcm_keeps_its_settings() {
        assert!(matches!(
            unary_audio(&config(AudioEncoding::EncodingUnspecified, 0, 0)),
            Ok(UnaryAudio::Wav)
        ));
        let pcm = unary_audio(&config(AudioEncoding::Linear16, 22050, 2)).unwrap();
        assert!(matches!(
            pcm,
            UnaryAudio::Pcm(StreamSettings {
                sample_rate_hz: 22050,
                channels: 2,
                interim_results: false,
                ..
            })
        ));
        let mut negative = config(AudioEncoding::Linear16, 16000, 1);
        negative.max_alternatives = -1;
        assert!(matches!(
            unary_audio(&negative),
            Err(RequestError::MaxAlternatives { value: -1, .. })
        ));
    }

    #[test]
    fn pcm_duration_counts_whole_frames() {
        let UnaryAudio::Pcm(stereo) =
            unary_audio(&config(AudioEncoding::Linear16, 8000, 2)).unwrap()
        else {
            panic!("PCM expected");
        };
        // 8000 frames of 4 bytes, plus half a frame.
        assert_eq!(pcm_duration(&stereo, 32_002), Duration::from_secs(1));
        let UnaryAudio::Pcm(zero) = unary_audio(&config(AudioEncoding::Mulaw, 0, 1)).unwrap()
        else {
            panic!("PCM expected");
        };
        assert_eq!(pcm_duration(&zero, 100), Duration::ZERO);
    }

    fn context(phrases: &[&str], boost: f32) -> SpeechContext {
        SpeechContext {
            phrases: phrases.iter().map(|p| p.to_string()).collect(),
            boost,
        }
    }

    #[test]
    fn decode_options_take_alternatives_and_phrases_with_default_boost() {
        let mut c = config(AudioEncoding::Linear16, 16000, 1);
        assert_eq!(decode_options(&c).unwrap(), DecodeOptions::default());
        c.max_alternatives = 3;
        c.speech_contexts = vec![context(&["zebra"], 0.0), context(&["a b", "c"], 2.5)];
        let options = decode_options(&c).unwrap();
        assert_eq!(options.max_alternatives, 3);
        let boosts: Vec<(&str, f32)> = options
            .phrases
            .iter()
            .map(|p| (p.text.as_str(), p.boost))
            .collect();
        assert_eq!(boosts, [("zebra", DEFAULT_BOOST), ("a b", 2.5), ("c", 2.5)]);
    }

    #[test]
    fn decode_options_reject_out_of_range_values() {
        let mut c = config(AudioEncoding::Linear16, 16000, 1);
        c.max_alternatives = MAX_ALTERNATIVES + 1;
        assert!(matches!(
            decode_options(&c),
            Err(RequestError::MaxAlternatives { value: 31, .. })
        ));
        c.max_alternatives = 1;
        for bad in [-1.0, MAX_BOOST + 1.0, f32::NAN] {
            c.speech_contexts = vec![context(&["x"], bad)];
            assert!(matches!(
                decode_options(&c),
                Err(RequestError::Boost { .. })
            ));
        }
        let many: Vec<String> = (0..=MAX_PHRASES).map(|i| format!("w{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        c.speech_contexts = vec![context(&refs, 1.0)];
        assert!(matches!(
            decode_options(&c),
            Err(RequestError::TooManyPhrases { count: 1001, .. })
        ));
        let long = "a".repeat(MAX_PHRASE_CHARS + 1);
        c.speech_contexts = vec![context(&[&long], 1.0)];
        assert!(matches!(
            decode_options(&c),
            Err(RequestError::PhraseTooLong { chars: 101, .. })
        ));
    }
}
