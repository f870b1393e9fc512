#!/usr/bin/env bash
# The project's own Python environment for the benchmark figures: target/venv with the pinned
# packages of bench/requirements.txt (matplotlib from PyPI). Idempotent: when the venv exists and
# was made from the same requirements file, it returns at once; otherwise it (re)creates it,
# installing Debian's python3-venv first when `python3 -m venv` cannot work (as root, with apt-get).
# Concurrent callers (a benchmark and the test suite) wait for each other on a lock.
#
#   scripts/python-venv.sh && target/venv/bin/python bench/plots.py ...
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/venv
REQUIREMENTS=bench/requirements.txt
STAMP=$VENV/.requirements

ready() { [[ -x $VENV/bin/python ]] && cmp -s "$REQUIREMENTS" "$STAMP"; }
ready && exit 0

mkdir -p target
exec 9>target/venv.lock
flock 9
ready && exit 0 # made by another caller meanwhile

echo "python-venv: creating $VENV from $REQUIREMENTS (once)" >&2
rm -rf "$VENV"
if ! python3 -m venv "$VENV" 2>/dev/null; then
  # Debian ships venv's ensurepip separately (python3.X-venv).
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    minor=$(python3 -c 'import sys; print(sys.version_info.minor)')
    apt-get install -y -q "python3.$minor-venv" >/dev/null 2>&1 || {
      apt-get update -q >/dev/null && apt-get install -y -q "python3.$minor-venv" >/dev/null
    } || apt-get install -y -q python3-venv >/dev/null
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  else
    echo "python-venv: python3 -m venv does not work: install python3-venv" >&2
    exit 1
  fi
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
cp "$REQUIREMENTS" "$STAMP"
echo "python-venv: $VENV ready ($(grep -m1 '^matplotlib==' "$REQUIREMENTS"))" >&2
