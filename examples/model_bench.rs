//! Per-frame cost of a model in tract, unbatched and batched: the Rust half of
//! `bench/model_bench.sh` (bench/ort_bench.py is the onnxruntime half, same ONNX, same
//! chunk length, one thread).
//!
//! Usage: `cargo run --release --example model_bench -- MODEL.toml [CHUNK_FRAMES] [BATCHES]`
//! e.g. `... models/baseline/model.toml 4 1,8,32,64`. Prints one JSON line per batch size:
//! microseconds per model call, per stream-frame, and the real-time streams one core holds
//! at that cost.

/// The allocator the server runs with (Cargo.toml says why), so benchmarks measure it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use compact_asr::model::{AcousticModel, ModelSpec, RecurrentState};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let toml = PathBuf::from(
        args.next()
            .unwrap_or_else(|| compact_asr::config::DEFAULT_MODEL.into()),
    );
    let chunk: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let batches: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1,8,32,64".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let spec = ModelSpec::load(&toml)?;
    let frame_seconds = spec.model_frame_duration().as_secs_f64();
    let loading = Instant::now();
    let model = Arc::new(AcousticModel::load(&spec, Some(chunk))?);
    eprintln!(
        "model loaded (plans optimised) in {} ms",
        loading.elapsed().as_millis()
    );
    let dim = model.input_dim();
    // Deterministic log-mel-like values; the cost does not depend on them.
    let frames: Vec<f32> = (0..chunk * dim)
        .map(|i| ((i * 7919 % 1000) as f32 / 100.0) - 5.0)
        .collect();
    for &batch in &batches {
        let mut states: Vec<RecurrentState> = (0..batch).map(|_| model.zero_state()).collect();
        let mut call = || -> anyhow::Result<()> {
            let mut jobs: Vec<(&[f32], &mut RecurrentState)> =
                states.iter_mut().map(|s| (frames.as_slice(), s)).collect();
            model.run_batch(chunk, &mut jobs)?;
            Ok(())
        };
        for _ in 0..3 {
            call()?;
        }
        // At least 2 s or 20 calls of measurement.
        let started = Instant::now();
        let mut calls = 0u32;
        while calls < 20 || started.elapsed() < Duration::from_secs(2) {
            call()?;
            calls += 1;
        }
        let per_call = started.elapsed().as_secs_f64() / f64::from(calls);
        let per_frame = per_call / (batch * chunk) as f64;
        println!(
            "{{\"runtime\": \"tract\", \"model\": \"{}\", \"batch\": {batch}, \"chunk_frames\": {chunk}, \
             \"us_per_call\": {:.1}, \"us_per_stream_frame\": {:.2}, \"realtime_streams_per_core\": {:.0}}}",
            spec.model.name,
            per_call * 1e6,
            per_frame * 1e6,
            frame_seconds / per_frame
        );
    }
    Ok(())
}
