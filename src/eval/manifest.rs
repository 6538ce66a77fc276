//! Manifests: the TSV lists of recordings and their reference text that `eval` scores
//! (format in docs/model-contract.md, shared with the Python recipe).

use std::path::{Path, PathBuf};

use crate::error::AsrError;

/// The header line every manifest starts with.
pub const HEADER: &str = "id\tpath\tduration\ttext";

/// One recording of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    pub id: String,
    /// Audio file, resolved against the manifest's folder.
    pub path: PathBuf,
    /// Seconds, as the manifest states.
    pub duration: f64,
    /// Reference transcript.
    pub text: String,
}

/// Reads the manifest at `path`.
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestEntry>, AsrError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AsrError::InvalidConfig(format!("manifest {}: {e}", path.display())))?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    parse_manifest(&text, base_dir)
        .map_err(|e| AsrError::InvalidConfig(format!("manifest {}: {e}", path.display())))
}

/// Parses manifest text whose relative paths resolve against `base_dir`.
pub fn parse_manifest(text: &str, base_dir: &Path) -> Result<Vec<ManifestEntry>, String> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim_end() == HEADER => {}
        _ => return Err(format!("the first line must be the header {HEADER:?}")),
    }
    lines
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(ix, line)| parse_line(line, base_dir).map_err(|e| format!("line {}: {e}", ix + 1)))
        .collect()
}

fn parse_line(line: &str, base_dir: &Path) -> Result<ManifestEntry, String> {
    let fields: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
    let [id, path, duration, text] = fields[..] else {
        return Err(format!(
            "expected 4 tab-separated fields, found {}",
            fields.len()
        ));
    };
    let duration: f64 = duration
        .parse()
        .map_err(|_| format!("duration {duration:?} is not a number"))?;
    Ok(ManifestEntry {
        id: id.to_string(),
        path: base_dir.join(path),
        duration,
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_relative_to_the_manifest() {
        let text =
            "id\tpath\tduration\ttext\nu1\twav/u1.wav\t1.25\thello world\n\nu2\t/abs/u2.wav\t2\t\n";
        let entries = parse_manifest(text, Path::new("sets/test")).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].id, "u1");
        assert_eq!(entries[0].path, Path::new("sets/test/wav/u1.wav"));
        assert_eq!(entries[0].duration, 1.25);
        assert_eq!(entries[0].text, "hello world");
        assert_eq!(entries[1].path, Path::new("/abs/u2.wav"));
        assert_eq!(entries[1].text, "");
    }

    #[test]
    fn rejects_a_missing_header_and_bad_lines() {
        assert!(parse_manifest("u1\ta.wav\t1\thi\n", Path::new("."))
            .unwrap_err()
            .contains("header"));
        let short = parse_manifest("id\tpath\tduration\ttext\nu1\ta.wav\t1\n", Path::new("."));
        assert!(short.unwrap_err().starts_with("line 2: expected 4"));
        let bad = parse_manifest(
            "id\tpath\tduration\ttext\nu1\ta.wav\tlong\thi\n",
            Path::new("."),
        );
        assert!(bad.unwrap_err().contains("\"long\" is not a number"));
    }
}
