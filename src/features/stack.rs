//! Low frame rate: concatenates consecutive fbank frames into one model frame.
//!
//! The model runs at one frame per `subsample` fbank frames, each input being `stack`
//! consecutive fbank frames, oldest first (model frame k = fbank frames
//! k*subsample .. k*subsample + stack). Fbank frames are buffered until a model frame is
//! complete; a trailing remainder simply never completes, matching training.

use super::FeatureError;

/// Streaming frame stacker; see the module docs.
#[derive(Debug, Clone)]
pub struct FrameStacker {
    stack: usize,
    subsample: usize,
    bins: usize,
    /// Fbank values from absolute fbank frame `buffer_start` on (may end mid-frame).
    buffer: Vec<f32>,
    buffer_start: u64,
    frames_emitted: u64,
}

impl FrameStacker {
    /// A stacker of `stack` frames of `bins` values, advancing `subsample` frames per output.
    pub fn new(stack: usize, subsample: usize, bins: usize) -> Result<Self, FeatureError> {
        if stack == 0 || subsample == 0 || bins == 0 {
            return Err(FeatureError::InvalidStacking {
                stack,
                subsample,
                bins,
            });
        }
        Ok(Self {
            stack,
            subsample,
            bins,
            buffer: Vec::new(),
            buffer_start: 0,
            frames_emitted: 0,
        })
    }

    /// Adds fbank values (whole frames, normally) and appends each completed model frame
    /// (`stack * bins` values) to `out`.
    pub fn push(&mut self, fbank_frames: &[f32], out: &mut Vec<f32>) {
        self.buffer.extend_from_slice(fbank_frames);
        let available = self.buffer_start + (self.buffer.len() / self.bins) as u64;
        let mut first = self.frames_emitted * self.subsample as u64;
        while first + self.stack as u64 <= available {
            let offset = (first - self.buffer_start) as usize * self.bins;
            out.extend_from_slice(&self.buffer[offset..offset + self.stack * self.bins]);
            self.frames_emitted += 1;
            first += self.subsample as u64;
        }
        let keep_from = first.min(available);
        self.buffer
            .drain(..(keep_from - self.buffer_start) as usize * self.bins);
        self.buffer_start = keep_from;
    }

    /// Model frames produced since the stream started.
    pub fn frames_emitted(&self) -> u64 {
        self.frames_emitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` frames of `bins` values where frame i holds i*100 + bin.
    fn frames(range: std::ops::Range<usize>, bins: usize) -> Vec<f32> {
        range
            .flat_map(|i| (0..bins).map(move |b| (i * 100 + b) as f32))
            .collect()
    }

    fn stack_all(stacker: &mut FrameStacker, input: &[f32], chunk_values: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for chunk in input.chunks(chunk_values) {
            stacker.push(chunk, &mut out);
        }
        out
    }

    #[test]
    fn contract_stacking_3_by_3() {
        let input = frames(0..11, 2);
        for chunk in [1, 2, 5, 6, 22] {
            let mut s = FrameStacker::new(3, 3, 2).unwrap();
            let out = stack_all(&mut s, &input, chunk);
            // 11 frames -> model frames {0,1,2}, {3,4,5}, {6,7,8}; frames 9, 10 dropped.
            let expected: Vec<f32> = [0, 1, 2, 3, 4, 5, 6, 7, 8]
                .iter()
                .flat_map(|&i| [(i * 100) as f32, (i * 100 + 1) as f32])
                .collect();
            assert_eq!(out, expected, "chunk {chunk}");
            assert_eq!(s.frames_emitted(), 3);
        }
    }

    #[test]
    fn overlapping_and_gapped_stacking() {
        // stack 3, hop 1: frames {0,1,2}, {1,2,3}, {2,3,4}.
        let mut overlap = FrameStacker::new(3, 1, 1).unwrap();
        assert_eq!(
            stack_all(&mut overlap, &frames(0..5, 1), 1),
            vec![0., 100., 200., 100., 200., 300., 200., 300., 400.]
        );
        // stack 2, hop 3: frames {0,1}, {3,4}, {6,7}; 2 and 5 are skipped.
        let mut gapped = FrameStacker::new(2, 3, 1).unwrap();
        assert_eq!(
            stack_all(&mut gapped, &frames(0..8, 1), 1),
            vec![0., 100., 300., 400., 600., 700.]
        );
    }

    #[test]
    fn rejects_zero_sizes() {
        assert!(FrameStacker::new(0, 3, 80).is_err());
        assert!(FrameStacker::new(3, 0, 80).is_err());
        assert!(FrameStacker::new(3, 3, 0).is_err());
    }
}
