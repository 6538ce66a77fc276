//! Recognition over real loopback gRPC: audio streamed in uneven chunks (odd byte counts
//! included) and whole recordings via `Recognize` must give the transcript that an
//! independent runtime (onnxruntime + kaldi-native-fbank) computed for the tiny test model.

use std::time::Duration;

use crate::common::*;
use compact_asr::proto::recognition_config::AudioEncoding;
use compact_asr::proto::{RecognitionConfig, RecognizeRequest, StreamingRecognitionResult};

const WAIT: Duration = Duration::from_secs(30);

fn final_result(
    responses: &[compact_asr::proto::StreamingRecognizeResponse],
) -> &StreamingRecognitionResult {
    let finals: Vec<_> = responses
        .iter()
        .flat_map(|r| &r.results)
        .filter(|r| r.is_final)
        .collect();
    assert_eq!(finals.len(), 1, "exactly one final result: {responses:?}");
    finals[0]
}

#[tokio::test]
async fn uneven_linear16_chunks_give_the_reference_transcript_with_partials() {
    let (_server, mut client) = start_tiny(2, WAIT).await;
    let audio = tone_wav();
    let mut requests = vec![config_request(AudioEncoding::Linear16, 16000, 1, true)];
    requests.extend(
        uneven_chunks(&pcm16(&audio.samples))
            .iter()
            .map(|c| audio_request(c)),
    );
    assert!(requests.iter().skip(1).any(|r| match &r.streaming_request {
        Some(compact_asr::proto::streaming_recognize_request::StreamingRequest::AudioContent(
            a,
        )) => a.len() % 2 == 1,
        _ => false,
    }));

    let responses = stream(&mut client, requests).await.unwrap();
    let last = responses.last().unwrap();
    assert!(last.results[0].is_final, "the final result comes last");
    let result = final_result(&responses);
    let best = &result.alternatives[0];
    assert_eq!(best.transcript, tone_expected());
    let end = result.result_end_time.unwrap();
    assert!(
        end.seconds == 1 || end.seconds == 2,
        "result_end_time {end:?} for 2 s of audio"
    );
    // Word times were asked for: the words spell the transcript, in order, within the audio.
    let words: Vec<_> = best.words.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(words.join(" "), best.transcript);
    for word in &best.words {
        let (start, end) = (word.start_time.unwrap(), word.end_time.unwrap());
        assert!(
            (start.seconds, start.nanos) < (end.seconds, end.nanos),
            "{word:?}"
        );
        assert!(end.seconds <= 2, "{word:?}");
    }

    // Partials arrived, and greedy CTC over a causal model only ever extends its text.
    let partials: Vec<_> = responses
        .iter()
        .flat_map(|r| &r.results)
        .filter(|r| !r.is_final)
        .collect();
    assert!(!partials.is_empty(), "interim results were requested");
    for partial in partials {
        let text = &partial.alternatives[0].transcript;
        assert!(best.transcript.starts_with(text.as_str()), "{text:?}");
        assert!((0.0..=1.0).contains(&partial.stability));
    }
}

#[tokio::test]
async fn float32_and_stereo_streams_match_the_mono_linear16_transcript() {
    let (_server, mut client) = start_tiny(2, WAIT).await;
    let audio = tone_wav();

    let float_bytes: Vec<u8> = audio.samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut requests = vec![config_request(AudioEncoding::Float32, 16000, 1, false)];
    requests.extend(uneven_chunks(&float_bytes).iter().map(|c| audio_request(c)));
    let responses = stream(&mut client, requests).await.unwrap();
    assert_eq!(
        final_result(&responses).alternatives[0].transcript,
        tone_expected()
    );
    assert_eq!(responses.len(), 1, "no partials unless asked for");

    // Both channels carry the same signal, so the downmix is the mono signal itself.
    let stereo: Vec<f32> = audio.samples.iter().flat_map(|&s| [s, s]).collect();
    let mut requests = vec![config_request(AudioEncoding::Linear16, 16000, 2, false)];
    requests.extend(
        uneven_chunks(&pcm16(&stereo))
            .iter()
            .map(|c| audio_request(c)),
    );
    let responses = stream(&mut client, requests).await.unwrap();
    assert_eq!(
        final_result(&responses).alternatives[0].transcript,
        tone_expected()
    );
}

#[tokio::test]
async fn unary_recognize_reads_wav_bytes_and_raw_pcm() {
    let (_server, mut client) = start_tiny(2, WAIT).await;

    let wav = std::fs::read(tone_wav_path()).unwrap();
    let response = client
        .recognize(RecognizeRequest {
            config: Some(RecognitionConfig {
                enable_word_time_offsets: true,
                ..Default::default()
            }),
            audio_content: wav,
        })
        .await
        .unwrap()
        .into_inner();
    let best = &response.results[0].alternatives[0];
    assert_eq!(best.transcript, tone_expected());
    assert!(!best.words.is_empty());
    assert_eq!(response.total_billed_time.unwrap().seconds, 2);

    let response = client
        .recognize(RecognizeRequest {
            config: Some(RecognitionConfig {
                encoding: AudioEncoding::Linear16.into(),
                sample_rate_hertz: 16000,
                ..Default::default()
            }),
            audio_content: pcm16(&tone_wav().samples),
        })
        .await
        .unwrap()
        .into_inner();
    let best = &response.results[0].alternatives[0];
    assert_eq!(best.transcript, tone_expected());
    assert!(best.words.is_empty(), "word times only when asked for");
}

#[tokio::test]
async fn client_streaming_helper_reports_the_transcript() {
    let (server, _client) = start_tiny(1, WAIT).await;
    let mut client = compact_asr::client::connect(&server.url()).await.unwrap();
    let options = compact_asr::client::StreamOptions {
        chunk_ms: 70,
        interim_results: true,
        ..Default::default()
    };
    let outcome = compact_asr::client::stream_audio(&mut client, &tone_wav(), &options)
        .await
        .unwrap();
    assert_eq!(outcome.transcript(), tone_expected());
    assert_eq!(outcome.audio, Duration::from_secs(2));
    assert_eq!(outcome.chunks_sent.len(), 2000_usize.div_ceil(70));
    assert!(outcome.chunks_sent.is_sorted());
    assert!(outcome.last_chunk_sent() <= outcome.final_received);
    assert!(outcome.partials.iter().all(|p| p.end_time <= outcome.audio));
}

#[tokio::test]
async fn a_stream_without_audio_ends_with_an_empty_final() {
    let (_server, mut client) = start_tiny(1, WAIT).await;
    let config = config_request(AudioEncoding::Mulaw, 8000, 2, true);
    let responses = stream(&mut client, vec![config]).await.unwrap();
    let result = final_result(&responses);
    assert_eq!(result.alternatives[0].transcript, "");
    assert!(result.alternatives[0].words.is_empty());
}
