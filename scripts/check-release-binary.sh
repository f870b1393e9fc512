#!/usr/bin/env bash
# The release binary has no fault injection: no option, no environment variable, no code (the
# `fault-injection` feature is off in release builds; only the tests' sms-tracker-faults has it).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin sms-tracker
binary=target/release/sms-tracker
if "$binary" --help | grep -i -E '(^|[^a-z])fault'; then
  echo "check-release-binary: --help offers a fault option" >&2; exit 1
fi
for flag in --fault-abort-every --fault-freeze-after-commits --fault-restore-delay-ms; do
  if "$binary" "$flag" 3 --help >/dev/null 2>&1; then
    echo "check-release-binary: $flag is accepted" >&2; exit 1
  fi
done
for marker in fault-abort-every fault-freeze-after-commits fault-restore-delay-ms FAULT_ABORT_EVERY "Fault injection"; do
  if grep -q -a -F "$marker" "$binary"; then
    echo "check-release-binary: $binary contains \"$marker\"" >&2; exit 1
  fi
done
echo "check-release-binary: $binary has no fault-injection option or code"
