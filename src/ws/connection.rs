//! One WebSocket connection: vosk-server's message flow over the engine's stream.
//!
//! Why it looks like the gRPC service's stream loop but is not shared with it: the message
//! order and replies differ (one reply per audio message, the config optional, eof in-band),
//! while everything below them is the same code: admission through the server's [`Drain`],
//! [`Engine::open_stream_with`] (pool, resampling, decoding), the stream's async path, the
//! [`AudioBudget`] limits, the idle timeout and [`record_finished`]. A stream owns its pool
//! session; when the connection ends for any reason the stream is dropped and the session
//! goes back to the pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};

use crate::metrics::{self, ActiveStream, Transport};
use crate::pipeline::{Engine, Hypothesis, RecognitionStream, StreamEvent, Transcript};
use crate::server::protocol::{Admitted, AudioBudget, StreamLimits};
use crate::server::{record_finished, Drain};

use super::error::{close_code, WsError};
use super::protocol::{self, ClientText, StreamConfig};

/// How long the server waits for the client's close frame after sending its own, reading
/// (and dropping) whatever the client still sends, so the close frame is not lost to a reset.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// What every connection of one endpoint shares.
#[derive(Debug)]
pub struct Context {
    pub engine: Engine,
    pub drain: Drain,
    pub limits: StreamLimits,
    /// How long a connection may go without a message (and a reply may wait for the client).
    pub idle_timeout: Duration,
}

/// How a connection ended without an error.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// After eof and the final result: close normally.
    Finished,
    /// The client went away (or stopped reading): nobody left to tell.
    Gone,
}

/// Serves one upgraded connection; `authorized` is the outcome of its token check.
pub async fn serve(mut socket: WebSocket, context: Arc<Context>, authorized: Result<(), WsError>) {
    let stall = context.idle_timeout;
    if let Err(err) = authorized {
        return close(socket, Err(err), stall).await;
    }
    let Some(_call) = context.drain.admit() else {
        return close(socket, Err(WsError::Draining), stall).await;
    };
    // The stream counts as open (for the drain and the gauges) until its close is sent.
    let _active = ActiveStream::with_transport(Transport::WebSocket);
    let outcome = Connection::new(&context).run(&mut socket).await;
    close(socket, outcome, stall).await;
}

/// Ends the connection: a normal close, or `{"error": …}` and the error's close code.
async fn close(mut socket: WebSocket, outcome: Result<Ended, WsError>, stall: Duration) {
    let (code, reason) = match outcome {
        Ok(Ended::Gone) => return,
        Ok(Ended::Finished) => (close_code::NORMAL, String::new()),
        Err(err) => {
            let code = err.close_code();
            if code == close_code::INTERNAL {
                tracing::error!(error = %err, code, "WebSocket stream failed");
            } else {
                tracing::debug!(error = %err, code, "WebSocket stream refused");
            }
            let reply = Message::text(protocol::error_reply(&err.to_string()));
            if !send(&mut socket, reply, stall).await {
                return;
            }
            (code, err.close_reason())
        }
    };
    metrics::websocket_closed(code);
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if !send(&mut socket, Message::Close(Some(frame)), stall).await {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Sends `message`; false when the client is gone or took nothing for `stall` (a client
/// that stops reading must not hold its pool session forever).
async fn send(socket: &mut WebSocket, message: Message, stall: Duration) -> bool {
    match tokio::time::timeout(stall, socket.send(message)).await {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            tracing::debug!(%err, "WebSocket client went away");
            false
        }
        Err(_) => {
            tracing::warn!(
                ?stall,
                "WebSocket client took no reply for the idle timeout"
            );
            false
        }
    }
}

/// A stream being recognised: opened at the first audio message (or eof).
struct Open {
    stream: RecognitionStream,
    config: StreamConfig,
    budget: AudioBudget,
    /// The text of the last partial, repeated while it does not change (every audio
    /// message gets an answer); empty after each final.
    partial: String,
    finals: Vec<Hypothesis>,
}

/// One connection's state: its config until the stream opens, then the stream.
struct Connection<'a> {
    context: &'a Context,
    /// Set by the config message, if any, until the stream opens with it.
    config: Option<StreamConfig>,
    /// Whether a config came (a second one, or one after audio, is refused).
    configured: bool,
    open: Option<Open>,
}

impl<'a> Connection<'a> {
    fn new(context: &'a Context) -> Connection<'a> {
        Connection {
            context,
            config: None,
            configured: false,
            open: None,
        }
    }

    /// Reads messages until eof, answering each audio message, then sends the final result.
    /// At the shutdown deadline, the audio limit or the idle timeout it stops reading, sends
    /// the final for the audio so far and returns the error that closes the connection.
    async fn run(&mut self, socket: &mut WebSocket) -> Result<Ended, WsError> {
        let context = self.context;
        let idle = context.idle_timeout;
        let deadline = context.drain.deadline();
        tokio::pin!(deadline);
        let ending = loop {
            let message = tokio::select! {
                biased;
                () = &mut deadline => break Some(WsError::ShutdownDeadline),
                received = tokio::time::timeout(idle, socket.recv()) => match received {
                    Err(_) => break Some(WsError::Idle(idle)),
                    Ok(None) => return Ok(Ended::Gone),
                    Ok(Some(Err(err))) => return read_error(err, &context.limits),
                    Ok(Some(Ok(message))) => message,
                },
            };
            let received = Instant::now();
            match message {
                Message::Text(text) => {
                    self.check_size(text.len())?;
                    let model_rate = context.engine.sample_rate();
                    match protocol::parse_text(text.as_str(), model_rate)? {
                        ClientText::Config(config) => self.configure(config)?,
                        ClientText::Eof => break None,
                    }
                }
                Message::Binary(audio) => {
                    self.check_size(audio.len())?;
                    let (reply, limit) = self.accept(audio.to_vec()).await?;
                    metrics::chunk_latency(received.elapsed().as_secs_f64());
                    if !send(socket, Message::text(reply), idle).await {
                        return Ok(Ended::Gone);
                    }
                    if limit.is_some() {
                        break limit;
                    }
                }
                // Closed before eof: no final (vosk-server sends nothing then either). One
                // more read sends the transport's reply to the close and ends the handshake.
                Message::Close(_) => {
                    let _ = tokio::time::timeout(CLOSE_LINGER, socket.recv()).await;
                    return Ok(Ended::Gone);
                }
                // Pings are answered by the transport.
                Message::Ping(_) | Message::Pong(_) => {}
            }
        };
        // Eof with no audio still gets its (empty) final; a stream cut before any audio
        // has nothing to report.
        if ending.is_none() && self.open.is_none() {
            self.open = Some(self.open_stream().await?);
        }
        if let Some(open) = self.open.take() {
            if !self.finish(open, socket).await? {
                return Ok(Ended::Gone);
            }
        }
        ending.map_or(Ok(Ended::Finished), Err)
    }

    fn check_size(&self, size: usize) -> Result<(), WsError> {
        let max = self.context.limits.max_chunk_bytes;
        if size > max {
            return Err(WsError::TooBig { size, max });
        }
        Ok(())
    }

    fn configure(&mut self, config: StreamConfig) -> Result<(), WsError> {
        if self.configured || self.open.is_some() {
            return Err(WsError::LateConfig);
        }
        tracing::debug!(?config, "WebSocket stream config");
        self.config = Some(config);
        self.configured = true;
        Ok(())
    }

    /// Opens the stream with the config (or the defaults), taking a pool session.
    async fn open_stream(&mut self) -> Result<Open, WsError> {
        let engine = &self.context.engine;
        let config = self
            .config
            .take()
            .unwrap_or_else(|| StreamConfig::default_for(engine.sample_rate()));
        let settings = config.stream_settings();
        let stream = engine
            .open_stream_with(settings.clone(), &config.decode_options())
            .await?;
        Ok(Open {
            stream,
            config,
            budget: AudioBudget::new(self.context.limits, &settings),
            partial: String::new(),
            finals: Vec::new(),
        })
    }

    /// Recognises one audio message; returns its reply and, when the message reached the
    /// audio limit, the error that ends the stream after its final.
    async fn accept(&mut self, audio: Vec<u8>) -> Result<(String, Option<WsError>), WsError> {
        let mut open = match self.open.take() {
            Some(open) => open,
            None => self.open_stream().await?,
        };
        let (audio, limit) = match open.budget.take(audio).map_err(WsError::Limit)? {
            Admitted::Audio(audio) => (audio, None),
            Admitted::Last(audio) => (audio, Some(WsError::Limit(open.budget.limit_error()))),
        };
        // Should the run fail, the stream is dropped with the connection's state, freeing
        // its session.
        let events = open.stream.accept_audio_async(&audio).await?;
        let mut finals = Vec::new();
        for event in events {
            match event {
                StreamEvent::Final(hypothesis) => {
                    open.partial.clear();
                    finals.push(hypothesis);
                }
                StreamEvent::Partial(hypothesis) => open.partial = hypothesis.text,
            }
        }
        open.finals.extend(finals.iter().cloned());
        let reply = match protocol::merge_finals(finals) {
            Some(utterance) => protocol::final_reply(&utterance, &open.config),
            None => protocol::partial_reply(&open.partial),
        };
        self.open = Some(open);
        Ok((reply, limit))
    }

    /// Sends the final result of the stream's last audio and records it; false when the
    /// client is gone.
    async fn finish(&self, open: Open, socket: &mut WebSocket) -> Result<bool, WsError> {
        let Open {
            mut stream,
            config,
            mut finals,
            ..
        } = open;
        let last = stream.finish_async().await?;
        let reply = protocol::merge_finals(last.clone())
            .map(|utterance| protocol::final_reply(&utterance, &config));
        finals.extend(last);
        record_finished(&Transcript {
            audio_seconds: stream.audio_seconds(),
            compute_seconds: stream.compute_seconds(),
            results: finals,
        });
        Ok(match reply {
            Some(reply) => send(socket, Message::text(reply), self.context.idle_timeout).await,
            None => true,
        })
    }
}

/// A failed read: over the transport's size limit (see [`super::error::transport_limit`]:
/// reported against `max_chunk_bytes`, the limit the client must keep to), broken framing,
/// or a client gone.
fn read_error(err: axum::Error, limits: &StreamLimits) -> Result<Ended, WsError> {
    let inner = err.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(tungstenite::error::CapacityError::MessageTooLong {
            size,
            ..
        })) => Err(WsError::TooBig {
            size: *size,
            max: limits.max_chunk_bytes,
        }),
        Some(tungstenite::Error::Protocol(problem)) => Err(WsError::Protocol(problem.to_string())),
        _ => {
            tracing::debug!(error = %inner, "WebSocket client went away");
            Ok(Ended::Gone)
        }
    }
}
