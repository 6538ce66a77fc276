//! Why a feature pipeline could not be set up.

/// Settings that the fbank computation or the frame stacker cannot honour.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeatureError {
    /// An fbank setting is out of range; the message names it and the accepted values.
    #[error("invalid fbank option: {0}")]
    InvalidOption(String),
    /// A frame-stacking setting is out of range.
    #[error("invalid frame stacking: stack={stack}, subsample={subsample}, bins={bins}; all must be at least 1")]
    InvalidStacking {
        stack: usize,
        subsample: usize,
        bins: usize,
    },
}
