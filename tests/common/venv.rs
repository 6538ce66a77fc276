//! Python virtual environments with pinned requirements for tests that run Python tools,
//! kept under Cargo's test temp dir and reused while the requirements file is unchanged.
//!
//! Shared (via `#[path]`) by the Python client example's test and the deploy checks.
//! Tests in one binary run on parallel threads and several test binaries may run at once,
//! so building a venv holds an exclusive file lock: the first caller builds, the others
//! wait and then find the stamp in place.

use std::fs::File;
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
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(tmp).unwrap();
    let lock = File::create(tmp.join(format!("{name}.lock"))).unwrap();
    lock.lock().unwrap();
    let venv = tmp.join(name);
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let _ = std::fs::remove_dir_all(&venv);
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(requirements));
        std::fs::write(&stamp, wanted).unwrap();
    }
    // Dropping the file releases the lock.
    drop(lock);
    venv
}
