#!/usr/bin/env bash
# The project's one test command (README "Tests"; .ci/run runs exactly this):
#   formatting, lints (clippy with `unwrap()` denied outside tests), then every test.
# Needs the Rust toolchain (with rustfmt and clippy), python3 with venv and access to
# crates.io and PyPI (the Python example's and the deploy checks' pinned requirements).
set -euo pipefail
cd "$(dirname "$0")/.."
# Chromium for the demo page's browser test (Debian's; the test skips, saying why, where
# it cannot run).
tests/install-browser.sh
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
mkdir -p target
cargo test 2>&1 | tee target/test-output.log
# One closing line for all of cargo's test binaries (its last line is the doc tests').
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.log
