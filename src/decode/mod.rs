//! Model output to text: CTC decoding of per-frame log-probabilities.
//!
//! The decoder is streaming — it is fed each chunk's log-probs as the model produces them
//! and keeps just enough state to make chunk boundaries invisible — and it remembers when
//! and how confidently each token was emitted, for word timings and confidences.
//! [`StreamingDecoder`] is what a stream holds: greedy or prefix beam search (with an
//! optional ARPA word LM and per-request phrase boosts), endpointing, n-best and the
//! stability of partials.

mod beam;
mod boost;
mod ctc_greedy;
mod decoder;
mod endpoint;
mod lm;
mod prefix;
mod stability;
mod words;

pub use beam::{BeamConfig, BeamSearch, ScoredHypothesis};
pub use boost::{BoostError, BoostPhrase, PhraseBoost};
pub use ctc_greedy::{CtcGreedy, DecodeError, EmittedToken, WordSpan};
pub use decoder::{Candidate, DecoderConfig, Partial, SearchMode, StreamingDecoder, Utterance};
pub use endpoint::{is_silent_frame, EndpointConfig, EndpointRule, Endpointer};
pub use lm::{LmError, LmState, NgramLm};
pub use stability::{Stability, StabilityTracker};
