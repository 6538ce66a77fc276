//! The `compact_asr.v1.Recognizer` service: protocol flow for both RPCs.
//!
//! Why it looks like this: the async handlers only move messages; every CPU-heavy step
//! (WAV parsing, features, model runs) happens on tokio's blocking pool, so one busy stream
//! never stalls another stream's network I/O. A stream owns its pool session; when the call
//! ends for any reason (final sent, error, client gone) the stream is dropped and the
//! session goes back to the pool. Every call is admitted through the server's [`Drain`], so
//! shutdown can refuse new calls and cut open streams at its deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::spawn_blocking;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use crate::audio;
use crate::metrics::{self, ActiveStream};
use crate::pipeline::{Engine, Hypothesis, RecognitionStream, StreamEvent};
use crate::proto::recognizer_server::Recognizer;
use crate::proto::streaming_recognize_request::StreamingRequest;
use crate::proto::{
    RecognitionConfig, RecognizeRequest, RecognizeResponse, StreamingRecognizeRequest,
    StreamingRecognizeResponse,
};
use crate::transcribe::{transcribe_audio, Transcript};

use super::drain::Drain;
use super::responses;
use super::settings::{self, UnaryAudio};
use super::status::{RequestError, ServiceError};

/// Responses a stream may queue ahead of a slow reader before recognition waits for it.
const RESPONSE_QUEUE: usize = 16;

type ResponseSender = mpsc::Sender<Result<StreamingRecognizeResponse, Status>>;

/// Serves recognition requests with one shared [`Engine`].
#[derive(Debug)]
pub struct RecognizerService {
    engine: Engine,
    drain: Drain,
    next_stream_id: AtomicU64,
}

impl RecognizerService {
    pub fn new(engine: Engine, drain: Drain) -> Self {
        RecognizerService {
            engine,
            drain,
            next_stream_id: AtomicU64::new(1),
        }
    }

    async fn recognize_whole(
        &self,
        config: RecognitionConfig,
        audio: Vec<u8>,
    ) -> Result<RecognizeResponse, ServiceError> {
        let with_words = config.enable_word_time_offsets;
        let options = settings::decode_options(&config)?;
        let transcript = match settings::unary_audio(&config)? {
            UnaryAudio::Pcm(settings) => {
                let stream = self.engine.open_stream_with(settings, &options).await?;
                let (stream, results) = run_blocking(stream, move |s| {
                    let mut results: Vec<Hypothesis> = s
                        .accept_audio(&audio)?
                        .into_iter()
                        .filter_map(|event| match event {
                            StreamEvent::Final(h) => Some(h),
                            StreamEvent::Partial(_) => None,
                        })
                        .collect();
                    results.extend(s.finish()?);
                    Ok(results)
                })
                .await?;
                Transcript {
                    results,
                    audio_seconds: stream.audio_seconds(),
                    compute_seconds: stream.compute_seconds(),
                }
            }
            UnaryAudio::Wav => {
                let wav = spawn_blocking(move || audio::read_wav(&audio)).await??;
                transcribe_audio(&self.engine, wav, 0, &options).await?
            }
        };
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
    ) -> Result<(RecognitionStream, StreamReplies), ServiceError> {
        let first = requests.message().await?.ok_or(RequestError::NoConfig)?;
        let streaming = match first.streaming_request {
            Some(StreamingRequest::StreamingConfig(config)) => config,
            Some(StreamingRequest::AudioContent(_)) | None => {
                return Err(RequestError::ConfigNotFirst.into())
            }
        };
        let settings = settings::streaming_settings(&streaming)?;
        let config = streaming.config.unwrap_or_default();
        let options = settings::decode_options(&config)?;
        let replies = StreamReplies {
            with_words: config.enable_word_time_offsets,
            single_utterance: streaming.single_utterance,
        };
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
        let (stream, replies) = tokio::select! {
            opened = self.open_streaming(&mut requests).instrument(span.clone()) => opened?,
            () = self.drain.deadline() => return Err(ServiceError::ShutdownDeadline.into()),
        };
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        let drain = self.drain.clone();
        tokio::spawn(
            async move {
                // The call stays open (for the drain and the gauge) until this task ends.
                let (_call, _active) = (call, active);
                let deadline = drain.deadline();
                match recognize_stream(stream, requests, &tx, replies, deadline).await {
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

/// How a stream's client wants its results.
#[derive(Debug, Clone, Copy)]
struct StreamReplies {
    /// Word time offsets in finals.
    with_words: bool,
    /// Stop after the first final.
    single_utterance: bool,
}

/// Feeds audio requests to the stream, sending partials and each utterance's final as
/// endpoints occur, until the client half-closes; then sends the last final (if it has text
/// or is the only one). With `single_utterance`, the first endpoint ends the call: it sends
/// END_OF_SINGLE_UTTERANCE, that final, and stops reading audio (Google's order).
/// Returns early (dropping the stream, freeing its session) if the client goes away. At the
/// shutdown `deadline` it stops reading, sends the final for the audio received so far and
/// ends the call with UNAVAILABLE.
async fn recognize_stream(
    mut stream: RecognitionStream,
    mut requests: Streaming<StreamingRecognizeRequest>,
    tx: &ResponseSender,
    replies: StreamReplies,
    deadline: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    tokio::pin!(deadline);
    let mut cut = false;
    let mut finals_sent = 0usize;
    let mut results = Vec::new();
    loop {
        let request = tokio::select! {
            biased;
            () = &mut deadline => {
                cut = true;
                break;
            }
            message = requests.message() => match message? {
                Some(request) => request,
                None => break,
            },
        };
        let received = Instant::now();
        let audio = match request.streaming_request {
            Some(StreamingRequest::AudioContent(audio)) => audio,
            Some(StreamingRequest::StreamingConfig(_)) => {
                return Err(RequestError::RepeatedConfig.into())
            }
            None => return Err(RequestError::EmptyRequest.into()),
        };
        let events;
        (stream, events) = run_blocking(stream, move |s| s.accept_audio(&audio)).await?;
        metrics::chunk_latency(received.elapsed().as_secs_f64());
        for event in events {
            let response = match &event {
                StreamEvent::Partial(hypothesis) => responses::interim(hypothesis),
                StreamEvent::Final(hypothesis) => {
                    if replies.single_utterance
                        && tx
                            .send(Ok(responses::end_of_single_utterance()))
                            .await
                            .is_err()
                    {
                        tracing::debug!("client went away");
                        return Ok(());
                    }
                    responses::streaming_final(hypothesis, replies.with_words)
                }
            };
            if tx.send(Ok(response)).await.is_err() {
                tracing::debug!("client went away");
                return Ok(());
            }
            if let StreamEvent::Final(hypothesis) = event {
                finals_sent += 1;
                results.push(hypothesis);
                if replies.single_utterance {
                    record_finished(&Transcript {
                        audio_seconds: stream.audio_seconds(),
                        compute_seconds: stream.compute_seconds(),
                        results,
                    });
                    return Ok(());
                }
            }
        }
    }
    let (stream, last) = run_blocking(stream, RecognitionStream::finish).await?;
    let count = last.len();
    for (i, hypothesis) in last.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let wanted = !hypothesis.text.is_empty() || (is_last && finals_sent == 0);
        let allowed = !replies.single_utterance || finals_sent == 0;
        if wanted && allowed {
            if tx
                .send(Ok(responses::streaming_final(
                    &hypothesis,
                    replies.with_words,
                )))
                .await
                .is_err()
            {
                tracing::debug!("client went away before the final result");
                break;
            }
            finals_sent += 1;
        }
        results.push(hypothesis);
    }
    record_finished(&Transcript {
        audio_seconds: stream.audio_seconds(),
        compute_seconds: stream.compute_seconds(),
        results,
    });
    if cut {
        return Err(ServiceError::ShutdownDeadline);
    }
    Ok(())
}

/// Runs `work` on the stream on a blocking thread and hands the stream back with its result.
async fn run_blocking<T, F>(
    mut stream: RecognitionStream,
    work: F,
) -> Result<(RecognitionStream, T), ServiceError>
where
    T: Send + 'static,
    F: FnOnce(&mut RecognitionStream) -> Result<T, crate::error::AsrError> + Send + 'static,
{
    let (stream, result) = spawn_blocking(move || {
        let result = work(&mut stream);
        (stream, result)
    })
    .await?;
    Ok((stream, result?))
}

/// Logs a finished recognition and records its audio and real-time factor.
fn record_finished(transcript: &Transcript) {
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
