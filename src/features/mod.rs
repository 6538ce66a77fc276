//! Audio samples to the model's input: Kaldi log-mel fbank frames, stacked to a low frame rate.
//!
//! The model was trained on features from kaldi-native-fbank, so the server must reproduce
//! them to within float noise; and because audio arrives in chunks of any size, the
//! streaming computation must give exactly the frames of a one-shot pass. Tests compare
//! against reference frames written by `tests/data/fbank/make_fixtures.py`.

mod error;
mod fbank;
mod mel;
mod options;
mod stack;
mod window;

pub use error::FeatureError;
pub use fbank::{compute_fbank, StreamingFbank};
pub use options::FbankOptions;
pub use stack::FrameStacker;
