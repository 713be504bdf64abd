#!/usr/bin/env bash
# Make sure desktop robots and their tests have a virtual display to run on.
#
# The desktop steps (pyautogui) need an X display. On a server the tests start their
# own Xvfb, authorised with a cookie made by xauth; `DesktopSession.launch` finds
# windows with xdotool; scrot takes screenshots where Pillow cannot. When all of
# Xvfb, xauth and xdotool are present this does nothing. Otherwise, as root on
# Debian/Ubuntu, it installs them with apt-get (running `apt-get update` only if the
# first attempt fails). Otherwise it stops with the message that says exactly what
# to install.
#
# Usage: scripts/ensure-desktop.sh
set -euo pipefail

packages=(xvfb xauth xdotool scrot)

# Prints the missing tools on one line, or nothing.
missing() {
    local tool absent=()
    for tool in Xvfb xauth xdotool; do
        command -v "$tool" >/dev/null 2>&1 || absent+=("$tool")
    done
    echo "${absent[*]}"
}

if [ -z "$(missing)" ]; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing a virtual display for the desktop steps (${packages[*]}) with apt-get..."
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${packages[@]}"; then
        apt-get update
        apt-get install -y --no-install-recommends "${packages[@]}"
    fi
    still_missing="$(missing)"
    if [ -z "$still_missing" ]; then
        exit 0
    fi
    echo "Still missing after apt-get: $still_missing" >&2
    exit 1
fi

echo >&2
echo "The desktop steps and their tests need a virtual X display; missing: $(missing)" >&2
echo "robotlib cannot install them here (not root, or no apt-get). Install them:" >&2
echo "  - Debian/Ubuntu:  sudo apt-get install ${packages[*]}" >&2
echo "  - Fedora/RHEL:    sudo dnf install xorg-x11-server-Xvfb xorg-x11-xauth xdotool scrot" >&2
echo "then run make again." >&2
exit 1
