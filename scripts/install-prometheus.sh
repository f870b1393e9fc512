#!/usr/bin/env bash
# Installs Debian's Prometheus server and promtool, which tests/observability.rs needs (it scrapes a
# live tracker, checks its /metrics with `promtool check metrics`, evaluates every dashboard query
# and checks/tests dashboards/alerts.yaml). Idempotent: does nothing when both are on PATH.
#
# Debian's package also installs a systemd unit and tries to start it; with no systemd (containers,
# CI) that start fails harmlessly (policy-rc.d/invoke-rc.d), and the tests start their own server.
set -euo pipefail

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    echo "prometheus and promtool already installed: $(prometheus --version 2>&1 | head -n1)"
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "install-prometheus: apt-get not found; install Prometheus (prometheus and promtool) by hand" >&2
    exit 1
fi
sudo=""
if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || {
        echo "install-prometheus: not root and no sudo; run as root: apt-get install prometheus" >&2
        exit 1
    }
    sudo=sudo
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# The package's post-install script starts the service where it can; its failure to do so (no
# systemd) does not fail the install.
$sudo apt-get install -y -q --no-install-recommends prometheus

for tool in prometheus promtool; do
    command -v "$tool" >/dev/null || {
        echo "install-prometheus: $tool is still not on PATH after installing the package" >&2
        exit 1
    }
done
echo "installed: $(prometheus --version 2>&1 | head -n1)"
