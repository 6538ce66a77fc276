//! The gRPC front door: the `compact_asr.v1.Recognizer` service plus the standard health and
//! reflection services, served by tonic over one TCP listener (optionally TLS, optionally
//! behind a bearer token), with a graceful, deadline-bounded shutdown; and, when
//! `ws_listen` asks for it, the WebSocket endpoint ([`crate::ws`]) under the same drain.
//!
//! Why a module of its own: everything network-facing (protocol rules, message limits,
//! error → status mapping, authentication, draining) lives here, so the engine underneath
//! never sees a protobuf type and the CLI, the bench and the integration tests all start the
//! very same server.

mod auth;
mod drain;
mod introspection;
mod options;
pub mod protocol;
mod replies;
mod request_config;
mod responses;
mod service;
pub mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Server, ServerTlsConfig};

use crate::pipeline::Engine;
use crate::proto::recognizer_server::RecognizerServer;

pub use auth::{load_tokens, AuthError};
pub use options::ServerOptions;
pub use request_config::{DEFAULT_BOOST, MAX_ALTERNATIVES, MAX_PHRASES, MAX_PHRASE_CHARS};
pub use service::RecognizerService;

pub(crate) use auth::BearerAuth;
pub(crate) use drain::Drain;
pub(crate) use service::record_finished;

/// After the drain, how long connections may take to close before the server stops anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

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
    #[error("cannot read {what} {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("auth token file {0} lists no token")]
    NoTokens(PathBuf),
    #[error("the WebSocket endpoint failed: {0}")]
    WebSocket(std::io::Error),
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

/// Serves `engine` on `listener` until `shutdown` completes, then drains: health turns
/// NOT_SERVING, new calls are refused with UNAVAILABLE, open calls get up to
/// `options.shutdown_grace` to finish, and streams still open then are cut after their
/// final result. Returns once every call has ended (at worst a few seconds after the grace).
///
/// The engine has already loaded its model, so health reports SERVING from the first call.
/// With `options.ws_listen`, the WebSocket endpoint and its demo page are served on that
/// address too, admitted and drained with the gRPC calls.
pub async fn serve(
    engine: Engine,
    listener: TcpListener,
    options: &ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let ws_listener = match &options.ws_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    serve_listeners(engine, listener, ws_listener, options, shutdown).await
}

/// [`serve`] on listeners already bound (so [`RunningServer`] knows both addresses).
async fn serve_listeners(
    engine: Engine,
    listener: TcpListener,
    ws_listener: Option<TcpListener>,
    options: &ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let drain = Drain::default();
    let auth = BearerAuth::new(options.auth_tokens.clone());
    let websocket = match ws_listener {
        Some(listener) => Some(start_websocket(listener, &engine, &drain, &auth, options)?),
        None => None,
    };
    let recognizer = RecognizerServer::new(RecognizerService::new(
        engine,
        drain.clone(),
        options.limits,
        options.idle_timeout,
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let (reporter, health) =
        introspection::health_service::<RecognizerServer<RecognizerService>>().await;
    let (reflection_v1, reflection_v1alpha) = introspection::reflection_services()?;
    let mut builder = Server::builder();
    if let Some(identity) = &options.tls {
        builder = builder.tls_config(ServerTlsConfig::new().identity(identity.clone()))?;
    }
    tracing::info!(
        tls = options.tls.is_some(),
        auth = auth.is_enabled(),
        "security"
    );
    let grace = options.shutdown_grace;
    let (drained, drained_rx) = oneshot::channel::<()>();
    let shutdown = {
        let drain = drain.clone();
        async move {
            shutdown.await;
            introspection::set_not_serving::<RecognizerServer<RecognizerService>>(&reporter).await;
            drain.run(grace).await;
            let _ = drained.send(());
        }
    };
    // Health stays open (probes carry no token); reflection and recognition need the token.
    let server = builder
        .add_service(health)
        .add_service(InterceptedService::new(reflection_v1, auth.clone()))
        .add_service(InterceptedService::new(reflection_v1alpha, auth.clone()))
        .add_service(InterceptedService::new(recognizer, auth))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown);
    let closed_late = async {
        if drained_rx.await.is_ok() {
            tokio::time::sleep(CLOSE_TIMEOUT).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let served = tokio::select! {
        result = server => result.map_err(ServeError::from),
        () = closed_late => {
            tracing::warn!("connections still open {CLOSE_TIMEOUT:?} after the drain; stopping anyway");
            Ok(())
        }
    };
    if let Some(websocket) = websocket {
        websocket.stop().await.map_err(ServeError::WebSocket)?;
    }
    served?;
    tracing::info!("server stopped");
    Ok(())
}

/// The WebSocket endpoint on `listener`, sharing the engine, drain, token and limits.
fn start_websocket(
    listener: TcpListener,
    engine: &Engine,
    drain: &Drain,
    auth: &BearerAuth,
    options: &ServerOptions,
) -> Result<crate::ws::WsServer, ServeError> {
    let context = crate::ws::Context {
        engine: engine.clone(),
        drain: drain.clone(),
        limits: options.limits,
        idle_timeout: options.idle_timeout,
    };
    let websocket = crate::ws::WsServer::start(listener, context, auth.clone())
        .map_err(ServeError::WebSocket)?;
    if options.tls.is_some() {
        tracing::warn!("the WebSocket endpoint speaks plain HTTP; put a TLS proxy in front of it");
    }
    tracing::info!(ws_addr = %websocket.addr(), "serving WebSocket (vosk protocol) and the demo page");
    Ok(websocket)
}

/// A server running on a background task, for the bench and tests: it stops when
/// [`RunningServer::stop`] is called or the handle is dropped.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    ws_addr: Option<SocketAddr>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl RunningServer {
    /// Starts serving `engine` on `addr` (e.g. "127.0.0.1:0") in the background.
    pub async fn start(engine: Engine, addr: &str) -> Result<RunningServer, ServeError> {
        RunningServer::start_with(engine, addr, ServerOptions::default()).await
    }

    /// [`RunningServer::start`] with TLS, authentication, another shutdown grace or the
    /// WebSocket endpoint (`options.ws_listen`, e.g. "127.0.0.1:0").
    pub async fn start_with(
        engine: Engine,
        addr: &str,
        options: ServerOptions,
    ) -> Result<RunningServer, ServeError> {
        let listener = bind(addr).await?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
        let ws_listener = match &options.ws_listen {
            Some(ws) => Some(bind(ws).await?),
            None => None,
        };
        let ws_addr = match &ws_listener {
            Some(ws) => Some(ws.local_addr().map_err(|source| ServeError::Bind {
                addr: options.ws_listen.clone().unwrap_or_default(),
                source,
            })?),
            None => None,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async {
                // A dropped handle stops the server as well.
                let _ = stopped.await;
            };
            serve_listeners(engine, listener, ws_listener, &options, stopped).await
        });
        Ok(RunningServer {
            addr,
            ws_addr,
            stop,
            task,
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The WebSocket endpoint's address, when it was asked for.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws_addr
    }

    /// `ws://ADDR/` (the endpoint) and `http://ADDR/` (the demo page) share this address.
    pub fn ws_url(&self) -> Option<String> {
        self.ws_addr.map(|addr| format!("ws://{addr}/"))
    }

    /// Drains (see [`serve`]) and waits for the server to end.
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
