#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and fails if any of them crashes.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]      (default 60)
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET, never written to), copied
# into the scratch corpus fuzz/corpus/TARGET, which keeps what earlier runs found (ignored
# by git). Crashing inputs land in fuzz/artifacts/TARGET/; reproduce one with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# Environment: FUZZ_SANITIZER (address|none, default address), FUZZ_NICE (default 15).
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi
sanitizer="${FUZZ_SANITIZER:-address}"
niceness="${FUZZ_NICE:-15}"
fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir/.."

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    nice -n "$niceness" cargo install cargo-fuzz --locked
fi

echo "== building fuzz targets (sanitizer: $sanitizer)"
nice -n "$niceness" cargo +nightly fuzz build --sanitizer "$sanitizer"

mapfile -t targets < <(cargo +nightly fuzz list)
failed=()
for target in "${targets[@]}"; do
    corpus="$fuzz_dir/corpus/$target"
    artifacts="$fuzz_dir/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    cp -- "$fuzz_dir/seeds/$target"/* "$corpus/"
    marker="$(mktemp)"
    echo "== fuzzing $target for ${seconds}s"
    if ! nice -n "$niceness" cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
        -artifact_prefix="$artifacts/"; then
        failed+=("$target")
        echo "!! $target failed; inputs it saved:" >&2
        find "$artifacts" -type f -newer "$marker" -print >&2
    fi
    rm -f -- "$marker"
done

if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "== all targets ran ${seconds}s without a crash"
