//! Decoder comparison on held-out manifests: WER of greedy, beam, beam + LM and boosted
//! phrases, the decoders' cost per model frame, and how long after the end of speech the
//! endpointer emits a final.
//!
//! The model runs once per utterance; every decoder then reads the same log-probs, so the
//! table compares decoding alone. Boosting is evaluated the way applications use it: each
//! utterance gets a context of its own `--boost-words` rarest reference words (by LM
//! unigram probability; think contact names) plus as many distractors taken from another
//! utterance, and the table reports how many targets were recognised and how many
//! distractors were wrongly inserted.
//!
//!     cargo run --release --example decode_eval -- \
//!         --manifest models/recipe/work/manifests/test.tsv --limit 60

#[path = "../tests/common/log_probs.rs"]
mod log_probs;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use compact_asr::decode::{
    BeamConfig, BoostPhrase, DecoderConfig, EndpointConfig, LmState, NgramLm, PhraseBoost,
    SearchMode, StreamingDecoder,
};
use compact_asr::eval::{read_manifest, ErrorCount};
use log_probs::Model;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "models/baseline/model.toml")]
    model: PathBuf,
    #[arg(long, default_value = "models/baseline/lm.arpa")]
    lm: PathBuf,
    /// Manifests to score (each scored on its own).
    #[arg(long, required = true)]
    manifest: Vec<PathBuf>,
    /// Utterances per manifest (evenly spread over it; 0: all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    #[arg(long, default_value_t = 16)]
    beam_width: usize,
    #[arg(long, default_value_t = BeamConfig::default().lm_weight)]
    alpha: f32,
    #[arg(long, default_value_t = BeamConfig::default().word_bonus)]
    beta: f32,
    #[arg(long, default_value_t = 5.0)]
    boost: f32,
    #[arg(long, default_value_t = 2)]
    boost_words: usize,
}

struct Utt {
    reference: String,
    frames: Vec<f32>,
    /// Frames of the utterance with 2 s of silence after it, for endpoint latency.
    padded: Vec<f32>,
}

struct Tally {
    errors: ErrorCount,
    decode: Duration,
    frames: u64,
    targets: usize,
    targets_hit: usize,
    distractors_inserted: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let model = Model::load(&args.model);
    let lm = Arc::new(NgramLm::load(&args.lm)?);
    let beam = BeamConfig {
        beam_width: args.beam_width,
        lm_weight: args.alpha,
        word_bonus: args.beta,
        ..BeamConfig::default()
    };
    println!(
        "model {} | lm {} (order {}) | beam {} alpha {} beta {} boost {}",
        args.model.display(),
        args.lm.display(),
        lm.order(),
        args.beam_width,
        args.alpha,
        args.beta,
        args.boost
    );
    for manifest in &args.manifest {
        let mut entries = read_manifest(manifest)?;
        if args.limit > 0 && entries.len() > args.limit {
            let step = entries.len() as f64 / args.limit as f64;
            entries = (0..args.limit)
                .map(|i| entries[(i as f64 * step) as usize].clone())
                .collect();
        }
        let utts: Vec<Utt> = entries
            .iter()
            .map(|e| {
                let samples = model.samples(&e.path, 2.0);
                let speech = samples.len() - 2 * model.spec.features.sample_rate as usize;
                Utt {
                    reference: e.text.clone(),
                    frames: model.log_probs(&samples[..speech]),
                    padded: model.log_probs(&samples),
                }
            })
            .collect();
        let contexts = contexts(&utts, &lm, args.boost_words);
        println!("\n{} — {} utterances", manifest.display(), utts.len());
        println!("| decoder | WER | ms / frame | boosted words found | distractors inserted |");
        println!("|---|---|---|---|---|");
        let configs: [(&str, SearchMode, bool, bool); 5] = [
            ("greedy", SearchMode::Greedy, false, false),
            ("beam", SearchMode::Beam(beam.clone()), false, false),
            ("beam + boost", SearchMode::Beam(beam.clone()), false, true),
            ("beam + LM", SearchMode::Beam(beam.clone()), true, false),
            (
                "beam + LM + boost",
                SearchMode::Beam(beam.clone()),
                true,
                true,
            ),
        ];
        for (name, mode, use_lm, use_boost) in configs {
            let boost = use_boost.then_some(args.boost);
            let t = score(
                &model,
                &utts,
                &contexts,
                &mode,
                use_lm.then(|| lm.clone()),
                boost,
            );
            let found = if boost.is_some() {
                format!("{}/{}", t.targets_hit, t.targets)
            } else {
                format!("({}/{})", t.targets_hit, t.targets)
            };
            println!(
                "| {name} | {:.2} % | {:.3} | {found} | {} |",
                100.0 * t.errors.rate(),
                t.decode.as_secs_f64() * 1e3 / t.frames.max(1) as f64,
                t.distractors_inserted
            );
        }
        latency(&model, &utts, &beam, &lm);
    }
    Ok(())
}

/// Per utterance: (targets, distractors), each a list of single-word phrases.
fn contexts(utts: &[Utt], lm: &NgramLm, n: usize) -> Vec<(Vec<String>, Vec<String>)> {
    let rarest = |text: &str| {
        let mut words: Vec<(f32, String)> = text
            .split_whitespace()
            .filter(|w| w.len() >= 4)
            .map(|w| (lm.score(&LmState::default(), w).0, w.to_string()))
            .collect();
        words.sort_by(|a, b| a.0.total_cmp(&b.0));
        words.dedup_by(|a, b| a.1 == b.1);
        words
            .into_iter()
            .take(n)
            .map(|(_, w)| w)
            .collect::<Vec<_>>()
    };
    (0..utts.len())
        .map(|i| {
            let targets = rarest(&utts[i].reference);
            let other = &utts[(i + utts.len() / 2 + 1) % utts.len()].reference;
            let distractors = rarest(other)
                .into_iter()
                .filter(|w| !utts[i].reference.split(' ').any(|r| r == w))
                .collect();
            (targets, distractors)
        })
        .collect()
}

fn score(
    model: &Model,
    utts: &[Utt],
    contexts: &[(Vec<String>, Vec<String>)],
    mode: &SearchMode,
    lm: Option<Arc<NgramLm>>,
    boost: Option<f32>,
) -> Tally {
    let mut t = Tally {
        errors: ErrorCount::default(),
        decode: Duration::ZERO,
        frames: 0,
        targets: 0,
        targets_hit: 0,
        distractors_inserted: 0,
    };
    let config = DecoderConfig {
        mode: mode.clone(),
        max_alternatives: 1,
        endpoint: None,
        stability_window: 3,
    };
    for (utt, (targets, distractors)) in utts.iter().zip(contexts) {
        let boost = boost
            .and_then(|weight| {
                let phrases: Vec<BoostPhrase> = targets
                    .iter()
                    .chain(distractors)
                    .map(|w| BoostPhrase {
                        text: w.clone(),
                        boost: weight,
                    })
                    .collect();
                PhraseBoost::new(&phrases, |c| c.is_ascii_lowercase() || c == '\'').ok()
            })
            .map(Arc::new);
        let mut d = StreamingDecoder::new(
            &config,
            model.spec.vocab.blank_id,
            model.tokens(),
            model.spec.model_frame_duration(),
            lm.clone(),
            boost,
        );
        let started = Instant::now();
        for chunk in utt.frames.chunks(8 * model.vocab()) {
            d.push(chunk, model.vocab()).expect("decode");
        }
        let text = d.finish().candidates.remove(0).text;
        t.decode += started.elapsed();
        t.frames += (utt.frames.len() / model.vocab()) as u64;
        t.errors.add(ErrorCount::words(&utt.reference, &text));
        let said: Vec<&str> = text.split(' ').collect();
        t.targets += targets.len();
        t.targets_hit += targets
            .iter()
            .filter(|w| said.contains(&w.as_str()))
            .count();
        t.distractors_inserted += distractors
            .iter()
            .filter(|w| said.contains(&w.as_str()))
            .count();
    }
    t
}

/// Audio time from the end of the last word to the endpoint's final, over utterances
/// followed by 2 s of silence (beam + LM, default endpoint rules).
fn latency(model: &Model, utts: &[Utt], beam: &BeamConfig, lm: &Arc<NgramLm>) {
    let config = DecoderConfig {
        mode: SearchMode::Beam(beam.clone()),
        max_alternatives: 1,
        endpoint: Some(EndpointConfig::default()),
        stability_window: 3,
    };
    let frame = model.spec.model_frame_duration().as_secs_f64();
    let mut latencies = Vec::new();
    let mut missed = 0;
    for utt in utts {
        let mut d = StreamingDecoder::new(
            &config,
            model.spec.vocab.blank_id,
            model.tokens(),
            model.spec.model_frame_duration(),
            Some(lm.clone()),
            None,
        );
        let mut finals = Vec::new();
        for chunk in utt.padded.chunks(8 * model.vocab()) {
            finals.extend(d.push(chunk, model.vocab()).expect("decode"));
        }
        // The last final before the padding ran out; the speech ends at its last word.
        match finals
            .last()
            .and_then(|u| Some((u.end_frame, u.candidates[0].words.last()?.end_frame)))
        {
            Some((end, last_word)) => latencies.push((end - last_word - 1) as f64 * frame),
            None => missed += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    if latencies.is_empty() {
        println!("endpoint latency: no final before the stream ended ({missed} utterances)");
        return;
    }
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "endpoint latency after the last word (audio time, rule 0.8 s): median {:.2} s, p90 {:.2} s, max {:.2} s; {} of {} utterances got no final before 2 s of silence ran out",
        at(0.5),
        at(0.9),
        at(1.0),
        missed,
        utts.len()
    );
}
