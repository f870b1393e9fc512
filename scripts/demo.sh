#!/usr/bin/env bash
# The main job, end to end on a real broker: start Kafka, start the tracker with delivery-receipt
# tracking, feed it realistic gateway traffic and supplier receipts with the load generator, then
# show what arrived on the output topics (SENT, then one delivery outcome per message, against
# the load generator's expectations) and in the metrics. Each run uses fresh topics (prefixed with
# the run name), so it can be repeated.
#
#   MESSAGES=100000 PARTITIONS=8 DELIVERY_TIMEOUT_SECONDS=20 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/run-env.sh
. scripts/run-env.sh

MESSAGES="${MESSAGES:-100000}"
PARTITIONS="${PARTITIONS:-8}"
HTTP_PORT="${DEMO_HTTP_PORT:-18080}"
# Short, so that messages whose receipts never come show DELIVERY_UNKNOWN within the demo (in
# production: the SMS validity period, 48 h by default).
DELIVERY_TIMEOUT_SECONDS="${DELIVERY_TIMEOUT_SECONDS:-20}"
# Two of the simulated suppliers write their message ids in different bases in the submit
# response and in the receipt; the tracker must be told the same (--delivery-id-format), or their
# receipts match nothing and end as unmatched_delivery_report dead letters.
ID_FORMATS="supplier-a=hex-in-response,supplier-b=hex-in-report"
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
REPORTS_TOPIC="$RUN.delivery-reports"

step "Starting the tracker (topics prefixed $RUN., $PARTITIONS partitions; receipts from $REPORTS_TOPIC, DELIVERY_UNKNOWN after $DELIVERY_TIMEOUT_SECONDS s; log $OUT/tracker.log)"
target/release/sms-tracker --create-topics --partitions "$PARTITIONS" --http-listen "127.0.0.1:$HTTP_PORT" \
  --delivery-reports-topic "$REPORTS_TOPIC" --delivery-id-format "$ID_FORMATS" \
  --delivery-timeout-seconds "$DELIVERY_TIMEOUT_SECONDS" \
  >"$OUT/tracker.log" 2>&1 &
TRACKER_PID=$!
trap 'kill -TERM $TRACKER_PID 2>/dev/null || true' EXIT
wait_for_ready "$HTTP_PORT" "$TRACKER_PID" "$OUT/tracker.log"
curl -fs "http://127.0.0.1:$HTTP_PORT/readyz"

step "Load generator: $MESSAGES whole messages, 2% duplicate responses, 1% invalid records; receipts: 90% delivered, 5% undelivered, 5% never final, duplicates, ENROUTE, raw texts, some before their submit response ($ID_FORMATS)"
target/release/sms-loadgen --messages "$MESSAGES" --duplicate-share 0.02 --invalid-share 0.01 \
  --retryable-share 0.01 --sent-topic "$SMS_TRACKER_SENT_TOPIC" --responses-topic "$SMS_TRACKER_RESPONSES_TOPIC" \
  --delivery-reports-topic "$REPORTS_TOPIC" --supplier-id-format "$ID_FORMATS" \
  --summary-json "$OUT/loadgen.json"
loadgen_done=$SECONDS

field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$OUT/loadgen.json" "$1"; }
expected_sent=$(field messages)
expected_delivered=$(field expected_delivered)
expected_undelivered=$(field expected_undelivered)
expected_unknown=$(field expected_delivery_unknown)
expected_statuses=$((expected_sent + expected_delivered + expected_undelivered + expected_unknown))
expected_dead=$(field invalid_records)
expected_receipt_dead=$(field invalid_receipts)
# The load generator lists each outcome's message ids for runs up to 200,000 messages: then every
# id's outcome is checked, not only the counts.
per_id=()
if python3 -c 'import json,sys; sys.exit("expected_delivered_ids" not in json.load(open(sys.argv[1])))' "$OUT/loadgen.json"; then
  per_id=(--expect-outcomes-from "$OUT/loadgen.json")
fi

step "What a read_committed consumer sees on the output topics (waiting, at most 300 s, for every expected status: DELIVERY_UNKNOWN comes $DELIVERY_TIMEOUT_SECONDS s after SENT)"
inspect_status=0
target/release/sms-inspect --expect-statuses "$expected_statuses" --expect-dead-letters "$expected_dead" \
  --delivery-reports-topic "$REPORTS_TOPIC" --expect-receipt-dead-letters "$expected_receipt_dead" "${per_id[@]}" \
  --expect-status "SENT=$expected_sent,DELIVERED=$expected_delivered,UNDELIVERED=$expected_undelivered,DELIVERY_UNKNOWN=$expected_unknown" \
  --timeout-seconds 300 | tee "$OUT/inspect.txt" || inspect_status=$?
echo "(read $((SECONDS - loadgen_done)) s after the load generator finished)"

step "Metrics (http://127.0.0.1:$HTTP_PORT/metrics), a selection"
curl -fs "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^sms_tracker_(statuses_published|dead_letters|ignored_records|transactions|unmatched_delivery_reports)_total|^process_resident_memory_bytes' | grep -v ' 0$' || true

step "Stopping the tracker (SIGTERM: commit and leave the group)"
kill -TERM "$TRACKER_PID"
wait "$TRACKER_PID" && echo "tracker exited cleanly"
trap - EXIT
echo
echo "Expected from the load generator: $expected_sent SENT; $expected_delivered DELIVERED, $expected_undelivered UNDELIVERED, $expected_unknown DELIVERY_UNKNOWN;"
echo "$expected_dead dead letters, $expected_receipt_dead of them invalid receipts (0 unmatched). Files in $OUT/."
if [ "$inspect_status" -ne 0 ]; then
  echo "MISMATCH: the output topics do not hold what the load generator expects (see sms-inspect above)"
  exit "$inspect_status"
fi
