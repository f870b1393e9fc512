#!/usr/bin/env bash
# Runs every check and test, starting what they need (a real single-node Kafka broker) first.
# This is `make test`, and exactly what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Kafka broker (fetched from Maven Central on first use)"
scripts/kafka.sh start

step "Formatting, lints and layering"
cargo fmt --all -- --check
# Both builds: the release one (no features) and the tests' (fault injection on).
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --all-targets --locked --features fault-injection -- -D warnings
scripts/check-layers.py

step "Prometheus and promtool (Debian's package, for tests/observability.rs)"
scripts/install-prometheus.sh

step "Chromium and ChromeDriver (Debian's packages, for tests/lookup_page.rs)"
scripts/install-chromium.sh

step "Unit, property and integration tests (against the real broker)"
# Integration tests each start their own tracker processes; two at a time suits a 2-core machine.
mkdir -p target
cargo test --all-targets --locked --features fault-injection -- --test-threads="${TEST_THREADS:-4}" 2>&1 | tee target/test-output.log
# tests/security.rs starts its own SASL_SSL broker (ports 29092/29093) and leaves it running.
scripts/kafka-secure.sh stop

step "The release binary has no fault injection"
scripts/check-release-binary.sh

step "Benchmark harness smoke: 2,000 messages through the raw pipe, the Kafka Streams reference and the tracker (correctness only)"
MESSAGES=2000 SMOKE=1 bench/compare.sh

step "Benchmark figures: each one drawn from the raw-file fixtures in bench/fixtures/plots"
# matplotlib (PyPI, pinned in bench/requirements.txt) goes to target/venv on first use.
python3 bench/test_plots.py

step "Kubernetes artefacts, offline: Helm chart lint, render, schema validation, refusals"
# helm (built from the Go module proxy) and kubernetes-validate (PyPI) go to target/tools on first use.
scripts/helm-check.sh

step "Container image: built with podman from a local Debian base, run non-root and read-only against the broker"
# Debian's podman, runc and mmdebstrap are installed on first use; the base is cached in target/image.
scripts/image-check.sh

# One closing line for the whole suite, summed over every cargo test binary above.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.log
