#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver, which tests/lookup_page.rs needs (it drives the
# lookup page at `/` of the API listener in headless Chromium over WebDriver and asserts what it
# shows). Idempotent: does nothing when both are on PATH.
#
# Debian's packages, never a test tool's own browser download: this machine reaches Debian's
# mirror and no browser CDN.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "chromium and chromedriver already installed: $(chromium --version 2>/dev/null | head -n1)"
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "install-chromium: apt-get not found; install Chromium and ChromeDriver (chromium, chromedriver) by hand" >&2
    exit 1
fi
sudo=""
if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || {
        echo "install-chromium: not root and no sudo; run as root: apt-get install chromium chromium-driver" >&2
        exit 1
    }
    sudo=sudo
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# No recommends: fonts-liberation and the like are not needed, the page uses the system's
# default sans-serif font (DejaVu, a dependency).
$sudo apt-get install -y -q --no-install-recommends chromium chromium-driver

for tool in chromium chromedriver; do
    command -v "$tool" >/dev/null || {
        echo "install-chromium: $tool is still not on PATH after installing the packages" >&2
        exit 1
    }
done
echo "installed: $(chromium --version 2>/dev/null | head -n1), $(chromedriver --version | head -n1)"
