//! Streams one recording to a server the way a live client would: the config first, then
//! LINEAR16 chunks of a fixed duration (optionally paced at real time), then a half-close,
//! and collects the partials and the final result.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::audio::DecodedAudio;
use crate::proto::recognition_config::AudioEncoding;
use crate::proto::recognizer_client::RecognizerClient;
use crate::proto::streaming_recognize_request::StreamingRequest;
use crate::proto::{
    RecognitionConfig, StreamingRecognitionConfig, StreamingRecognitionResult,
    StreamingRecognizeRequest,
};

use super::ClientError;

/// How to stream a recording.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Audio per request message.
    pub chunk_ms: u32,
    /// Send each chunk only once its audio would have been spoken (a live microphone).
    pub realtime: bool,
    /// Ask for partial results.
    pub interim_results: bool,
    /// Ask for word start/end times in the final result.
    pub word_time_offsets: bool,
    /// Sent as `authorization: Bearer TOKEN`, for servers started with an auth token.
    pub bearer_token: Option<String>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            chunk_ms: 100,
            realtime: false,
            interim_results: false,
            word_time_offsets: false,
            bearer_token: None,
        }
    }
}

/// A partial result as it arrived.
#[derive(Debug, Clone)]
pub struct Partial {
    pub transcript: String,
    /// How much of the audio the result covers (its `result_end_time`).
    pub end_time: Duration,
    pub received: Instant,
}

/// What came back for one streamed recording, with the timings the bench and the load test
/// report.
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    /// The last final result. With endpointing a stream may get several finals, one per
    /// utterance; `earlier_finals` holds the ones before it, in order.
    pub final_result: StreamingRecognitionResult,
    /// Finals that came before `final_result` (mid-stream endpoints).
    pub earlier_finals: Vec<StreamingRecognitionResult>,
    /// The partial results, in arrival order.
    pub partials: Vec<Partial>,
    /// Duration of the audio sent.
    pub audio: Duration,
    /// Audio per chunk (the last one may be shorter).
    pub chunk: Duration,
    /// When each audio chunk was handed to the transport, in order.
    pub chunks_sent: Vec<Instant>,
    /// When the last final result arrived.
    pub final_received: Instant,
}

impl StreamOutcome {
    /// When the first audio chunk was handed to the transport.
    pub fn first_chunk_sent(&self) -> Instant {
        self.chunks_sent
            .first()
            .copied()
            .unwrap_or(self.final_received)
    }

    /// When the last audio chunk was handed to the transport.
    pub fn last_chunk_sent(&self) -> Instant {
        self.chunks_sent
            .last()
            .copied()
            .unwrap_or(self.final_received)
    }

    /// The whole transcript: every final's best alternative, in order, joined by a space
    /// (empty finals skipped), as the in-process `Transcript::text` joins utterances.
    pub fn transcript(&self) -> String {
        self.earlier_finals
            .iter()
            .chain(std::iter::once(&self.final_result))
            .filter_map(|r| r.alternatives.first())
            .map(|a| a.transcript.as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Connects to a server at `url` (e.g. `http://127.0.0.1:50051`).
pub async fn connect(url: &str) -> Result<RecognizerClient<Channel>, ClientError> {
    connect_with_ca(url, None).await
}

/// Connects to `url`; an `https://` URL speaks TLS, trusting the PEM certificate(s) in `ca`
/// as well as the system's root certificates.
pub async fn connect_with_ca(
    url: &str,
    ca: Option<&Path>,
) -> Result<RecognizerClient<Channel>, ClientError> {
    let bad_url = |reason: String| ClientError::Url {
        url: url.to_owned(),
        reason,
    };
    let mut endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| bad_url(e.to_string()))?;
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(path) = ca {
            let pem = std::fs::read(path).map_err(|source| ClientError::ReadCa {
                path: path.to_owned(),
                source,
            })?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| bad_url(e.to_string()))?;
    } else if ca.is_some() {
        return Err(bad_url("a CA certificate needs an https:// URL".into()));
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| ClientError::Connect {
            url: url.to_owned(),
            source,
        })?;
    Ok(RecognizerClient::new(channel))
}

/// Mono f32 in [-1, 1] → 16-bit little-endian PCM, scaled by 32768 (so 16-bit WAV samples
/// read as `i / 32768` come back exactly), rounded and clipped.
pub fn linear16(samples: &[f32]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|&s| ((s * 32768.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes())
        .collect()
}

/// Streams `audio` as LINEAR16 at its own sample rate and waits for the final result.
pub async fn stream_audio(
    client: &mut RecognizerClient<Channel>,
    audio: &DecodedAudio,
    options: &StreamOptions,
) -> Result<StreamOutcome, ClientError> {
    let samples_per_chunk = (audio.sample_rate as usize * options.chunk_ms as usize / 1000).max(1);
    let chunks: Vec<Vec<u8>> = audio
        .samples
        .chunks(samples_per_chunk)
        .map(linear16)
        .collect();
    let chunk_count = chunks.len();
    let chunk_duration = Duration::from_millis(options.chunk_ms.into());

    let (tx, rx) = mpsc::channel(4);
    let sent = Arc::new(Mutex::new(Vec::with_capacity(chunk_count)));
    let requests = {
        let sent = Arc::clone(&sent);
        // Note when tonic takes each audio message (the config is not audio).
        ReceiverStream::new(rx).map(move |request: StreamingRecognizeRequest| {
            if let Some(StreamingRequest::AudioContent(_)) = request.streaming_request {
                let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
                sent.push(Instant::now());
            }
            request
        })
    };
    let config = config_request(audio.sample_rate, options);
    let realtime = options.realtime;
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        if tx.send(config).await.is_err() {
            return;
        }
        for (i, chunk) in chunks.into_iter().enumerate() {
            if realtime {
                // Chunk i has been "spoken" once its end time has passed.
                let spoken =
                    chunk_duration.saturating_mul(u32::try_from(i + 1).unwrap_or(u32::MAX));
                tokio::time::sleep_until(start + spoken).await;
            }
            let request = StreamingRecognizeRequest {
                streaming_request: Some(StreamingRequest::AudioContent(chunk)),
            };
            if tx.send(request).await.is_err() {
                return; // the call ended early; its status says why
            }
        }
        // Dropping `tx` half-closes the request stream.
    });

    let mut request = tonic::Request::new(requests);
    if let Some(token) = &options.bearer_token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| ClientError::Token)?;
        request.metadata_mut().insert("authorization", value);
    }
    let mut responses = client.streaming_recognize(request).await?.into_inner();
    let mut partials = Vec::new();
    let mut final_result = None;
    let mut earlier_finals = Vec::new();
    while let Some(response) = responses.message().await? {
        for result in response.results {
            if result.is_final {
                if let Some((earlier, _)) = final_result.replace((result, Instant::now())) {
                    earlier_finals.push(earlier);
                }
            } else if let Some(alternative) = result.alternatives.first() {
                partials.push(Partial {
                    transcript: alternative.transcript.clone(),
                    end_time: result
                        .result_end_time
                        .and_then(|t| Duration::try_from(t).ok())
                        .unwrap_or_default(),
                    received: Instant::now(),
                });
            }
        }
    }
    let (final_result, final_received) = final_result.ok_or(ClientError::NoFinal)?;
    let chunks_sent = std::mem::take(&mut *sent.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(StreamOutcome {
        final_result,
        earlier_finals,
        partials,
        audio: Duration::from_secs_f64(audio.samples.len() as f64 / f64::from(audio.sample_rate)),
        chunk: chunk_duration,
        chunks_sent,
        final_received,
    })
}

fn config_request(sample_rate: u32, options: &StreamOptions) -> StreamingRecognizeRequest {
    StreamingRecognizeRequest {
        streaming_request: Some(StreamingRequest::StreamingConfig(
            StreamingRecognitionConfig {
                config: Some(RecognitionConfig {
                    encoding: AudioEncoding::Linear16.into(),
                    sample_rate_hertz: i32::try_from(sample_rate).unwrap_or(i32::MAX),
                    audio_channel_count: 1,
                    max_alternatives: 1,
                    enable_word_time_offsets: options.word_time_offsets,
                    speech_contexts: Vec::new(),
                }),
                interim_results: options.interim_results,
                single_utterance: false,
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear16_scales_clips_and_is_little_endian() {
        let bytes = linear16(&[0.0, 1.0, -1.0, -2.0, 0.5, 100.4 / 32768.0]);
        let values: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(values, vec![0, 32767, -32768, -32768, 16384, 100]);
    }
}
