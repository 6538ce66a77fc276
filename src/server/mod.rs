//! The gRPC front door: the `compact_asr.v1.Recognizer` service plus the standard health and
//! reflection services, served by tonic over one TCP listener.
//!
//! Why a module of its own: everything network-facing (protocol rules, message limits,
//! error → status mapping) lives here, so the engine underneath never sees a protobuf type
//! and the CLI, the bench and the integration tests all start the very same server.

mod introspection;
mod responses;
mod service;
mod settings;
pub mod status;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::pipeline::Engine;
use crate::proto::recognizer_server::RecognizerServer;

pub use service::RecognizerService;

/// Largest request message accepted (a whole `Recognize` WAV, or one streamed chunk):
/// 32 MiB, about 17 minutes of 16 kHz 16-bit mono. Larger messages are refused by tonic
/// with OUT_OF_RANGE ("decoded message length too large").
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("the server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Binds a TCP listener on `addr` ("HOST:PORT"; port 0 picks a free one).
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// Serves `engine` on `listener` until `shutdown` completes, then drains open calls.
///
/// The engine has already loaded its model, so health reports SERVING from the first call.
pub async fn serve(
    engine: Engine,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let recognizer = RecognizerServer::new(RecognizerService::new(engine))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let health = introspection::health_service::<RecognizerServer<RecognizerService>>().await;
    let (reflection_v1, reflection_v1alpha) = introspection::reflection_services()?;
    Server::builder()
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(recognizer)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

/// A server running on a background task, for the bench and tests: it stops when
/// [`RunningServer::stop`] is called or the handle is dropped.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl RunningServer {
    /// Starts serving `engine` on `addr` (e.g. "127.0.0.1:0") in the background.
    pub async fn start(engine: Engine, addr: &str) -> Result<RunningServer, ServeError> {
        let listener = bind(addr).await?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(engine, listener, async {
            // A dropped handle stops the server as well.
            let _ = stopped.await;
        }));
        Ok(RunningServer { addr, stop, task })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting calls, lets open ones finish and waits for the server to end.
    pub async fn stop(self) -> Result<(), ServeError> {
        let _ = self.stop.send(());
        self.task.await?
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM (what container runtimes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
