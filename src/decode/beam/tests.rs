//! Unit tests of the prefix beam search (own file: the search is long enough alone).

use super::*;
use crate::decode::boost::BoostPhrase;
use crate::decode::CtcGreedy;

const VOCAB: [&str; 6] = ["<blank>", " ", "a", "b", "c", "t"];

fn tokens() -> Vec<String> {
    VOCAB.iter().map(|s| s.to_string()).collect()
}

/// Frames from per-frame probability lists (unlisted tokens share what is left).
fn frames(rows: &[&[(usize, f32)]]) -> Vec<f32> {
    rows.iter()
        .flat_map(|row| {
            let listed: f32 = row.iter().map(|(_, p)| p).sum();
            let rest = (1.0 - listed).max(1e-6) / (VOCAB.len() - row.len()) as f32;
            (0..VOCAB.len()).map(move |i| {
                row.iter()
                    .find(|(t, _)| *t == i)
                    .map_or(rest, |(_, p)| *p)
                    .ln()
            })
        })
        .collect()
}

fn search(config: BeamConfig) -> BeamSearch {
    BeamSearch::new(config, 0, tokens(), None, None)
}

#[test]
fn agrees_with_greedy_on_peaked_frames_and_keeps_timings() {
    let f = frames(&[
        &[(2, 0.9)],
        &[(2, 0.9)],
        &[(0, 0.9)],
        &[(2, 0.9)],
        &[(1, 0.9)],
        &[(3, 0.9)],
    ]);
    let mut beam = search(BeamConfig::default());
    beam.push(&f, VOCAB.len()).unwrap();
    let mut greedy = CtcGreedy::new(0, tokens());
    greedy.push(&f, VOCAB.len()).unwrap();
    let best = beam.best().unwrap();
    assert_eq!(best.text, "aa b");
    assert_eq!(best.text, greedy.text());
    assert_eq!(best.emitted, greedy.emitted());
    assert_eq!(best.words, greedy.words());
}

#[test]
fn sums_alignments_where_greedy_takes_the_best_path() {
    // Per frame the blank wins (0.4), but "a" (0.35 + 0.35) is in most alignments:
    // P("a") = 1 - P(blank, blank) - ... > P("").
    let f = frames(&[&[(0, 0.4), (2, 0.35)], &[(0, 0.4), (2, 0.35)]]);
    let mut greedy = CtcGreedy::new(0, tokens());
    greedy.push(&f, VOCAB.len()).unwrap();
    assert_eq!(greedy.text(), "");
    // Other tokens (0.0625 each) are not tried, so only "a" and "" compete.
    let mut beam = search(BeamConfig {
        token_min_log_prob: 0.1f32.ln(),
        ..BeamConfig::default()
    });
    beam.push(&f, VOCAB.len()).unwrap();
    let finals = beam.finals();
    assert_eq!(finals[0].text, "a");
    // P("a") = .35*.35 + .35*.4 + .4*.35 = 0.4025.
    assert!((finals[0].score - 0.4025f32.ln()).abs() < 1e-4);
    assert_eq!(finals[1].text, "");
}

#[test]
fn streaming_in_pieces_equals_one_push() {
    let f = frames(&[
        &[(2, 0.5), (3, 0.3)],
        &[(0, 0.6), (2, 0.3)],
        &[(1, 0.5), (3, 0.4)],
        &[(3, 0.5), (4, 0.4)],
        &[(0, 0.5), (5, 0.4)],
    ]);
    let mut whole = search(BeamConfig::default());
    whole.push(&f, VOCAB.len()).unwrap();
    let mut pieces = search(BeamConfig::default());
    for row in f.chunks(VOCAB.len()) {
        pieces.push(row, VOCAB.len()).unwrap();
    }
    assert_eq!(pieces.finals(), whole.finals());
    assert_eq!(pieces.frames_seen(), 5);
    pieces.reset();
    assert_eq!(pieces.frames_seen(), 0);
    assert_eq!(pieces.best().unwrap().text, "");
}

#[test]
fn a_boosted_phrase_wins_an_acoustic_near_tie() {
    // "cat" vs "bat": the first letter is 0.5 b / 0.4 c.
    let f = frames(&[&[(3, 0.5), (4, 0.4)], &[(2, 0.9)], &[(5, 0.9)]]);
    let mut plain = search(BeamConfig::default());
    plain.push(&f, VOCAB.len()).unwrap();
    assert_eq!(plain.finals()[0].text, "bat");
    let boost = PhraseBoost::new(
        &[BoostPhrase {
            text: "cat".into(),
            boost: 1.0,
        }],
        |c| c.is_ascii_lowercase(),
    )
    .unwrap();
    let mut boosted = BeamSearch::new(
        BeamConfig::default(),
        0,
        tokens(),
        None,
        Some(Arc::new(boost)),
    );
    boosted.push(&f, VOCAB.len()).unwrap();
    assert_eq!(boosted.finals()[0].text, "cat");
}

#[test]
fn the_lm_picks_the_likely_word_and_narrow_beams_still_decode() {
    let lm = NgramLm::parse(
        "\\data\\\nngram 1=5\n\n\\1-grams:\n-1\t<unk>\n-99\t<s>\n-1\t</s>\n-0.2\tcat\n-3\tbat\n\\end\\\n",
    )
    .unwrap();
    let f = frames(&[&[(3, 0.5), (4, 0.4)], &[(2, 0.9)], &[(5, 0.9)]]);
    let mut with_lm = BeamSearch::new(BeamConfig::default(), 0, tokens(), Some(Arc::new(lm)), None);
    with_lm.push(&f, VOCAB.len()).unwrap();
    assert_eq!(with_lm.finals()[0].text, "cat");
    let mut narrow = search(BeamConfig {
        beam_width: 1,
        ..BeamConfig::default()
    });
    narrow.push(&f, VOCAB.len()).unwrap();
    assert_eq!(narrow.finals().len(), 1);
    assert_eq!(narrow.finals()[0].text, "bat");
}

#[test]
fn rejects_mismatched_input() {
    let mut s = search(BeamConfig::default());
    assert!(matches!(
        s.push(&[0.0; 7], 7),
        Err(DecodeError::VocabMismatch { .. })
    ));
    assert!(matches!(
        s.push(&[0.0; 7], 6),
        Err(DecodeError::RaggedInput { .. })
    ));
}
