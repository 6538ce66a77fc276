//! The `/metrics` HTTP endpoint Prometheus scrapes, on a port of its own.
//!
//! Why a separate port and plain HTTP/1: scrapers and network policies treat it apart from
//! the gRPC port (which may require TLS and a token), and it keeps answering while the gRPC
//! server drains, so the drain itself is visible on the dashboard.

use std::net::SocketAddr;

use axum::http::header;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why the metrics endpoint could not start or failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("the metrics endpoint failed: {0}")]
    Serve(std::io::Error),
    #[error("the metrics task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The metrics endpoint running on a background task until [`MetricsServer::stop`].
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), MetricsError>>,
}

impl MetricsServer {
    /// Serves `GET /metrics` on `addr` ("HOST:PORT"; port 0 picks a free one).
    pub async fn start(addr: &str) -> Result<MetricsServer, MetricsError> {
        let bind_error = |source| MetricsError::Bind {
            addr: addr.to_owned(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let router = Router::new().route("/metrics", get(metrics));
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    // A dropped handle stops the endpoint as well.
                    let _ = stopped.await;
                })
                .await
                .map_err(MetricsError::Serve)
        });
        tracing::info!(%addr, "serving Prometheus metrics on /metrics");
        Ok(MetricsServer { addr, stop, task })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the endpoint and waits for it to end.
    pub async fn stop(self) -> Result<(), MetricsError> {
        let _ = self.stop.send(());
        self.task.await?
    }
}

async fn metrics() -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(header::CONTENT_TYPE, super::CONTENT_TYPE)],
        super::render(),
    )
}
