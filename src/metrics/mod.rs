//! Prometheus metrics: what an operator graphs and alerts on (streams, latency, errors).
//!
//! Why plain functions over process-wide statics: every layer (server, engine, model pool,
//! batch scheduler) records from wherever the event happens without threading a handle
//! through its API. Recording is a few atomic operations and works whether or not the
//! HTTP exporter ([`http`]) runs, so tests and the in-process `transcribe`/`eval` commands
//! pay nothing for it. The metric names are a contract with the Grafana dashboard and
//! alert rules in `deploy/`: change them only together.

pub mod http;
mod transport;

pub use transport::Transport;

use std::sync::LazyLock;

use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The media type of Prometheus' text exposition format, as served on `/metrics`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric the server exports, registered in a registry of its own (no process
/// metrics, nothing global from other crates).
struct Metrics {
    registry: Registry,
    active_streams: IntGauge,
    pool_in_use: IntGauge,
    pool_capacity: IntGauge,
    audio_seconds: Counter,
    rtf: Histogram,
    chunk_latency: Histogram,
    inference: Histogram,
    batch_size: Histogram,
    errors: IntCounterVec,
    transports: transport::TransportMetrics,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let gauge = IntGauge::new(name, help).unwrap_or_else(|e| invalid(name, e));
            register(&registry, name, gauge)
        };
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
            let histogram = Histogram::with_opts(opts).unwrap_or_else(|e| invalid(name, e));
            register(&registry, name, histogram)
        };
        let audio_name = "compact_asr_audio_seconds_total";
        let audio_seconds = Counter::new(audio_name, "Seconds of audio recognised.")
            .unwrap_or_else(|e| invalid(audio_name, e));
        let errors_name = "compact_asr_errors_total";
        let errors = IntCounterVec::new(
            Opts::new(
                errors_name,
                "Calls that ended with a gRPC error, by status code.",
            ),
            &["code"],
        )
        .unwrap_or_else(|e| invalid(errors_name, e));
        Metrics {
            transports: transport::TransportMetrics::new(&registry),
            active_streams: gauge(
                "compact_asr_active_streams",
                "Recognition calls (streaming and unary) in progress.",
            ),
            pool_in_use: gauge(
                "compact_asr_pool_in_use",
                "Model sessions currently lent to streams.",
            ),
            pool_capacity: gauge(
                "compact_asr_pool_capacity",
                "Model sessions the pool holds in all.",
            ),
            audio_seconds: register(&registry, audio_name, audio_seconds),
            rtf: histogram(
                "compact_asr_rtf",
                "Real-time factor per call: processing time / audio duration (below 1 keeps up).",
                &[
                    0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0,
                ],
            ),
            chunk_latency: histogram(
                "compact_asr_chunk_latency_seconds",
                "Time from receiving an audio chunk to having processed it.",
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            inference: histogram(
                "compact_asr_inference_seconds",
                "Time of one acoustic-model run (one chunk or one batch).",
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                ],
            ),
            batch_size: histogram(
                "compact_asr_inference_batch_size",
                "Streams served by one acoustic-model run.",
                &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
            ),
            errors: register(&registry, errors_name, errors),
            registry,
        }
    }
}

/// Metric definitions are constants; a failure here is a programming error caught by the
/// unit tests, never something a request can trigger.
fn invalid(name: &str, err: prometheus::Error) -> ! {
    panic!("metric {name} is malformed: {err}")
}

fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    name: &str,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| invalid(name, e));
    metric
}

impl Metrics {
    fn stream_started(&self, transport: Transport) {
        self.active_streams.inc();
        self.transports.started(transport);
    }

    fn stream_finished(&self, transport: Transport) {
        self.active_streams.dec();
        self.transports.finished(transport);
    }

    fn audio_processed(&self, seconds: f64) {
        if seconds.is_finite() && seconds > 0.0 {
            self.audio_seconds.inc_by(seconds);
        }
    }

    fn rtf(&self, value: f64) {
        if value.is_finite() {
            self.rtf.observe(value);
        }
    }

    fn inference(&self, seconds: f64, batch_size: usize) {
        self.inference.observe(seconds);
        self.batch_size.observe(batch_size as f64);
    }

    fn error(&self, code: tonic::Code) {
        if code != tonic::Code::Ok {
            self.errors.with_label_values(&[code_label(code)]).inc();
        }
    }

    fn pool(&self, in_use: usize, capacity: usize) {
        self.pool_in_use.set(saturating_i64(in_use));
        self.pool_capacity.set(saturating_i64(capacity));
    }

    fn render(&self) -> String {
        let mut buffer = Vec::new();
        let families = self.registry.gather();
        // Encoding to memory fails only for malformed families, which `Metrics::new` rules out.
        if let Err(err) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::error!(%err, "cannot encode metrics");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A recognition call began (`compact_asr_active_streams` + 1). Pair with [`stream_finished`],
/// or hold an [`ActiveStream`] which does both.
pub fn stream_started() {
    METRICS.stream_started(Transport::Grpc);
}

/// A recognition call ended, however it ended (`compact_asr_active_streams` − 1).
pub fn stream_finished() {
    METRICS.stream_finished(Transport::Grpc);
}

/// The server closed a WebSocket connection with close `code`
/// (`compact_asr_websocket_closes_total{code="1007"}`; 1000 is a normal end).
pub fn websocket_closed(code: u16) {
    METRICS.transports.websocket_closed(code);
}

/// `seconds` more audio were recognised (`compact_asr_audio_seconds_total`); NaN and
/// non-positive values are ignored.
pub fn audio_processed(seconds: f64) {
    METRICS.audio_processed(seconds);
}

/// One audio chunk took `seconds` from arrival to processed (`compact_asr_chunk_latency_seconds`).
pub fn chunk_latency(seconds: f64) {
    METRICS.chunk_latency.observe(seconds);
}

/// A call's real-time factor: processing time divided by audio duration (`compact_asr_rtf`).
pub fn rtf(value: f64) {
    METRICS.rtf(value);
}

/// One model run over `batch_size` streams took `seconds` (`compact_asr_inference_seconds`,
/// `compact_asr_inference_batch_size`).
pub fn inference(seconds: f64, batch_size: usize) {
    METRICS.inference(seconds, batch_size);
}

/// A call ended with status `code` (`compact_asr_errors_total{code="INVALID_ARGUMENT"}`);
/// `Code::Ok` is not an error and is not counted.
pub fn error(code: tonic::Code) {
    METRICS.error(code);
}

/// The model pool lends `in_use` of its `capacity` sessions (`compact_asr_pool_in_use`,
/// `compact_asr_pool_capacity`).
pub fn pool(in_use: usize, capacity: usize) {
    METRICS.pool(in_use, capacity);
}

/// All metrics in Prometheus' text exposition format (what `/metrics` serves).
pub fn render() -> String {
    METRICS.render()
}

/// Counts one active stream for as long as it lives: [`stream_started`] now,
/// [`stream_finished`] on drop, so early returns and panics cannot leak the gauge.
/// `compact_asr_active_streams` counts every transport (so dashboards keep working); the
/// `transport`-labelled families tell them apart.
#[derive(Debug)]
#[must_use = "the stream counts as active only while this guard lives"]
pub struct ActiveStream(Transport);

impl ActiveStream {
    /// A gRPC call.
    pub fn new() -> ActiveStream {
        ActiveStream::with_transport(Transport::Grpc)
    }

    /// A call through `transport`.
    pub fn with_transport(transport: Transport) -> ActiveStream {
        METRICS.stream_started(transport);
        ActiveStream(transport)
    }
}

impl Default for ActiveStream {
    fn default() -> Self {
        ActiveStream::new()
    }
}

impl Drop for ActiveStream {
    fn drop(&mut self) {
        METRICS.stream_finished(self.0);
    }
}

/// The gRPC spec's name for `code` (as grpc-go and Python print it), used as the label value.
pub fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests;
