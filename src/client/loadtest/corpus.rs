//! The recordings a load test streams: every WAV in a folder, each with its reference
//! transcript from the `.txt` file of the same name beside it (as in `tests/data/`), if any.

use std::path::{Path, PathBuf};

use crate::audio::{read_wav_file, AudioError, DecodedAudio};

/// One recording and what was said in it.
#[derive(Debug, Clone)]
pub struct Utterance {
    pub path: PathBuf,
    pub audio: DecodedAudio,
    /// The reference transcript, normalised like the model's output (see [`normalise`]).
    pub reference: Option<String>,
}

/// Why the recordings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read folder {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no .wav files in {}", .0.display())]
    Empty(PathBuf),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("cannot read reference {}: {source}", path.display())]
    Reference {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads every `*.wav` in `dir` (sorted by name) and its `*.txt` reference if present.
pub fn load_corpus(dir: &Path) -> Result<Vec<Utterance>, CorpusError> {
    let folder_error = |source| CorpusError::Folder {
        path: dir.to_path_buf(),
        source,
    };
    let mut wavs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(folder_error)? {
        let path = entry.map_err(folder_error)?.path();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            wavs.push(path);
        }
    }
    if wavs.is_empty() {
        return Err(CorpusError::Empty(dir.to_path_buf()));
    }
    wavs.sort();
    wavs.into_iter()
        .map(|path| {
            let audio = read_wav_file(&path)?;
            let txt = path.with_extension("txt");
            let reference = match std::fs::read_to_string(&txt) {
                Ok(text) => Some(normalise(&text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => return Err(CorpusError::Reference { path: txt, source }),
            };
            Ok(Utterance {
                path,
                audio,
                reference,
            })
        })
        .collect()
}

/// Lower case, letters, digits and apostrophes only, single spaces: the character set
/// the models transcribe into, so punctuation in a reference does not count as errors.
pub fn normalise(text: &str) -> String {
    let kept: String = text
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_lose_case_and_punctuation_but_keep_apostrophes() {
        assert_eq!(
            normalise("  What's the weather,\tin London?\n"),
            "what's the weather in london"
        );
    }
}
