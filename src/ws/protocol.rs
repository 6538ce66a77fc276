//! vosk-server's WebSocket messages, as serde types: what a client may send in text
//! messages, and the JSON the server answers with.
//!
//! Why pure: this is the part of the endpoint a hostile client drives directly, so parsing
//! and validation are kept free of I/O and the model, where unit tests pin every message
//! down. The shapes follow vosk-server (`asr_server.py`) and Vosk's `Result()` /
//! `PartialResult()` JSON, so its clients work unchanged.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audio::Encoding;
use crate::decode::BoostPhrase;
use crate::pipeline::{DecodeOptions, Hypothesis, StreamSettings, WordTiming, SAMPLE_RATES_HZ};
use crate::server::{DEFAULT_BOOST, MAX_ALTERNATIVES};

use super::error::WsError;

/// A text message the endpoint understands.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientText {
    /// `{"config": {...}}`: how to read and answer the audio that follows.
    Config(StreamConfig),
    /// `{"eof" : 1}`: no more audio; send the final result and close.
    Eof,
}

/// One connection's settings, from its optional config message.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// Rate of the 16-bit mono PCM that follows (resampled to the model's rate).
    pub sample_rate_hz: u32,
    /// Finals carry `result`, the words with their times and confidences (vosk-server's
    /// default too).
    pub words: bool,
    /// Above 0, finals are `{"alternatives": [...]}` with up to this many texts.
    pub max_alternatives: usize,
    /// Phrases to favour (boosted in beam search, ignored by greedy decoding; vosk treats
    /// them as a grammar).
    pub phrases: Vec<String>,
}

impl StreamConfig {
    /// The settings of a client that sends no config: PCM at the model's rate, with words.
    pub fn default_for(model_rate_hz: u32) -> StreamConfig {
        StreamConfig {
            sample_rate_hz: model_rate_hz,
            words: true,
            max_alternatives: 0,
            phrases: Vec::new(),
        }
    }

    /// What the engine is told about the audio: LINEAR16 mono, with partials.
    pub fn stream_settings(&self) -> StreamSettings {
        StreamSettings {
            encoding: Encoding::Linear16,
            sample_rate_hz: self.sample_rate_hz,
            channels: 1,
            interim_results: true,
        }
    }

    /// The decoder options: alternatives (at least 1) and boosted phrases.
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            max_alternatives: self.max_alternatives.max(1),
            phrases: self
                .phrases
                .iter()
                .map(|text| BoostPhrase {
                    text: text.clone(),
                    boost: DEFAULT_BOOST,
                })
                .collect(),
        }
    }
}

/// The config fields vosk-server reads that map onto this server's; any other is an error
/// naming the accepted ones (a misspelt key would otherwise be silently ignored).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFields {
    sample_rate: Option<f64>,
    /// vosk-server takes any truthy value (`true`, `1`).
    words: Option<Value>,
    max_alternatives: Option<i64>,
    phrase_list: Option<Vec<String>>,
}

/// Reads a text message; `model_rate_hz` is the rate a config without `sample_rate` means.
pub fn parse_text(text: &str, model_rate_hz: u32) -> Result<ClientText, WsError> {
    let value: Value = serde_json::from_str(text).map_err(|e| WsError::NotJson(e.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(WsError::UnknownMessage(abbreviate(text)));
    };
    if let Some(config) = object.remove("config") {
        let fields: ConfigFields =
            serde_json::from_value(config).map_err(|e| WsError::Config(e.to_string()))?;
        return stream_config(fields, model_rate_hz).map(ClientText::Config);
    }
    if object.contains_key("eof") {
        return Ok(ClientText::Eof);
    }
    Err(WsError::UnknownMessage(abbreviate(text)))
}

fn stream_config(fields: ConfigFields, model_rate_hz: u32) -> Result<StreamConfig, WsError> {
    let sample_rate_hz = match fields.sample_rate {
        None => model_rate_hz,
        Some(rate) => sample_rate(rate)?,
    };
    let words = match fields.words {
        None => true,
        Some(Value::Bool(words)) => words,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(other) => {
            return Err(WsError::Config(format!(
                "words must be true or false, not {other}"
            )))
        }
    };
    let max_alternatives = match fields.max_alternatives {
        None => 0,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_ALTERNATIVES as usize)
            .ok_or_else(|| {
                WsError::Config(format!(
                    "max_alternatives {n} is out of range; use 0 (plain text) to {MAX_ALTERNATIVES}"
                ))
            })?,
    };
    let phrases = fields.phrase_list.unwrap_or_default();
    let longest = phrases.iter().map(|p| p.chars().count()).max().unwrap_or(0);
    if let Some(err) = WsError::phrases(phrases.len(), longest) {
        return Err(err);
    }
    Ok(StreamConfig {
        sample_rate_hz,
        words,
        max_alternatives,
        phrases,
    })
}

/// A whole number of Hz within what the engine resamples from.
fn sample_rate(rate: f64) -> Result<u32, WsError> {
    let (low, high) = (*SAMPLE_RATES_HZ.start(), *SAMPLE_RATES_HZ.end());
    if !(f64::from(low)..=f64::from(high)).contains(&rate) {
        return Err(WsError::Config(format!(
            "sample_rate {rate} Hz is not supported; use {low} to {high} Hz"
        )));
    }
    if rate.fract() != 0.0 {
        return Err(WsError::Config(format!(
            "sample_rate {rate} is not a whole number of Hz"
        )));
    }
    // In range, checked above.
    Ok(rate as u32)
}

/// A message quoted in an error, cut to a readable length.
fn abbreviate(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_CHARS).collect();
    cut.push('…');
    cut
}

/// `{"partial": "hello wor"}`: the utterance in progress.
#[derive(Debug, Serialize)]
struct Partial<'a> {
    partial: &'a str,
}

/// One word of a final: vosk's field names, times in seconds.
#[derive(Debug, Serialize)]
struct Word<'a> {
    conf: f64,
    end: f64,
    start: f64,
    word: &'a str,
}

/// `{"text": "hello world", "result": [...]}`: a final, with words when asked for.
#[derive(Debug, Serialize)]
struct Final<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Vec<Word<'a>>>,
    text: &'a str,
}

/// `{"alternatives": [{"confidence": 0.9, "text": "..."}, ...]}`: a final with n-best texts.
#[derive(Debug, Serialize)]
struct Alternatives<'a> {
    alternatives: Vec<AlternativeText<'a>>,
}

#[derive(Debug, Serialize)]
struct AlternativeText<'a> {
    confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Vec<Word<'a>>>,
    text: &'a str,
}

#[derive(Debug, Serialize)]
struct ErrorReply<'a> {
    error: &'a str,
}

/// The answer to an audio message while no utterance ended in it.
pub fn partial_reply(text: &str) -> String {
    to_json(&Partial { partial: text })
}

/// The answer when an utterance ended (or after eof): vosk's `Result()` shape.
pub fn final_reply(hypothesis: &Hypothesis, config: &StreamConfig) -> String {
    let words = |words| words_if(config.words, words);
    if config.max_alternatives == 0 {
        return to_json(&Final {
            result: words(&hypothesis.words),
            text: &hypothesis.text,
        });
    }
    let best = AlternativeText {
        confidence: rounded(f64::from(hypothesis.confidence)),
        result: words(&hypothesis.words),
        text: &hypothesis.text,
    };
    let others = hypothesis.alternatives.iter().map(|a| AlternativeText {
        confidence: rounded(f64::from(a.confidence)),
        result: words(&a.words),
        text: &a.text,
    });
    let alternatives = std::iter::once(best)
        .chain(others)
        .take(config.max_alternatives)
        .collect();
    to_json(&Alternatives { alternatives })
}

/// `{"error": "…"}`, sent just before the close frame.
pub fn error_reply(message: &str) -> String {
    to_json(&ErrorReply { error: message })
}

/// Several utterances that ended within one audio message (or at eof) as one final, so
/// each message still gets exactly one answer (clients like vosk's `test.py` read one reply
/// per message sent). The texts and words are joined; alternatives only stay for one.
pub fn merge_finals(mut finals: Vec<Hypothesis>) -> Option<Hypothesis> {
    let spoken = finals.iter().filter(|h| !h.text.is_empty()).count();
    if spoken <= 1 {
        // The spoken one if any, else the last (empty) one.
        let index = finals
            .iter()
            .position(|h| !h.text.is_empty())
            .or(finals.len().checked_sub(1))?;
        return Some(finals.swap_remove(index));
    }
    let start_time = finals.first()?.start_time;
    let end_time = finals.last()?.end_time;
    let spoken: Vec<Hypothesis> = finals.into_iter().filter(|h| !h.text.is_empty()).collect();
    let confidence = spoken.iter().map(|h| h.confidence).sum::<f32>() / spoken.len() as f32;
    let text = spoken
        .iter()
        .map(|h| h.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Some(Hypothesis {
        text,
        confidence,
        start_time,
        end_time,
        words: spoken.into_iter().flat_map(|h| h.words).collect(),
        stability: 0.0,
        alternatives: Vec::new(),
    })
}

/// `result`: the words, when the config asks for them.
fn words_if(wanted: bool, words: &[WordTiming]) -> Option<Vec<Word<'_>>> {
    wanted.then(|| words.iter().map(word).collect())
}

fn word(w: &WordTiming) -> Word<'_> {
    Word {
        conf: rounded(f64::from(w.confidence)),
        end: rounded(w.end.as_secs_f64()),
        start: rounded(w.start.as_secs_f64()),
        word: &w.word,
    }
}

/// Three decimals, as readable as vosk's output (and NaN-free: JSON has no NaN).
fn rounded(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// Serialising these plain structs cannot fail; should it, the client still gets JSON.
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        let message = Value::String(format!("cannot encode the reply: {e}"));
        format!("{{\"error\": {message}}}")
    })
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
