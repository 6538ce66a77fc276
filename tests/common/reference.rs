//! A model folder's `reference/` utterance (features and the exporting runtime's
//! log-probs, docs/model-contract.md) and tract runs over it in chunks carrying state.
//!
//! Shared (via `#[path]`) by the runtime tests of the dense models and of the compact variants.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::sync::Arc;

use compact_asr::model::AcousticModel;

pub struct Reference {
    pub features: Vec<f32>,
    pub log_probs: Vec<f32>,
    pub frames: usize,
    pub dim: usize,
    pub vocab: usize,
    pub text: String,
}

pub fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

pub fn read_reference(model_dir: &Path) -> Reference {
    let dir = model_dir.join("reference");
    let meta: toml::Table = std::fs::read_to_string(dir.join("reference.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let int = |key: &str| meta[key].as_integer().unwrap() as usize;
    let r = Reference {
        features: read_f32(&dir.join("features.f32")),
        log_probs: read_f32(&dir.join("log_probs.f32")),
        frames: int("frames"),
        dim: int("dim"),
        vocab: int("vocab"),
        text: meta["text"].as_str().unwrap().to_string(),
    };
    assert_eq!(r.features.len(), r.frames * r.dim);
    assert_eq!(r.log_probs.len(), r.frames * r.vocab);
    r
}

/// Runs `features` split into chunks of the given frame counts (cycled), carrying state.
pub fn run_chunked(
    model: &Arc<AcousticModel>,
    features: &[f32],
    chunk_frames: &[usize],
) -> Vec<f32> {
    let dim = model.input_dim();
    let mut session = model.session();
    let mut out = Vec::new();
    let mut start = 0;
    for &n in chunk_frames.iter().cycle() {
        if start >= features.len() {
            break;
        }
        let end = (start + n * dim).min(features.len());
        out.extend(session.run(&features[start..end]).unwrap());
        start = end;
    }
    out
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
