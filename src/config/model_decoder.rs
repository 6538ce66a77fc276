//! The decoding a model recommends: the `[decoder]` table of its `model.toml`.
//!
//! Why a layer of its own: which search, LM and weights give a model its best measured WER
//! is a fact about that model (models/README.md), so the model says it, and `serve` with no
//! flags decodes the way the figures were measured. It sits just above the built-in
//! defaults: the configuration file, environment and flags still override each key.
//!
//! ```toml
//! [decoder]
//! decoder = "beam"
//! beam_width = 16
//! lm = "lm.arpa"      # relative to model.toml
//! lm_weight = 0.5
//! word_bonus = 3.0
//! ```

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The serve keys a model may set; anything else in its `[decoder]` is an error.
pub(super) const KEYS: [&str; 5] = ["decoder", "beam_width", "lm", "lm_weight", "word_bonus"];

/// The `[decoder]` table of the model at `model` as settings keys (its `lm` made relative
/// to the working directory), or an empty table when the model has none. An unreadable or
/// unparsable file gives an empty table too: loading the model reports that, naming it.
pub fn layer(model: &Path) -> Result<toml::Table, ConfigError> {
    let Ok(text) = std::fs::read_to_string(model) else {
        return Ok(toml::Table::new());
    };
    let Ok(mut spec) = text.parse::<toml::Table>() else {
        return Ok(toml::Table::new());
    };
    let mut table = match spec.remove("decoder") {
        Some(toml::Value::Table(table)) => table,
        Some(_) => return Err(invalid(model, "[decoder] must be a table".into())),
        None => return Ok(toml::Table::new()),
    };
    if let Some(key) = table.keys().find(|key| !KEYS.contains(&key.as_str())) {
        return Err(invalid(
            model,
            format!(
                "unknown [decoder] key `{key}`; a model may set {}",
                KEYS.join(", ")
            ),
        ));
    }
    if let Some(lm) = table.get_mut("lm") {
        let toml::Value::String(path) = lm else {
            return Err(invalid(model, "[decoder] lm must be a file name".into()));
        };
        if !path.is_empty() {
            let base = model.parent().unwrap_or(Path::new(""));
            *path = base.join(PathBuf::from(&*path)).display().to_string();
        }
    }
    Ok(table)
}

fn invalid(model: &Path, reason: String) -> ConfigError {
    ConfigError::Invalid(format!("{}: {reason}", model.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_toml(decoder: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.toml");
        std::fs::write(&path, format!("[model]\nname = \"m\"\n{decoder}")).unwrap();
        (dir, path)
    }

    #[test]
    fn the_decoder_table_becomes_keys_with_the_lm_beside_the_model() {
        let (dir, path) = model_toml("[decoder]\ndecoder = \"beam\"\nlm = \"lm.arpa\"\n");
        let table = layer(&path).unwrap();
        assert_eq!(table["decoder"].as_str(), Some("beam"));
        let lm = dir.path().join("lm.arpa").display().to_string();
        assert_eq!(table["lm"].as_str(), Some(lm.as_str()));
    }

    #[test]
    fn no_table_or_no_file_is_no_layer_and_other_keys_are_refused() {
        let (_dir, path) = model_toml("");
        assert!(layer(&path).unwrap().is_empty());
        assert!(layer(Path::new("/no/such/model.toml")).unwrap().is_empty());
        let (_dir, path) = model_toml("[decoder]\npool_size = 3\n");
        let err = layer(&path).unwrap_err().to_string();
        assert!(
            err.contains("pool_size") && err.contains("model.toml"),
            "{err}"
        );
    }
}
