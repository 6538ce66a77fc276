//! The prefix beam search's beam entries: label prefixes as linked lists of `Arc` nodes
//! shared between beams (extending a prefix copies nothing), each node remembering the frame
//! and probability of its token for word timings, and each prefix keyed by a hash of its
//! tokens so equal prefixes reached by different alignments merge.

use std::sync::Arc;

use super::boost::BoostState;
use super::lm::LmState;
use super::EmittedToken;

/// One token of a prefix; `parent` is the prefix before it.
#[derive(Debug)]
pub(super) struct PrefixNode {
    pub(super) token: EmittedToken,
    pub(super) parent: Option<Arc<PrefixNode>>,
}

/// One prefix in the beam.
#[derive(Debug, Clone)]
pub(super) struct Beam {
    pub(super) prefix: Option<Arc<PrefixNode>>,
    pub(super) key: u64,
    /// ln P(prefix, alignment ends in blank / in its last token).
    pub(super) blank: f32,
    pub(super) non_blank: f32,
    /// Within a frame: the largest single contribution so far. The prefix node (and so
    /// the token's timing) is taken from that path, not from a negligible earlier one.
    pub(super) best_path: f32,
    pub(super) lm: LmState,
    /// Weighted LM scores and word bonuses of completed words.
    pub(super) lm_score: f32,
    /// The current word's penalty (until it completes).
    pub(super) prefix_penalty: f32,
    /// Characters of the word being spelled.
    pub(super) word: String,
    pub(super) boost: Option<BoostState>,
}

pub(super) const EMPTY_KEY: u64 = 0x9e37_79b9_7f4a_7c15;

pub(super) fn child_key(parent: u64, token: usize) -> u64 {
    // SplitMix64 finaliser over (parent, token): prefixes that differ anywhere differ here
    // with overwhelming probability.
    let mut z = parent
        ^ (token as u64)
            .wrapping_add(1)
            .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The node for token `c` (on `frame`, with `log_prob`) after `beam`'s prefix.
pub(super) fn node(beam: &Beam, c: usize, frame: u64, log_prob: f32) -> Arc<PrefixNode> {
    Arc::new(PrefixNode {
        token: EmittedToken {
            id: c,
            frame,
            prob: log_prob.exp(),
        },
        parent: beam.prefix.clone(),
    })
}

pub(super) fn log_add(a: f32, b: f32) -> f32 {
    if a == f32::NEG_INFINITY {
        return b;
    }
    if b == f32::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

impl Beam {
    pub(super) fn acoustic(&self) -> f32 {
        log_add(self.blank, self.non_blank)
    }

    pub(super) fn last_token(&self) -> Option<usize> {
        self.prefix.as_ref().map(|n| n.token.id)
    }

    pub(super) fn emitted(&self) -> Vec<EmittedToken> {
        let mut out = Vec::new();
        let mut at = self.prefix.as_deref();
        while let Some(node) = at {
            out.push(node.token);
            at = node.parent.as_deref();
        }
        out.reverse();
        out
    }
}
