//! Python virtual environments with pinned requirements for tests that run Python tools,
//! kept under Cargo's test temp dir and reused while the requirements file is unchanged.
//!
//! Shared (via `#[path]`) by the Python client example's test and the deploy checks.

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// A venv named `name` with `requirements` installed, rebuilt only when the file changes.
pub fn pinned_venv(requirements: &Path, name: &str) -> PathBuf {
    let wanted = std::fs::read_to_string(requirements).unwrap();
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return venv;
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(requirements));
    std::fs::write(&stamp, wanted).unwrap();
    venv
}
