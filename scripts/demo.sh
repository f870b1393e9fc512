#!/usr/bin/env bash
# The main job, end to end on a real broker: start Kafka, start the tracker, feed it realistic
# gateway traffic with the load generator, then show what arrived on the output topics and in the
# metrics. Each run uses fresh topics (prefixed with the run name), so it can be repeated.
#
#   MESSAGES=100000 PARTITIONS=8 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/run-env.sh
. scripts/run-env.sh

MESSAGES="${MESSAGES:-100000}"
PARTITIONS="${PARTITIONS:-8}"
HTTP_PORT="${DEMO_HTTP_PORT:-18080}"
RUN="demo-$(date +%Y%m%d-%H%M%S)"
OUT="target/demo/$RUN"
mkdir -p "$OUT"

step() { printf '\n==> %s\n' "$*"; }

step "Kafka broker"
scripts/kafka.sh start

step "Building release binaries"
cargo build --release --locked --bins

export SMS_TRACKER_BOOTSTRAP_SERVERS="${SMS_TRACKER_BOOTSTRAP_SERVERS:-localhost:9092}"
use_run_names "$RUN"

step "Starting the tracker (topics prefixed $RUN., $PARTITIONS partitions; log $OUT/tracker.log)"
target/release/sms-tracker --create-topics --partitions "$PARTITIONS" --http-listen "127.0.0.1:$HTTP_PORT" \
  >"$OUT/tracker.log" 2>&1 &
TRACKER_PID=$!
trap 'kill -TERM $TRACKER_PID 2>/dev/null || true' EXIT
wait_for_ready "$HTTP_PORT" "$TRACKER_PID" "$OUT/tracker.log"
curl -fs "http://127.0.0.1:$HTTP_PORT/readyz"

step "Load generator: $MESSAGES whole messages, 2% duplicate responses, 1% invalid records"
target/release/sms-loadgen --messages "$MESSAGES" --duplicate-share 0.02 --invalid-share 0.01 \
  --retryable-share 0.01 --sent-topic "$SMS_TRACKER_SENT_TOPIC" --responses-topic "$SMS_TRACKER_RESPONSES_TOPIC" \
  --summary-json "$OUT/loadgen.json"

expected_statuses=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"])' "$OUT/loadgen.json")
expected_dead=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["invalid_records"])' "$OUT/loadgen.json")

step "What a read_committed consumer sees on the output topics"
target/release/sms-inspect --expect-statuses "$expected_statuses" --expect-dead-letters "$expected_dead" \
  --timeout-seconds 300 | tee "$OUT/inspect.txt"

step "Metrics (http://127.0.0.1:$HTTP_PORT/metrics), a selection"
curl -fs "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^sms_tracker_(statuses_published|dead_letters|ignored_records|transactions)_total|^process_resident_memory_bytes' | grep -v ' 0$' || true

step "Stopping the tracker (SIGTERM: commit and leave the group)"
kill -TERM "$TRACKER_PID"
wait "$TRACKER_PID" && echo "tracker exited cleanly"
trap - EXIT
echo
echo "Expected $expected_statuses SENT and $expected_dead dead letters: see above. Files in $OUT/."
