//! Unit tests of the metrics (own file: the registry module is long enough alone).

use super::*;

/// The value on the exposition line that starts with `series ` (exact series name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn every_contracted_metric_is_exported_with_its_type() {
    let metrics = Metrics::new();
    // A labelled family appears once it has a series.
    metrics.error(tonic::Code::DataLoss);
    let text = metrics.render();
    for (name, kind) in [
        ("compact_asr_active_streams", "gauge"),
        ("compact_asr_pool_in_use", "gauge"),
        ("compact_asr_pool_capacity", "gauge"),
        ("compact_asr_audio_seconds_total", "counter"),
        ("compact_asr_rtf", "histogram"),
        ("compact_asr_chunk_latency_seconds", "histogram"),
        ("compact_asr_inference_seconds", "histogram"),
        ("compact_asr_inference_batch_size", "histogram"),
        ("compact_asr_errors_total", "counter"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} {kind} missing from:\n{text}"
        );
    }
}

#[test]
fn errors_are_counted_by_code_and_ok_is_not_an_error() {
    let metrics = Metrics::new();
    metrics.error(tonic::Code::Unauthenticated);
    metrics.error(tonic::Code::Unauthenticated);
    metrics.error(tonic::Code::InvalidArgument);
    metrics.error(tonic::Code::Ok);
    let text = metrics.render();
    let count = |code: &str| {
        sample(
            &text,
            &format!("compact_asr_errors_total{{code=\"{code}\"}}"),
        )
    };
    assert_eq!(count("UNAUTHENTICATED"), Some(2.0));
    assert_eq!(count("INVALID_ARGUMENT"), Some(1.0));
    assert_eq!(count("OK"), None, "{text}");
}

#[test]
fn audio_seconds_accumulate_fractions_and_ignore_nonsense() {
    let metrics = Metrics::new();
    metrics.audio_processed(0.25);
    metrics.audio_processed(1.5);
    metrics.audio_processed(f64::NAN);
    metrics.audio_processed(-3.0);
    let text = metrics.render();
    assert_eq!(sample(&text, "compact_asr_audio_seconds_total"), Some(1.75));
}

#[test]
fn histograms_count_observations_into_their_buckets() {
    let metrics = Metrics::new();
    metrics.inference(0.003, 3);
    metrics.inference(0.2, 16);
    metrics.rtf(0.15);
    metrics.rtf(f64::INFINITY);
    let text = metrics.render();
    let at = |series: &str| sample(&text, series);
    assert_eq!(at("compact_asr_inference_seconds_count"), Some(2.0));
    assert_eq!(
        at(r#"compact_asr_inference_seconds_bucket{le="0.005"}"#),
        Some(1.0)
    );
    assert_eq!(
        at(r#"compact_asr_inference_batch_size_bucket{le="4"}"#),
        Some(1.0)
    );
    assert_eq!(
        at(r#"compact_asr_inference_batch_size_bucket{le="16"}"#),
        Some(2.0)
    );
    assert_eq!(at("compact_asr_rtf_count"), Some(1.0));
    assert_eq!(at(r#"compact_asr_rtf_bucket{le="0.1"}"#), Some(0.0));
    assert_eq!(at(r#"compact_asr_rtf_bucket{le="0.2"}"#), Some(1.0));
}

#[test]
fn gauges_follow_streams_and_the_pool() {
    let metrics = Metrics::new();
    metrics.stream_started(Transport::Grpc);
    metrics.stream_started(Transport::WebSocket);
    metrics.stream_finished(Transport::WebSocket);
    metrics.pool(3, 8);
    let text = metrics.render();
    assert_eq!(sample(&text, "compact_asr_active_streams"), Some(1.0));
    assert_eq!(sample(&text, "compact_asr_pool_in_use"), Some(3.0));
    assert_eq!(sample(&text, "compact_asr_pool_capacity"), Some(8.0));
}

#[test]
fn code_labels_are_the_grpc_spec_names() {
    assert_eq!(code_label(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
    assert_eq!(code_label(tonic::Code::Unavailable), "UNAVAILABLE");
    assert_eq!(code_label(tonic::Code::from(16)), "UNAUTHENTICATED");
}
