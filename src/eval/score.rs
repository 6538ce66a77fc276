//! Word and character error rates: Levenshtein distance between reference and hypothesis,
//! summed over a set and divided by the reference length (the standard WER/CER).

use std::fmt;

/// Edits (substitutions, insertions, deletions) against a reference of `reference_len` units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCount {
    pub edits: usize,
    pub reference_len: usize,
}

impl ErrorCount {
    /// Word errors of `hypothesis` against `reference` (split at whitespace).
    pub fn words(reference: &str, hypothesis: &str) -> ErrorCount {
        let r: Vec<&str> = reference.split_whitespace().collect();
        let h: Vec<&str> = hypothesis.split_whitespace().collect();
        ErrorCount {
            edits: edit_distance(&r, &h),
            reference_len: r.len(),
        }
    }

    /// Character errors, spaces included, after collapsing runs of whitespace.
    pub fn chars(reference: &str, hypothesis: &str) -> ErrorCount {
        let chars = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .collect()
        };
        let (r, h): (Vec<char>, Vec<char>) = (chars(reference), chars(hypothesis));
        ErrorCount {
            edits: edit_distance(&r, &h),
            reference_len: r.len(),
        }
    }

    /// Adds another utterance's counts.
    pub fn add(&mut self, other: ErrorCount) {
        self.edits += other.edits;
        self.reference_len += other.reference_len;
    }

    /// Edits per reference unit (0 for an empty reference with no edits, edits otherwise).
    pub fn rate(&self) -> f64 {
        self.edits as f64 / self.reference_len.max(1) as f64
    }
}

impl fmt::Display for ErrorCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.2}% ({}/{})",
            100.0 * self.rate(),
            self.edits,
            self.reference_len
        )
    }
}

/// Fewest substitutions, insertions and deletions turning `a` into `b`.
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(x != y);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_each_kind_of_edit() {
        assert_eq!(edit_distance(b"kitten", b"sitting"), 3);
        assert_eq!(edit_distance(b"", b"abc"), 3);
        assert_eq!(edit_distance(b"abc", b""), 3);
        assert_eq!(edit_distance(b"abc", b"abc"), 0);
        assert_eq!(edit_distance(b"abcd", b"acd"), 1);
    }

    #[test]
    fn word_and_char_rates() {
        let w = ErrorCount::words("the cat sat down", "the bat sat");
        assert_eq!(
            w,
            ErrorCount {
                edits: 2,
                reference_len: 4
            }
        );
        assert_eq!(w.rate(), 0.5);
        let c = ErrorCount::chars("ab  cd", " ab cx ");
        assert_eq!(
            c,
            ErrorCount {
                edits: 1,
                reference_len: 5
            }
        );
        let mut total = w;
        total.add(ErrorCount {
            edits: 1,
            reference_len: 6,
        });
        assert_eq!(total.rate(), 0.3);
        assert_eq!(total.to_string(), "30.00% (3/10)");
    }
}
