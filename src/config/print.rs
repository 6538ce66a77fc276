//! `compact-asr config --print-default`: every setting as TOML, documented.
//!
//! Why generated rather than a hand-kept sample file: the documentation comes from the flag
//! help and the values from [`Settings::default`], so the sample cannot drift from what the
//! server does, and it is itself a valid configuration file.

use clap::Args;

use super::layers::SettingsArgs;
use super::model_decoder;
use super::settings::Settings;
use super::ConfigError;

/// The default configuration as a commented TOML document.
pub fn default_toml() -> Result<String, ConfigError> {
    let defaults = toml::Table::try_from(Settings::default()).map_err(ConfigError::Serialize)?;
    let command = SettingsArgs::augment_args(clap::Command::new("serve"));
    let mut out = String::from(
        "# compact-asr serve configuration (TOML), as printed by `compact-asr config --print-default`.\n\
         # Precedence: command-line flags > COMPACT_ASR_* environment variables > this file > defaults.\n\
         # Use it with `compact-asr serve --config FILE` (or COMPACT_ASR_CONFIG=FILE).\n",
    );
    for arg in command.get_arguments() {
        let key = arg.get_id().as_str();
        if key == "config" || key == "help" {
            continue;
        }
        out.push('\n');
        if let Some(help) = arg.get_help() {
            for line in help.to_string().lines() {
                out.push_str(&format!("# {line}\n"));
            }
        }
        let flag = arg.get_long().unwrap_or(key);
        let env = arg
            .get_env()
            .map(|env| format!(", env {}", env.to_string_lossy()))
            .unwrap_or_default();
        out.push_str(&format!("# flag --{flag}{env}\n"));
        let models_key = model_decoder::KEYS.contains(&key);
        match defaults.get(key) {
            // Set here, it would override the model's [decoder] table: shown, not set.
            Some(value) if models_key => out.push_str(&format!(
                "# {key} = {value}  (unless the model's [decoder] table sets it)\n"
            )),
            Some(value) => out.push_str(&format!("{key} = {value}\n")),
            None => {
                let name = arg
                    .get_value_names()
                    .and_then(|names| names.first())
                    .map_or("VALUE".to_owned(), ToString::to_string);
                out.push_str(&format!("# {key} = \"{name}\"  (unset by default)\n"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_printed_with_its_help_and_the_output_is_the_default_config() {
        let text = default_toml().unwrap();
        let parsed: SettingsArgs = toml::from_str(&text).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &text).unwrap();
        let resolved = SettingsArgs {
            config: Some(file.path().to_owned()),
            ..SettingsArgs::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(resolved, SettingsArgs::default().resolve().unwrap());
        assert_eq!(
            parsed.shutdown_grace_secs,
            Some(Settings::default().shutdown_grace_secs)
        );

        let command = SettingsArgs::augment_args(clap::Command::new("serve"));
        for arg in command.get_arguments() {
            let key = arg.get_id().as_str();
            if key == "config" {
                continue;
            }
            assert!(
                text.contains(&format!("\n{key} = ")) || text.contains(&format!("\n# {key} = ")),
                "{key} missing:\n{text}"
            );
            let help = arg.get_help().unwrap().to_string();
            let first_line = help.lines().next().unwrap();
            assert!(text.contains(first_line), "help of {key} missing");
        }
        assert!(
            text.contains("env COMPACT_ASR_SHUTDOWN_GRACE_SECS"),
            "{text}"
        );
        let defaults = Settings::default();
        // The model's keys are shown commented out, so the file leaves them to the model.
        assert_eq!(parsed.engine.decoder, None);
        assert_eq!(parsed.engine.beam_width, None);
        assert_eq!(parsed.engine.lm_weight, None);
        assert_eq!(parsed.engine.endpointing, Some(true));
        assert_eq!(
            parsed.engine.max_utterance_ms,
            Some(defaults.max_utterance_ms)
        );
        for line in [
            "# decoder = \"greedy\"  (unless the model's [decoder] table sets it)",
            "# lm = \"FILE\"",
            "env COMPACT_ASR_LM",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }

    #[test]
    fn every_resolved_setting_has_a_flag() {
        let command = SettingsArgs::augment_args(clap::Command::new("serve"));
        let full = Settings {
            tls_cert: Some("c".into()),
            tls_key: Some("k".into()),
            auth_token: Some("t".into()),
            auth_token_file: Some("f".into()),
            lm: Some("lm.arpa".into()),
            ..Settings::default()
        };
        for key in toml::Table::try_from(full).unwrap().keys() {
            assert!(
                command.get_arguments().any(|a| a.get_id() == key.as_str()),
                "{key}"
            );
        }
    }
}
