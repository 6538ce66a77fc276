//! The HTTP listener of the WebSocket endpoint: upgrades on any path (vosk clients connect
//! to `ws://HOST:2700` or any path below it), the demo page at `/`, its scripts beside it.
//!
//! Why one port for both: the page connects back to the very host and port it came from,
//! so a browser needs one address and no cross-origin set-up; and axum is already the
//! server's HTTP stack (for `/metrics`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::server::{AuthError, BearerAuth};

use super::connection::{self, Context};
use super::error::{transport_limit, WsError};

/// The demo page and its scripts, embedded so the binary serves them with no files around.
const INDEX_HTML: &str = include_str!("page/index.html");
const DEMO_JS: &str = include_str!("page/demo.js");
const WORKLET_JS: &str = include_str!("page/pcm-worklet.js");

/// How long the HTTP side may take to close its (non-WebSocket) connections at the end.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

struct Shared {
    context: Arc<Context>,
    auth: BearerAuth,
}

/// The endpoint running on a background task until [`WsServer::stop`]; WebSocket streams
/// themselves are tracked (and cut at the shutdown deadline) by the server's drain.
#[derive(Debug)]
pub struct WsServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl WsServer {
    /// Serves the endpoint and the page on `listener`.
    pub fn start(
        listener: TcpListener,
        context: Context,
        auth: BearerAuth,
    ) -> std::io::Result<WsServer> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            context: Arc::new(context),
            auth,
        });
        let router = Router::new()
            .route("/demo.js", get(demo_js))
            .route("/pcm-worklet.js", get(worklet_js))
            .fallback(entry)
            .with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    // A dropped handle stops the endpoint as well.
                    let _ = stopped.await;
                })
                .await
        });
        Ok(WsServer { addr, stop, task })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits (briefly) for the HTTP side to end.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        match tokio::time::timeout(STOP_TIMEOUT, self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(std::io::Error::other(join)),
            Err(_) => {
                tracing::warn!("WebSocket endpoint still closing {STOP_TIMEOUT:?} after the drain");
                Ok(())
            }
        }
    }
}

/// A WebSocket upgrade on any path, else the page at `/`.
async fn entry(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => {
            // Refused clients are still upgraded, so that they (a browser included) read
            // why in the error message and close code rather than a bare failed handshake.
            let authorized = authorize(&shared.auth, &headers, uri.query());
            let limit = transport_limit(&shared.context.limits);
            let context = Arc::clone(&shared.context);
            upgrade
                .max_message_size(limit)
                .max_frame_size(limit)
                .on_upgrade(move |socket| connection::serve(socket, context, authorized))
        }
        Err(rejection) if headers.contains_key(header::UPGRADE) => rejection.into_response(),
        Err(_) => match uri.path() {
            "/" | "/index.html" => page("text/html; charset=utf-8", INDEX_HTML),
            _ => (StatusCode::NOT_FOUND, "not found; the demo page is at /\n").into_response(),
        },
    }
}

async fn demo_js() -> Response {
    page("text/javascript; charset=utf-8", DEMO_JS)
}

async fn worklet_js() -> Response {
    page("text/javascript; charset=utf-8", WORKLET_JS)
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The token check: header `Authorization: Bearer <token>`, else `?token=` (browsers cannot
/// set headers on a WebSocket).
fn authorize(auth: &BearerAuth, headers: &HeaderMap, query: Option<&str>) -> Result<(), WsError> {
    if !auth.is_enabled() {
        return Ok(());
    }
    let result = match headers.get(header::AUTHORIZATION) {
        Some(value) => value
            .to_str()
            .map_err(|_| AuthError::Malformed)
            .and_then(|value| auth.check_authorization(value)),
        None => match query_token(query) {
            Some(token) => auth.check_token(&token),
            None => Err(AuthError::Missing),
        },
    };
    result.map_err(|err| match err {
        AuthError::Missing => WsError::MissingToken,
        AuthError::Malformed => WsError::MalformedToken,
        AuthError::Invalid => WsError::InvalidToken,
    })
}

/// The `token` parameter of a query string, percent-decoded.
fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(percent_decode)
}

/// `%XX` escapes and `+` (a space in forms) decoded; malformed escapes are kept as they are
/// (the token then simply does not match).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        // Two hex digits: below 256.
                        out.push((high * 16 + low) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_tokens_are_found_and_decoded() {
        assert_eq!(query_token(None), None);
        assert_eq!(query_token(Some("a=1")), None);
        assert_eq!(
            query_token(Some("a=1&token=s3cret")).as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            query_token(Some("token=a%2Bb%20c+d")).as_deref(),
            Some("a+b c d")
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn tokens_come_from_the_header_or_the_query() {
        let auth = BearerAuth::new(vec!["s3cret".into()]);
        let mut headers = HeaderMap::new();
        assert!(matches!(
            authorize(&auth, &headers, None),
            Err(WsError::MissingToken)
        ));
        assert!(authorize(&auth, &headers, Some("token=s3cret")).is_ok());
        assert!(matches!(
            authorize(&auth, &headers, Some("token=nope")),
            Err(WsError::InvalidToken)
        ));
        headers.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(authorize(&auth, &headers, None).is_ok());
        headers.insert(header::AUTHORIZATION, "s3cret".parse().unwrap());
        assert!(matches!(
            authorize(&auth, &headers, Some("token=s3cret")),
            Err(WsError::MalformedToken)
        ));
        assert!(authorize(&BearerAuth::default(), &HeaderMap::new(), None).is_ok());
    }
}
