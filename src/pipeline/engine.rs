//! The engine: one loaded model, its batch scheduler and stream admission, shared by every
//! stream of a process.
//!
//! The server, `transcribe` and `eval` all go through [`Engine::open_stream`], so they
//! recognise with the very same code and settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::audio::PcmDecoder;
use crate::decode::{DecoderConfig, NgramLm, SearchMode};
use crate::error::AsrError;
use crate::model::{AcousticModel, Admission, BatchConfig, BatchScheduler, ModelSpec};
use crate::pipeline::decoding::{stream_decoder, DecodeOptions};
use crate::pipeline::stream::{Pacing, RecognitionStream, StreamSettings};

/// Lowest and highest client sample rates accepted (resampled to the model's rate).
pub const SAMPLE_RATES_HZ: std::ops::RangeInclusive<u32> = 8_000..=48_000;
/// Most interleaved channels accepted (downmixed to mono).
pub const MAX_CHANNELS: u16 = 8;

/// How to load and run the model.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The model's `model.toml`.
    pub model_path: PathBuf,
    /// Streams that may recognise at once (admission; the model runs in shared batches).
    pub pool_size: usize,
    /// How concurrent streams' chunks are batched into model calls.
    pub batch: BatchConfig,
    /// How long `open_stream` waits for a free session before giving up.
    pub acquire_timeout: Duration,
    /// Audio per model run: longer runs cost less per second, shorter ones answer sooner.
    pub chunk_ms: u32,
    /// Least audio between two partial results of a stream.
    pub interim_interval_ms: u32,
    /// Search (greedy or beam), endpointing and partial stability for every stream;
    /// `max_alternatives` is each request's own.
    pub decoder: DecoderConfig,
    /// ARPA word LM for beam search, loaded once; `None`: no LM (it is never implied).
    pub lm: Option<PathBuf>,
}

impl EngineConfig {
    /// Defaults for everything but the model: 512 streams (what 2 cores hold at chunk p95
    /// under 300 ms with the default model and its beam + LM decoding, docs/benchmarks.md;
    /// past that, latency protection: new streams wait, then RESOURCE_EXHAUSTED),
    /// [`BatchConfig::default`], 5 s wait, 120 ms chunks, partials at most every 160 ms, [`DecoderConfig::default`]
    /// (greedy, endpointing after 0.8 s of trailing silence), no LM.
    pub fn new(model_path: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            model_path: model_path.into(),
            pool_size: 512,
            batch: BatchConfig::default(),
            acquire_timeout: Duration::from_secs(5),
            chunk_ms: 120,
            interim_interval_ms: 160,
            decoder: DecoderConfig::default(),
            lm: None,
        }
    }
}

/// The loaded model, batch scheduler and session pool; cheap to clone, all clones share them.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

#[derive(Debug)]
struct EngineInner {
    spec: ModelSpec,
    pool: Arc<Admission>,
    pacing: Pacing,
    decoder: DecoderConfig,
    lm: Option<Arc<NgramLm>>,
    acquire_timeout: Duration,
}

impl Engine {
    /// Reads `model.toml`, loads and optimises the ONNX graph and the LM once, starts the
    /// batch workers and sets up the pool.
    pub fn load(cfg: EngineConfig) -> Result<Engine, AsrError> {
        if cfg.chunk_ms == 0 {
            return Err(AsrError::InvalidConfig(
                "chunk_ms must be at least 1".into(),
            ));
        }
        match &cfg.decoder.mode {
            SearchMode::Beam(beam) if beam.beam_width == 0 => {
                return Err(AsrError::InvalidConfig(
                    "beam width must be at least 1".into(),
                ))
            }
            SearchMode::Greedy if cfg.lm.is_some() => {
                tracing::warn!("the LM is used by beam search only; greedy decoding ignores it");
            }
            _ => {}
        }
        let lm = match &cfg.lm {
            Some(path) => Some(Arc::new(NgramLm::load(path).map_err(|e| {
                AsrError::ModelLoad {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            })?)),
            None => None,
        };
        let spec = ModelSpec::load(&cfg.model_path)?;
        let frame_ms = spec.model_frame_duration().as_secs_f64() * 1000.0;
        let frames_for = |ms: u32| (f64::from(ms) / frame_ms).ceil().max(1.0) as usize;
        let chunk_frames = frames_for(cfg.chunk_ms);
        let model = Arc::new(AcousticModel::load(&spec, Some(chunk_frames))?);
        let scheduler = Arc::new(BatchScheduler::start(model, cfg.batch.clone())?);
        let pool = Arc::new(Admission::new(scheduler, cfg.pool_size)?);
        let inner = EngineInner {
            pacing: Pacing {
                chunk: chunk_frames,
                interim: frames_for(cfg.interim_interval_ms) as u64,
            },
            acquire_timeout: cfg.acquire_timeout,
            decoder: cfg.decoder.clone(),
            lm,
            spec,
            pool,
        };
        tracing::info!(
            model = %inner.spec.model.name,
            variant = ?inner.spec.model.variant,
            pool_size = cfg.pool_size,
            max_batch = cfg.batch.max_batch,
            batch_wait_ms = cfg.batch.max_wait.as_secs_f64() * 1000.0,
            batch_workers = cfg.batch.workers,
            chunk_frames = inner.pacing.chunk,
            decoder = ?inner.decoder.mode,
            lm = ?cfg.lm,
            "model loaded"
        );
        Ok(Engine {
            inner: Arc::new(inner),
        })
    }

    /// Starts recognising a stream with default [`DecodeOptions`]; waits at most the acquire
    /// timeout for a free session.
    pub async fn open_stream(
        &self,
        settings: StreamSettings,
    ) -> Result<RecognitionStream, AsrError> {
        self.open_stream_with(settings, &DecodeOptions::default())
            .await
    }

    /// Starts recognising a stream with the request's own decoding options.
    pub async fn open_stream_with(
        &self,
        settings: StreamSettings,
        options: &DecodeOptions,
    ) -> Result<RecognitionStream, AsrError> {
        validate(&settings)?;
        let pcm = PcmDecoder::new(settings.encoding, settings.channels)
            .map_err(|e| AsrError::InvalidConfig(e.to_string()))?;
        let inner = &*self.inner;
        let ctc = stream_decoder(&inner.spec, &inner.decoder, inner.lm.as_ref(), options)?;
        let session = inner.pool.acquire(inner.acquire_timeout).await?;
        RecognitionStream::new(&inner.spec, inner.pacing, session, pcm, ctc, &settings)
    }

    /// The model's sample rate; audio at other rates is resampled to it.
    pub fn sample_rate(&self) -> u32 {
        self.inner.spec.features.sample_rate
    }

    /// Most streams that can recognise at once.
    pub fn pool_capacity(&self) -> usize {
        self.inner.pool.capacity()
    }

    /// Streams recognising now.
    pub fn pool_in_use(&self) -> usize {
        self.inner.pool.in_use()
    }
}

fn validate(settings: &StreamSettings) -> Result<(), AsrError> {
    if !SAMPLE_RATES_HZ.contains(&settings.sample_rate_hz) {
        return Err(AsrError::InvalidConfig(format!(
            "sample rate {} Hz is not supported; use {} to {} Hz",
            settings.sample_rate_hz,
            SAMPLE_RATES_HZ.start(),
            SAMPLE_RATES_HZ.end()
        )));
    }
    if !(1..=MAX_CHANNELS).contains(&settings.channels) {
        return Err(AsrError::InvalidConfig(format!(
            "{} audio channels are not supported; use 1 to {MAX_CHANNELS}",
            settings.channels
        )));
    }
    Ok(())
}
