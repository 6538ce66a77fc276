//! A vosk-protocol WebSocket client for the tests (tokio-tungstenite), every read bounded
//! in time so a server that stops answering fails the test instead of hanging it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for one message from the server.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The endpoint's URL on a running server.
pub fn ws_url(server: &compact_asr::server::RunningServer) -> String {
    server
        .ws_url()
        .expect("the server was started with ws_listen")
}

pub async fn connect(url: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    socket
}

/// Connects sending header `Authorization: <value>`.
pub async fn connect_with_authorization(url: &str, value: &str) -> Socket {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", value.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
}

pub async fn send_text(socket: &mut Socket, text: &str) {
    socket.send(Message::text(text)).await.unwrap();
}

pub async fn send_audio(socket: &mut Socket, pcm: &[u8]) {
    socket.send(Message::binary(pcm.to_vec())).await.unwrap();
}

/// What the server sent next: a JSON text message, or how it closed.
#[derive(Debug)]
pub enum Received {
    Json(Value),
    Closed {
        code: u16,
        reason: String,
    },
    /// The connection ended without a close frame.
    Gone,
}

pub async fn receive(socket: &mut Socket) -> Received {
    loop {
        let next = tokio::time::timeout(READ_TIMEOUT, socket.next())
            .await
            .expect("no message from the server in time");
        match next {
            Some(Ok(Message::Text(text))) => {
                let value = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {text}"));
                return Received::Json(value);
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return Received::Closed { code, reason };
            }
            Some(Ok(Message::Binary(data))) => panic!("unexpected binary reply: {data:?}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Received::Gone,
        }
    }
}

/// The next message, which must be JSON.
pub async fn reply(socket: &mut Socket) -> Value {
    match receive(socket).await {
        Received::Json(value) => value,
        other => panic!("a JSON reply expected, got {other:?}"),
    }
}

/// The next message must be the close frame; returns its code and reason.
pub async fn closed(socket: &mut Socket) -> (u16, String) {
    match receive(socket).await {
        Received::Closed { code, reason } => (code, reason),
        other => panic!("a close frame expected, got {other:?}"),
    }
}

/// The server refused: `{"error": …}` then a close frame; returns the error and the code.
pub async fn refused(socket: &mut Socket) -> (String, u16) {
    let error = reply(socket).await;
    let message = error["error"]
        .as_str()
        .unwrap_or_else(|| panic!("an error reply expected, got {error}"))
        .to_owned();
    let (code, reason) = closed(socket).await;
    assert!(
        message.starts_with(reason.trim_end_matches('…')),
        "the close reason {reason:?} is the error's start: {message}"
    );
    (message, code)
}

/// A stream's replies: one per audio message, then the final after eof, then a normal close.
#[derive(Debug)]
pub struct Session {
    pub replies: Vec<Value>,
    pub last: Value,
}

impl Session {
    /// Every final's text (mid-stream and the last), joined like the gRPC client does.
    pub fn transcript(&self) -> String {
        self.replies
            .iter()
            .chain(std::iter::once(&self.last))
            .filter_map(|r| r["text"].as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Sends `config` (if any), `pcm` in `chunk_bytes` messages, each answered before the next
/// is sent (as vosk's test.py does), then eof; expects the final and a normal close.
pub async fn transcribe(
    socket: &mut Socket,
    config: Option<&str>,
    pcm: &[u8],
    chunk_bytes: usize,
) -> Session {
    if let Some(config) = config {
        send_text(socket, config).await;
    }
    let mut replies = Vec::new();
    for chunk in pcm.chunks(chunk_bytes) {
        send_audio(socket, chunk).await;
        replies.push(reply(socket).await);
    }
    send_text(socket, r#"{"eof" : 1}"#).await;
    let last = reply(socket).await;
    assert_eq!(closed(socket).await, (1000, String::new()), "normal close");
    Session { replies, last }
}
