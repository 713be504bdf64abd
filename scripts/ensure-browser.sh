#!/usr/bin/env bash
# Make sure robots have a Chromium to launch.
#
# Playwright's own Chromium or a system one is used when present (`rpa browser` says
# which). Otherwise, as root on Debian/Ubuntu, Debian's chromium-headless-shell (the
# faster headless build) and chromium are installed with apt-get. Otherwise this stops
# with the message that says exactly what to install.
#
# Usage: scripts/ensure-browser.sh VENV_BIN_DIR
set -euo pipefail

rpa="${1:?usage: $0 VENV_BIN_DIR}/rpa"

if "$rpa" browser; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's Chromium (chromium-headless-shell and chromium) with apt-get..."
    export DEBIAN_FRONTEND=noninteractive
    packages=(chromium-headless-shell chromium)
    if ! apt-get install -y --no-install-recommends "${packages[@]}"; then
        apt-get update
        apt-get install -y --no-install-recommends "${packages[@]}"
    fi
    "$rpa" browser
    exit $?
fi

echo >&2
echo "robotlib needs a Chromium and cannot install one here (not root, or no apt-get)." >&2
echo "Install one as the message above says, then run make again." >&2
exit 1
