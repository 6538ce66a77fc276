use std::time::Duration;

use serde_json::json;

use super::*;
use crate::pipeline::Alternative;

fn config(text: &str) -> Result<StreamConfig, WsError> {
    match parse_text(text, 16_000)? {
        ClientText::Config(config) => Ok(config),
        ClientText::Eof => panic!("{text}: config expected"),
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn hypothesis(text: &str, words: &[(&str, u64, u64)]) -> Hypothesis {
    Hypothesis {
        text: text.into(),
        confidence: 0.8,
        start_time: Duration::ZERO,
        end_time: Duration::from_millis(900),
        words: words
            .iter()
            .map(|&(word, start, end)| WordTiming {
                word: word.into(),
                start: Duration::from_millis(start),
                end: Duration::from_millis(end),
                confidence: 0.75,
            })
            .collect(),
        stability: 0.0,
        alternatives: Vec::new(),
    }
}

#[test]
fn vosk_messages_are_understood() {
    let c = config(r#"{ "config" : { "sample_rate" : 8000 } }"#).unwrap();
    assert_eq!(c.sample_rate_hz, 8000);
    assert!(c.words, "words by default, as vosk-server");
    assert_eq!(c.max_alternatives, 0);
    let full = config(
        r#"{"config": {"sample_rate": 44100.0, "words": 0, "max_alternatives": 3,
            "phrase_list": ["hello world", "zebra"]}}"#,
    )
    .unwrap();
    assert_eq!(full.sample_rate_hz, 44_100);
    assert!(!full.words);
    assert_eq!(full.decode_options().max_alternatives, 3);
    assert_eq!(full.decode_options().phrases[1].text, "zebra");
    assert_eq!(
        config(r#"{"config": {}}"#).unwrap(),
        StreamConfig::default_for(16_000)
    );
    for eof in [r#"{"eof" : 1}"#, r#"{"eof":1}"#, r#"{ "eof": true }"#] {
        assert_eq!(parse_text(eof, 16_000).unwrap(), ClientText::Eof, "{eof}");
    }
    let settings = c.stream_settings();
    assert_eq!(settings.encoding, Encoding::Linear16);
    assert_eq!((settings.channels, settings.interim_results), (1, true));
}

#[test]
fn bad_configs_name_what_to_fix() {
    let cases = [
        (
            r#"{"config": {"sample_rate": 4000}}"#,
            "use 8000 to 48000 Hz",
        ),
        (
            r#"{"config": {"sample_rate": 96000}}"#,
            "sample_rate 96000 Hz",
        ),
        (r#"{"config": {"sample_rate": 16000.5}}"#, "whole number"),
        (r#"{"config": {"sample_rate": "fast"}}"#, "invalid type"),
        (
            r#"{"config": {"sample_rte": 16000}}"#,
            "unknown field `sample_rte`",
        ),
        (
            r#"{"config": {"max_alternatives": 31}}"#,
            "use 0 (plain text) to 30",
        ),
        (
            r#"{"config": {"max_alternatives": -1}}"#,
            "max_alternatives -1",
        ),
        (
            r#"{"config": {"words": "yes"}}"#,
            "words must be true or false",
        ),
        (r#"{"config": 5}"#, "invalid type"),
    ];
    for (text, expected) in cases {
        let err = config(text).unwrap_err();
        assert!(matches!(err, WsError::Config(_)), "{text}: {err:?}");
        assert!(err.to_string().contains(expected), "{text}: {err}");
        assert_eq!(err.close_code(), 1007);
    }
    let long = format!(
        r#"{{"config": {{"phrase_list": ["{}"]}}}}"#,
        "a".repeat(101)
    );
    assert!(config(&long)
        .unwrap_err()
        .to_string()
        .contains("101 characters"));
}

#[test]
fn other_text_is_unsupported_data() {
    let not_json = parse_text("hello", 16_000).unwrap_err();
    assert!(matches!(not_json, WsError::NotJson(_)), "{not_json:?}");
    assert_eq!(not_json.close_code(), 1003);
    for text in [r#"{"reset" : 1}"#, "[1, 2]", "42"] {
        let err = parse_text(text, 16_000).unwrap_err();
        assert!(matches!(err, WsError::UnknownMessage(_)), "{text}: {err:?}");
        assert!(err.to_string().contains("{\"eof\" : 1}"), "{err}");
    }
    let long = format!(r#"{{"x": "{}"}}"#, "y".repeat(500));
    assert!(parse_text(&long, 16_000).unwrap_err().to_string().len() < 300);
}

#[test]
fn replies_have_vosks_shapes() {
    assert_eq!(
        json(&partial_reply("hello wor")),
        json!({"partial": "hello wor"})
    );
    let h = hypothesis("hello world", &[("hello", 120, 500), ("world", 500, 900)]);
    let words = StreamConfig::default_for(16_000);
    assert_eq!(
        json(&final_reply(&h, &words)),
        json!({"text": "hello world", "result": [
            {"conf": 0.75, "start": 0.12, "end": 0.5, "word": "hello"},
            {"conf": 0.75, "start": 0.5, "end": 0.9, "word": "world"},
        ]})
    );
    let plain = StreamConfig {
        words: false,
        ..words.clone()
    };
    assert_eq!(
        json(&final_reply(&h, &plain)),
        json!({"text": "hello world"})
    );
    let mut two = h.clone();
    two.alternatives = vec![Alternative {
        text: "hollow world".into(),
        confidence: 0.125,
        words: Vec::new(),
    }];
    let alternatives = StreamConfig {
        max_alternatives: 2,
        words: false,
        ..words
    };
    assert_eq!(
        json(&final_reply(&two, &alternatives)),
        json!({"alternatives": [
            {"confidence": 0.8, "text": "hello world"},
            {"confidence": 0.125, "text": "hollow world"},
        ]})
    );
    assert_eq!(
        json(&error_reply("bad \"config\"")),
        json!({"error": "bad \"config\""})
    );
}

#[test]
fn finals_of_one_message_merge_into_one_reply() {
    assert_eq!(merge_finals(Vec::new()), None);
    let empty = hypothesis("", &[]);
    assert_eq!(merge_finals(vec![empty.clone()]), Some(empty.clone()));
    let one = hypothesis("hello", &[("hello", 0, 400)]);
    assert_eq!(
        merge_finals(vec![one.clone(), empty.clone()]),
        Some(one.clone())
    );
    let two = hypothesis("world", &[("world", 1000, 1400)]);
    let merged = merge_finals(vec![one, empty, two]).unwrap();
    assert_eq!(merged.text, "hello world");
    let words: Vec<&str> = merged.words.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(words, ["hello", "world"]);
}
