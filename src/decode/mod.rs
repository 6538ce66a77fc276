//! Model output to text: CTC decoding of per-frame log-probabilities.
//!
//! The decoder is streaming — it is fed each chunk's log-probs as the model produces them
//! and keeps just enough state to make chunk boundaries invisible — and it remembers when
//! and how confidently each token was emitted, for word timings and confidences.

mod ctc_greedy;

pub use ctc_greedy::{CtcGreedy, DecodeError, EmittedToken, WordSpan};
