//! The `transport`-labelled metrics: which front door (gRPC or the WebSocket endpoint) the
//! recognition calls came through, and how the server closed WebSocket connections.
//!
//! Why beside, not instead of, the unlabelled families: `compact_asr_active_streams` and
//! `compact_asr_errors_total` are a contract with the dashboard, the alert rules and the
//! image check (`deploy/`), which read them without labels; they keep counting every call.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use super::{invalid, register};

/// Which front door a recognition call came through: the `transport` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The `Recognizer` gRPC service (streaming and unary).
    Grpc,
    /// The WebSocket endpoint (vosk-server's protocol).
    WebSocket,
}

impl Transport {
    /// The label value: `grpc` or `websocket`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::WebSocket => "websocket",
        }
    }
}

/// `compact_asr_streams_total{transport}`, `compact_asr_transport_active_streams{transport}`
/// and `compact_asr_websocket_closes_total{code}`.
pub(super) struct TransportMetrics {
    streams: IntCounterVec,
    active: IntGaugeVec,
    websocket_closes: IntCounterVec,
}

impl TransportMetrics {
    pub(super) fn new(registry: &Registry) -> TransportMetrics {
        let counter = |name: &str, help: &str, label: &str| {
            let vec = IntCounterVec::new(Opts::new(name, help), &[label])
                .unwrap_or_else(|e| invalid(name, e));
            register(registry, name, vec)
        };
        let active_name = "compact_asr_transport_active_streams";
        let active = IntGaugeVec::new(
            Opts::new(
                active_name,
                "Recognition calls in progress, by transport (grpc, websocket).",
            ),
            &["transport"],
        )
        .unwrap_or_else(|e| invalid(active_name, e));
        TransportMetrics {
            streams: counter(
                "compact_asr_streams_total",
                "Recognition calls started, by transport (grpc, websocket).",
                "transport",
            ),
            active: register(registry, active_name, active),
            websocket_closes: counter(
                "compact_asr_websocket_closes_total",
                "WebSocket connections the server closed, by close code (1000 is a normal end).",
                "code",
            ),
        }
    }

    pub(super) fn started(&self, transport: Transport) {
        let label = [transport.label()];
        self.streams.with_label_values(&label).inc();
        self.active.with_label_values(&label).inc();
    }

    pub(super) fn finished(&self, transport: Transport) {
        self.active.with_label_values(&[transport.label()]).dec();
    }

    pub(super) fn websocket_closed(&self, code: u16) {
        let code = code.to_string();
        self.websocket_closes.with_label_values(&[&code]).inc();
    }
}

#[cfg(test)]
mod tests {
    use prometheus::{Encoder, TextEncoder};

    use super::*;

    fn render(registry: &Registry) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut buffer)
            .unwrap();
        String::from_utf8(buffer).unwrap()
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn streams_are_counted_per_transport_and_closes_per_code() {
        let registry = Registry::new();
        let metrics = TransportMetrics::new(&registry);
        metrics.started(Transport::Grpc);
        metrics.started(Transport::WebSocket);
        metrics.started(Transport::WebSocket);
        metrics.finished(Transport::WebSocket);
        metrics.websocket_closed(1007);
        metrics.websocket_closed(1007);
        let text = render(&registry);
        for (series, expected) in [
            (r#"compact_asr_streams_total{transport="grpc"}"#, 1.0),
            (r#"compact_asr_streams_total{transport="websocket"}"#, 2.0),
            (
                r#"compact_asr_transport_active_streams{transport="grpc"}"#,
                1.0,
            ),
            (
                r#"compact_asr_transport_active_streams{transport="websocket"}"#,
                1.0,
            ),
            (r#"compact_asr_websocket_closes_total{code="1007"}"#, 2.0),
        ] {
            assert_eq!(value(&text, series), Some(expected), "{series}\n{text}");
        }
        assert!(text.contains("# TYPE compact_asr_transport_active_streams gauge\n"));
        assert!(text.contains("# TYPE compact_asr_websocket_closes_total counter\n"));
    }
}
