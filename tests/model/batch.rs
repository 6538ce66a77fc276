//! The batch scheduler against unbatched runs: streams of different lengths, chunk sizes
//! and arrival times, run through shared batches, must each get exactly what they get
//! alone (no state leaking between rows), and a stream alone must not wait for company.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use compact_asr::error::AsrError;
use compact_asr::model::{AcousticModel, BatchConfig, BatchScheduler, ModelSpec};

use crate::common::reference::max_abs_diff;

const TINY: &str = "tests/data/tiny_model";
const BASELINE: &str = "models/baseline";

fn load(model_dir: &str) -> (Arc<AcousticModel>, Vec<f32>) {
    let dir = Path::new(model_dir);
    let spec = ModelSpec::load(&dir.join("model.toml")).unwrap();
    let model = Arc::new(AcousticModel::load(&spec, Some(4)).unwrap());
    let bytes = std::fs::read(dir.join("reference/features.f32")).unwrap();
    let features = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (model, features)
}

fn scheduler(model: &Arc<AcousticModel>, max_batch: usize, wait_ms: u64) -> Arc<BatchScheduler> {
    let config = BatchConfig {
        max_batch,
        max_wait: Duration::from_millis(wait_ms),
        workers: 2,
    };
    Arc::new(BatchScheduler::start(Arc::clone(model), config).unwrap())
}

/// Stream `k`'s features: the reference rotated and scaled differently per stream, cut to a
/// stream-specific length, so every stream's input (and state) differs.
fn stream_features(reference: &[f32], dim: usize, k: usize) -> Vec<f32> {
    let frames = reference.len() / dim;
    let keep = frames - (k * 3) % (frames / 2);
    let rotated = reference[(k * 5 % frames) * dim..]
        .iter()
        .chain(reference)
        .take(keep * dim);
    rotated.map(|x| x * (1.0 + 0.1 * k as f32)).collect()
}

/// Splits `n` frames into chunks of mostly `chunk` frames, with a stream-specific odd one.
fn chunk_sizes(n: usize, chunk: usize, k: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = n;
    let mut i = 0;
    while left > 0 {
        let size = if i == k % 3 + 1 {
            chunk + k % 2 + 1
        } else {
            chunk
        }
        .min(left);
        sizes.push(size);
        left -= size;
        i += 1;
    }
    sizes
}

#[test]
fn batched_streams_equal_their_unbatched_runs_whatever_the_arrivals() {
    let (model, reference) = load(TINY);
    let dim = model.input_dim();
    let sched = scheduler(&model, 8, 3);
    let streams = 12;
    let workers: Vec<_> = (0..streams)
        .map(|k| {
            let (model, sched) = (Arc::clone(&model), Arc::clone(&sched));
            let features = stream_features(&reference, dim, k);
            std::thread::spawn(move || {
                let sizes = chunk_sizes(features.len() / dim, 4, k);
                // Staggered starts and uneven pauses: streams meet in batches at random.
                std::thread::sleep(Duration::from_millis((k * 7 % 11) as u64));
                let mut batched = sched.session();
                let mut alone = model.session();
                let (mut got, mut want) = (Vec::new(), Vec::new());
                let mut start = 0;
                for (i, n) in sizes.into_iter().enumerate() {
                    let chunk = &features[start * dim..(start + n) * dim];
                    got.extend(batched.run(chunk).unwrap());
                    want.extend(alone.run(chunk).unwrap());
                    start += n;
                    std::thread::sleep(Duration::from_millis(((k + i) % 4) as u64));
                }
                max_abs_diff(&got, &want)
            })
        })
        .collect();
    for (k, worker) in workers.into_iter().enumerate() {
        let diff = worker.join().unwrap();
        assert!(diff < 1e-5, "stream {k}: max |batched - alone| = {diff}");
    }
    let stats = sched.stats();
    assert!(
        stats.calls < stats.chunks,
        "no chunks were batched: {stats:?}"
    );
}

/// The shipped 3x320 LSTM: four different streams in one batch, each against its own run.
#[test]
fn baseline_model_batch_rows_equal_single_runs() {
    let (model, reference) = load(BASELINE);
    let dim = model.input_dim();
    let streams = 4;
    let sched = scheduler(&model, streams, 2_000);
    let barrier = Arc::new(Barrier::new(streams));
    let workers: Vec<_> = (0..streams)
        .map(|k| {
            let (model, sched, barrier) =
                (Arc::clone(&model), Arc::clone(&sched), Arc::clone(&barrier));
            let features = stream_features(&reference, dim, k)[..20 * dim].to_vec();
            std::thread::spawn(move || {
                let mut batched = sched.session();
                let mut got = Vec::new();
                for chunk in features.chunks(4 * dim) {
                    barrier.wait();
                    got.extend(batched.run(chunk).unwrap());
                }
                max_abs_diff(&got, &model.session().run(&features).unwrap())
            })
        })
        .collect();
    for (k, worker) in workers.into_iter().enumerate() {
        let diff = worker.join().unwrap();
        assert!(diff < 1e-5, "stream {k}: max |batched - alone| = {diff}");
    }
    // Every stream was open and waiting, so each step ran as one call of all four.
    let stats = sched.stats();
    assert_eq!((stats.calls, stats.chunks), (5, 20), "{stats:?}");
}

#[test]
fn a_stream_alone_does_not_wait_for_company() {
    let (model, reference) = load(TINY);
    let sched = scheduler(&model, 64, 1_000);
    let mut session = sched.session();
    let chunk = &reference[..4 * model.input_dim()];
    let started = Instant::now();
    for _ in 0..5 {
        session.run(chunk).unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "5 chunks took {:?} with a 1 s batch wait",
        started.elapsed()
    );
    assert_eq!(sched.stats().calls, 5);
}

#[test]
fn empty_partial_and_invalid_chunks() {
    let (model, reference) = load(TINY);
    let sched = scheduler(&model, 4, 1);
    let mut session = sched.session();
    assert!(session.run(&[]).unwrap().is_empty());
    assert!(matches!(
        session.run(&reference[..10]),
        Err(AsrError::Internal(_))
    ));
    // The rejected chunk left the state alone: the next run equals a fresh session's.
    let chunk = &reference[..3 * model.input_dim()];
    assert_eq!(
        session.run(chunk).unwrap(),
        model.session().run(chunk).unwrap()
    );
    let zero = BatchConfig {
        max_batch: 0,
        ..BatchConfig::default()
    };
    assert!(matches!(
        BatchScheduler::start(Arc::clone(&model), zero),
        Err(AsrError::InvalidConfig(_))
    ));
}
