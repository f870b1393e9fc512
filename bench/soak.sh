#!/usr/bin/env bash
# Steady-rate soak: the load generator feeds the tracker at a fixed rate for DURATION seconds,
# with a short retention so the retention window fills within the run; every SAMPLE seconds the
# state entries (by kind) and the resident memory are sampled. Flat lines once the window is full
# mean bounded state.
#
#   DURATION=600 RATE=5000 RETENTION=60 TIMEOUT=30 bench/soak.sh
#
# Raw files in target/bench/<run>/: samples.md, tracker.log, loadgen.log, tracker-version.txt.
# Figures (bench/plots.py soak): docs/img/soak-memory.svg and soak-rss-per-entry.svg, replaced
# unless WRITE_DOCS=0.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/run-env.sh
. scripts/run-env.sh

DURATION="${DURATION:-600}"
RATE="${RATE:-5000}"             # records/s written by the load generator
RETENTION="${RETENTION:-60}"     # --retention-seconds
TIMEOUT="${TIMEOUT:-30}"         # --submit-timeout-seconds
SAMPLE="${SAMPLE:-30}"
PORT="${BENCH_HTTP_PORT:-18091}"
RUN="bench-soak-$(date +%Y%m%d-%H%M%S)"
OUT="target/bench/$RUN"
mkdir -p "$OUT"

scripts/kafka.sh start
record_version "$OUT"
cargo build --release --locked --bins

use_run_names "$RUN"

target/release/sms-tracker --create-topics --partitions 4 --http-listen "127.0.0.1:$PORT" \
  --retention-seconds "$RETENTION" --submit-timeout-seconds "$TIMEOUT" >"$OUT/tracker.log" 2>&1 &
tracker=$!
trap 'kill $tracker $loadgen 2>/dev/null || true' EXIT
wait_for_ready "$PORT" "$tracker" "$OUT/tracker.log"

# Enough messages to last the whole run at RATE (about 2.6 records per message).
messages=$((DURATION * RATE * 10 / 26))
target/release/sms-loadgen --messages "$messages" --rate "$RATE" --duplicate-share 0.02 --invalid-share 0.001 \
  --retryable-share 0.01 --sent-topic "$SMS_TRACKER_SENT_TOPIC" --responses-topic "$SMS_TRACKER_RESPONSES_TOPIC" \
  --quiet >"$OUT/loadgen.log" 2>&1 &
loadgen=$!

sum() { curl -fs "http://127.0.0.1:$PORT/metrics" | awk -v re="$1" '$1 ~ re { s += $2 } END { printf "%.0f", s }'; }
echo "| t (s) | records consumed | statuses published | pending | awaiting message | terminal markers | RSS (MiB) |" | tee "$OUT/samples.md"
echo "|---|---|---|---|---|---|---|" | tee -a "$OUT/samples.md"
start=$SECONDS
while [ $((SECONDS - start)) -le "$DURATION" ]; do
  rss=$(sum '^process_resident_memory_bytes')
  printf '| %d | %s | %s | %s | %s | %s | %d |\n' $((SECONDS - start)) \
    "$(sum '^sms_tracker_records_consumed_total')" "$(sum '^sms_tracker_statuses_published_total')" \
    "$(sum 'kind="pending"')" "$(sum 'kind="awaiting_message"')" "$(sum 'kind="terminal_marker"')" \
    $((rss / 1048576)) | tee -a "$OUT/samples.md"
  sleep "$SAMPLE"
done
echo "Samples in $OUT/samples.md"
[ "${WRITE_DOCS:-1}" = 0 ] || python3 bench/plots.py soak --run "$OUT" \
  --command "DURATION=$DURATION RATE=$RATE RETENTION=$RETENTION TIMEOUT=$TIMEOUT SAMPLE=$SAMPLE bench/soak.sh" ||
  echo "the figures were not drawn (bench/plots.py failed)" >&2
