//! Per-stream decoding choices and the decoder they give.
//!
//! The engine fixes the search (greedy or beam, LM, endpointing) for every stream; a
//! request may only ask for more alternatives and boost its own phrases. Keeping that
//! split here means the gRPC layer validates protocol values and the engine stays the only
//! place that knows the model's vocabulary.

use std::sync::Arc;

use crate::decode::{BoostPhrase, DecoderConfig, NgramLm, PhraseBoost, StreamingDecoder};
use crate::error::AsrError;
use crate::model::ModelSpec;

/// What one stream asks of the decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// Alternatives per final, at least 1 (greedy decoding always gives 1).
    pub max_alternatives: usize,
    /// Phrases to favour (beam search only; greedy decoding ignores them).
    pub phrases: Vec<BoostPhrase>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_alternatives: 1,
            phrases: Vec::new(),
        }
    }
}

/// A decoder with the engine's search and LM and the stream's options.
pub(crate) fn stream_decoder(
    spec: &ModelSpec,
    search: &DecoderConfig,
    lm: Option<&Arc<NgramLm>>,
    options: &DecodeOptions,
) -> Result<StreamingDecoder, AsrError> {
    let tokens = &spec.vocab.tokens;
    let boost = if options.phrases.is_empty() {
        None
    } else {
        let emittable = |c: char| {
            let mut buf = [0u8; 4];
            let c = &*c.encode_utf8(&mut buf);
            tokens.iter().any(|t| t == c)
        };
        let boost = PhraseBoost::new(&options.phrases, emittable)?;
        Some(Arc::new(boost))
    };
    let config = DecoderConfig {
        max_alternatives: options.max_alternatives.max(1),
        ..search.clone()
    };
    Ok(StreamingDecoder::new(
        &config,
        spec.vocab.blank_id,
        tokens.clone(),
        spec.model_frame_duration(),
        lm.cloned(),
        boost,
    ))
}
