#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the browser test (tests/server/browser.rs).
# Idempotent and quick when it is already there; never fails the caller: without apt (or
# without root) it says why and exits 0, and the browser test then skips itself.
set -uo pipefail

if [[ -x /usr/bin/chromium ]]; then
    echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; the browser test will skip" >&2
    exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        echo "install-browser: not root and no passwordless sudo; the browser test will skip" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh container has no package lists; refresh them only when chromium is unknown.
if ! apt-cache show chromium >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -qq || echo "install-browser: apt-get update failed" >&2
fi
if "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium; then
    echo "install-browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
else
    echo "install-browser: apt-get install chromium failed; the browser test will skip" >&2
fi
exit 0
