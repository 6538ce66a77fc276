//! The engine: one loaded model and its session pool, shared by every stream of a process.
//!
//! The server, `transcribe` and `eval` all go through [`Engine::open_stream`], so they
//! recognise with the very same code and settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::audio::{Encoding, PcmDecoder};
use crate::error::AsrError;
use crate::model::{AcousticModel, ModelSpec, SessionPool};
use crate::pipeline::stream::RecognitionStream;

/// Lowest and highest client sample rates accepted (resampled to the model's rate).
pub const SAMPLE_RATES_HZ: std::ops::RangeInclusive<u32> = 8_000..=48_000;
/// Most interleaved channels accepted (downmixed to mono).
pub const MAX_CHANNELS: u16 = 8;

/// How to load and run the model.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The model's `model.toml`.
    pub model_path: PathBuf,
    /// Streams that may recognise at once.
    pub pool_size: usize,
    /// How long `open_stream` waits for a free session before giving up.
    pub acquire_timeout: Duration,
    /// Audio per model run: longer runs cost less per second, shorter ones answer sooner.
    pub chunk_ms: u32,
    /// Least audio between two partial results of a stream.
    pub interim_interval_ms: u32,
}

impl EngineConfig {
    /// Defaults for everything but the model: 4 sessions, 5 s wait, 120 ms chunks, partials
    /// at most every 160 ms.
    pub fn new(model_path: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            model_path: model_path.into(),
            pool_size: 4,
            acquire_timeout: Duration::from_secs(5),
            chunk_ms: 120,
            interim_interval_ms: 160,
        }
    }
}

/// What a client says about the audio it will send.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub encoding: Encoding,
    pub sample_rate_hz: u32,
    pub channels: u16,
    /// Emit partial hypotheses while audio arrives.
    pub interim_results: bool,
}

/// The loaded model and session pool; cheap to clone, all clones share them.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

#[derive(Debug)]
pub(crate) struct EngineInner {
    pub(crate) spec: ModelSpec,
    pub(crate) pool: Arc<SessionPool>,
    /// Model frames per run.
    pub(crate) chunk_frames: usize,
    /// Model frames of audio between partials.
    pub(crate) interim_frames: u64,
    acquire_timeout: Duration,
}

impl Engine {
    /// Reads `model.toml`, loads and optimises the ONNX graph once and sets up the pool.
    pub fn load(cfg: EngineConfig) -> Result<Engine, AsrError> {
        if cfg.chunk_ms == 0 {
            return Err(AsrError::InvalidConfig(
                "chunk_ms must be at least 1".into(),
            ));
        }
        let spec = ModelSpec::load(&cfg.model_path)?;
        let model = Arc::new(AcousticModel::load(&spec)?);
        let pool = Arc::new(SessionPool::new(model, cfg.pool_size)?);
        let frame_ms = spec.model_frame_duration().as_secs_f64() * 1000.0;
        let frames_for = |ms: u32| (f64::from(ms) / frame_ms).ceil().max(1.0) as usize;
        let inner = EngineInner {
            chunk_frames: frames_for(cfg.chunk_ms),
            interim_frames: frames_for(cfg.interim_interval_ms) as u64,
            acquire_timeout: cfg.acquire_timeout,
            spec,
            pool,
        };
        tracing::info!(
            model = %inner.spec.model.name,
            variant = ?inner.spec.model.variant,
            pool_size = cfg.pool_size,
            chunk_frames = inner.chunk_frames,
            "model loaded"
        );
        Ok(Engine {
            inner: Arc::new(inner),
        })
    }

    /// Starts recognising a stream; waits at most the acquire timeout for a free session.
    pub async fn open_stream(
        &self,
        settings: StreamSettings,
    ) -> Result<RecognitionStream, AsrError> {
        validate(&settings)?;
        let decoder = PcmDecoder::new(settings.encoding, settings.channels)
            .map_err(|e| AsrError::InvalidConfig(e.to_string()))?;
        let session = self.inner.pool.acquire(self.inner.acquire_timeout).await?;
        RecognitionStream::new(Arc::clone(&self.inner), session, decoder, &settings)
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
