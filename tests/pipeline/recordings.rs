//! The shipped models (the dense baseline and the compressed hybrid, the default) on real
//! recordings: every `tests/data/*.wav` with a sibling `*.txt` transcript must come out
//! within [`MAX_CER`] character error rate.
//!
//! The bound is loose because the first model is weak (see models/README.md); a broken
//! stage anywhere in audio → features → model → decode gives ~100% CER, so it still
//! catches every plumbing fault. Tighten it as better models land.

use crate::common::recordings;
use recordings::recordings;

use compact_asr::eval::ErrorCount;
use compact_asr::pipeline::{Engine, EngineConfig};
use compact_asr::transcribe::transcribe_file;

const SHIPPED: [&str; 2] = ["models/baseline/model.toml", "models/hybrid/model.toml"];

/// Highest character error rate accepted per recording.
const MAX_CER: f64 = 0.20;

#[tokio::test]
async fn shipped_models_transcribe_test_recordings_within_the_cer_bound() {
    let recordings = recordings();
    assert!(
        !recordings.is_empty(),
        "tests/data has no *.wav + *.txt pairs"
    );
    for model in SHIPPED {
        let engine = Engine::load(EngineConfig::new(model)).unwrap();
        for (wav, reference) in &recordings {
            let text = transcribe_file(&engine, wav, 100).await.unwrap();
            let cer = ErrorCount::chars(reference, &text);
            assert!(
                cer.rate() <= MAX_CER,
                "{model}, {}: CER {cer}\n  want {reference:?}\n  got  {text:?}",
                wav.display()
            );
        }
    }
}
