#!/usr/bin/env bash
# The project's one test command (README "Tests"; .ci/run runs exactly this):
#   formatting, lints (clippy with `unwrap()` denied outside tests), then every test.
# Needs the Rust toolchain (with rustfmt and clippy), python3 with venv and access to
# crates.io and PyPI (the Python example's and the deploy checks' pinned requirements).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test
