//! The `compact_asr.v1.Recognizer` service: protocol flow for both RPCs.
//!
//! Why it looks like this: a live stream's chunk goes through the front end in its own task
//! (microseconds: PCM decoding, resampling, fbank) and awaits its model run in the shared
//! batch, so no thread is woken or parked per chunk; whole recordings (WAV parsing and
//! `Recognize`'s audio, which can be long) run on tokio's blocking pool, so one big request
//! never stalls another stream's network I/O. A stream owns its pool session; when the call
//! ends for any reason (final sent, error, client gone) the stream is dropped and the
//! session goes back to the pool. Every call is admitted through the server's [`Drain`], so
//! shutdown can refuse new calls and cut open streams at its deadline. Which requests are
//! acceptable, in which order and size, is decided by [`RequestSequence`]; the idle timeout
//! (time, not content) is enforced here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::spawn_blocking;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use crate::audio;
use crate::error::AsrError;
use crate::metrics::{self, ActiveStream};
use crate::pipeline::{self, Engine, RecognitionStream, Recording, StreamEvent, Transcript};
use crate::proto::recognizer_server::Recognizer;
use crate::proto::{
    RecognitionConfig, RecognizeRequest, RecognizeResponse, StreamingRecognizeRequest,
    StreamingRecognizeResponse,
};

use super::drain::Drain;
use super::protocol::{RequestSequence, Step, StreamLimits};
use super::replies::Replies;
use super::request_config::{self, UnaryAudio};
use super::responses;
use super::status::{RequestError, ServiceError};

/// Responses a stream may queue ahead of a slow reader before recognition waits for it.
const RESPONSE_QUEUE: usize = 16;

type ResponseSender = mpsc::Sender<Result<StreamingRecognizeResponse, Status>>;

/// Serves recognition requests with one shared [`Engine`].
#[derive(Debug)]
pub struct RecognizerService {
    engine: Engine,
    drain: Drain,
    limits: StreamLimits,
    /// How long a stream may go without a request.
    idle_timeout: Duration,
    next_stream_id: AtomicU64,
}

impl RecognizerService {
    pub fn new(engine: Engine, drain: Drain, limits: StreamLimits, idle_timeout: Duration) -> Self {
        RecognizerService {
            engine,
            drain,
            limits,
            idle_timeout,
            next_stream_id: AtomicU64::new(1),
        }
    }

    async fn recognize_whole(
        &self,
        config: RecognitionConfig,
        audio: Vec<u8>,
    ) -> Result<RecognizeResponse, ServiceError> {
        let with_words = config.enable_word_time_offsets;
        let options = request_config::decode_options(&config)?;
        let recording = match request_config::unary_audio(&config)? {
            UnaryAudio::Pcm(settings) => {
                self.limits
                    .check_unary(request_config::pcm_duration(&settings, audio.len()))?;
                Recording::Pcm {
                    settings,
                    bytes: audio,
                }
            }
            UnaryAudio::Wav => {
                let wav = spawn_blocking(move || audio::read_wav(&audio))
                    .await?
                    .map_err(AsrError::from)?;
                if wav.sample_rate > 0 {
                    let seconds = wav.samples.len() as f64 / f64::from(wav.sample_rate);
                    self.limits.check_unary(Duration::from_secs_f64(seconds))?;
                }
                Recording::Samples(wav)
            }
        };
        let transcript = pipeline::recognize(&self.engine, recording, 0, &options).await?;
        record_finished(&transcript);
        let audio_length = Duration::from_secs_f64(transcript.audio_seconds);
        Ok(responses::recognize(
            &transcript.results,
            with_words,
            audio_length,
        ))
    }

    /// Reads the first request (the config) and opens the stream, so that protocol errors
    /// and RESOURCE_EXHAUSTED end the call with a status before any response is streamed.
    async fn open_streaming(
        &self,
        requests: &mut Streaming<StreamingRecognizeRequest>,
        sequence: &mut RequestSequence,
    ) -> Result<(RecognitionStream, Replies), ServiceError> {
        let first = tokio::time::timeout(self.idle_timeout, requests.message())
            .await
            .map_err(|_| RequestError::Idle(self.idle_timeout))??;
        let first = first.ok_or(RequestError::NoConfig)?;
        let (streaming, settings) = match sequence.next(first)? {
            Step::Config { config, settings } => (config, settings),
            Step::Audio(_) | Step::LastAudio(_) => return Err(out_of_sequence()),
        };
        let config = streaming.config.unwrap_or_default();
        let options = request_config::decode_options(&config)?;
        let replies = Replies::new(config.enable_word_time_offsets, streaming.single_utterance);
        tracing::debug!(
            ?settings,
            ?replies,
            max_alternatives = options.max_alternatives,
            phrases = options.phrases.len(),
            "opening stream"
        );
        let stream = self.engine.open_stream_with(settings, &options).await?;
        Ok((stream, replies))
    }
}

#[tonic::async_trait]
impl Recognizer for RecognizerService {
    async fn recognize(
        &self,
        request: Request<RecognizeRequest>,
    ) -> Result<Response<RecognizeResponse>, Status> {
        let _call = self.drain.admit().ok_or(ServiceError::Draining)?;
        let _active = ActiveStream::new();
        let id = self.next_stream_id.fetch_add(1, Ordering::Relaxed);
        let request = request.into_inner();
        let config = request.config.unwrap_or_default();
        self.recognize_whole(config, request.audio_content)
            .instrument(tracing::info_span!("recognize", id))
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    type StreamingRecognizeStream = ReceiverStream<Result<StreamingRecognizeResponse, Status>>;

    async fn streaming_recognize(
        &self,
        request: Request<Streaming<StreamingRecognizeRequest>>,
    ) -> Result<Response<Self::StreamingRecognizeStream>, Status> {
        let call = self.drain.admit().ok_or(ServiceError::Draining)?;
        let active = ActiveStream::new();
        let id = self.next_stream_id.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("stream", id);
        let mut requests = request.into_inner();
        let mut sequence = RequestSequence::new(self.limits);
        let (stream, replies) = tokio::select! {
            opened = self
                .open_streaming(&mut requests, &mut sequence)
                .instrument(span.clone()) => opened?,
            () = self.drain.deadline() => return Err(ServiceError::ShutdownDeadline.into()),
        };
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        let drain = self.drain.clone();
        let input = Input {
            requests,
            sequence,
            idle_timeout: self.idle_timeout,
        };
        tokio::spawn(
            async move {
                // The call stays open (for the drain and the gauge) until this task ends.
                let (_call, _active) = (call, active);
                let deadline = drain.deadline();
                match recognize_stream(stream, input, &tx, replies, deadline).await {
                    Ok(()) => {}
                    Err(err) if tx.is_closed() => {
                        tracing::debug!(error = %err, "client went away");
                    }
                    Err(err) => {
                        // Fails only if the client has just gone; nobody is left to tell.
                        let _ = tx.send(Err(err.into())).await;
                    }
                }
            }
            .instrument(span),
        );
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A stream's requests after its config, and the rules they must follow.
struct Input {
    requests: Streaming<StreamingRecognizeRequest>,
    sequence: RequestSequence,
    idle_timeout: Duration,
}

/// The request sequence handed the service a step it cannot be in (a bug, not the client's).
fn out_of_sequence() -> ServiceError {
    AsrError::Internal("request sequence out of order".into()).into()
}

/// Feeds audio requests to the stream, sending partials and each utterance's final as
/// endpoints occur, until the client half-closes; then sends the last final (if it has text
/// or is the only one). With `single_utterance`, the first endpoint ends the call: it sends
/// END_OF_SINGLE_UTTERANCE, that final, and stops reading audio (Google's order).
/// Returns early (dropping the stream, freeing its session) if the client goes away. It
/// stops reading, sends the final for the audio received so far and then ends the call with
/// a status at the shutdown `deadline` (UNAVAILABLE), when the audio limit is reached
/// (OUT_OF_RANGE) or when no request came for the idle timeout (DEADLINE_EXCEEDED). A
/// client that takes no response for the idle timeout is treated as gone (see [`deliver`]).
async fn recognize_stream(
    mut stream: RecognitionStream,
    input: Input,
    tx: &ResponseSender,
    mut replies: Replies,
    deadline: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    let Input {
        mut requests,
        mut sequence,
        idle_timeout,
    } = input;
    tokio::pin!(deadline);
    // Why the call ends after the last final, when not with OK.
    let mut ending: Option<ServiceError> = None;
    let mut results = Vec::new();
    while ending.is_none() {
        let request = tokio::select! {
            biased;
            () = &mut deadline => {
                ending = Some(ServiceError::ShutdownDeadline);
                break;
            }
            message = requests.message() => match message? {
                Some(request) => request,
                None => {
                    sequence.finish()?;
                    break;
                }
            },
            () = tokio::time::sleep(idle_timeout) => {
                ending = Some(RequestError::Idle(idle_timeout).into());
                break;
            }
        };
        let received = Instant::now();
        let audio = match sequence.next(request)? {
            Step::Audio(audio) => audio,
            Step::LastAudio(audio) => {
                ending = Some(sequence.limit_error().into());
                audio
            }
            Step::Config { .. } => return Err(out_of_sequence()),
        };
        let events = stream.accept_audio_async(&audio).await?;
        metrics::chunk_latency(received.elapsed().as_secs_f64());
        for event in events {
            for response in replies.on_event(&event) {
                if !deliver(tx, response, idle_timeout).await {
                    return Ok(());
                }
            }
            if let StreamEvent::Final(hypothesis) = event {
                results.push(hypothesis);
            }
            if replies.is_done() {
                record_finished(&Transcript {
                    audio_seconds: stream.audio_seconds(),
                    compute_seconds: stream.compute_seconds(),
                    results,
                });
                return Ok(());
            }
        }
    }
    let last = stream.finish_async().await?;
    for response in replies.on_finish(&last) {
        if !deliver(tx, response, idle_timeout).await {
            break;
        }
    }
    results.extend(last);
    record_finished(&Transcript {
        audio_seconds: stream.audio_seconds(),
        compute_seconds: stream.compute_seconds(),
        results,
    });
    match ending {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Queues `response` for the client; false when the client is gone or has not taken a
/// response for `stall` (the idle timeout). Why the bound: a client that stops reading but
/// keeps its connection open would otherwise hold its pool session forever, since HTTP/2
/// flow control then also stops its requests, and the idle timeout on requests never fires
/// while the stream waits here. Such a stream is dropped (its session freed) without a
/// status: a client that does not read could not receive one.
async fn deliver(
    tx: &ResponseSender,
    response: StreamingRecognizeResponse,
    stall: Duration,
) -> bool {
    match tokio::time::timeout(stall, tx.send(Ok(response))).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => {
            tracing::debug!("client went away");
            false
        }
        Err(_) => {
            tracing::warn!(
                ?stall,
                "client took no response for the idle timeout; ending its stream"
            );
            false
        }
    }
}

/// Logs a finished recognition and records its audio and real-time factor (every
/// transport's streams, so the WebSocket endpoint calls it too).
pub(crate) fn record_finished(transcript: &Transcript) {
    let Transcript {
        audio_seconds,
        compute_seconds,
        ..
    } = *transcript;
    let real_time_factor = if audio_seconds > 0.0 {
        compute_seconds / audio_seconds
    } else {
        0.0
    };
    metrics::audio_processed(audio_seconds);
    if audio_seconds > 0.0 {
        metrics::rtf(real_time_factor);
    }
    tracing::info!(
        audio_seconds,
        compute_seconds,
        real_time_factor,
        transcript_chars = transcript.text().len(),
        "recognised"
    );
}
