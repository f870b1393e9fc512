#!/usr/bin/env bash
# Measures state restore: fills the tracker's state with N open messages (whole messages whose
# submit responses never come), stops it gracefully, starts it again and measures how long the
# restart takes to become ready and how fast the changelog is replayed.
#
#   MESSAGES=1000000 PARTITIONS=8 bench/restore.sh
#
# Raw files in target/bench/<run>/: restore.json (the table's figures), fill.log, restore.log (each
# partition's "State restored" line), loadgen.json, tracker-version.txt. Figure (bench/plots.py
# restore): docs/img/restore.svg, restore time against state size over this run and the earlier
# restore runs of the same commit (one size each: run it for several MESSAGES), unless WRITE_DOCS=0.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/run-env.sh
. scripts/run-env.sh

MESSAGES="${MESSAGES:-1000000}"
PARTITIONS="${PARTITIONS:-8}"
PORT="${BENCH_HTTP_PORT:-18090}"
RUN="bench-restore-$(date +%Y%m%d-%H%M%S)"
OUT="target/bench/$RUN"
mkdir -p "$OUT"

scripts/kafka.sh start
record_version "$OUT"
cargo build --release --locked --bins

use_run_names "$RUN"
export SMS_TRACKER_INSTANCE_ID="bench-0"

metric() { curl -fs "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
consumed() { curl -fs "http://127.0.0.1:$PORT/metrics" | awk '$1 ~ /^sms_tracker_records_consumed_total/ { s += $2 } END { printf "%.0f\n", s }'; }

target/release/sms-tracker --create-topics --partitions "$PARTITIONS" --http-listen "127.0.0.1:$PORT" >"$OUT/fill.log" 2>&1 &
pid=$!
wait_for_ready "$PORT" $pid "$OUT/fill.log"
echo "Filling state with $MESSAGES open messages (responses go to an unused topic)"
target/release/sms-loadgen --messages "$MESSAGES" --duplicate-share 0 --sent-topic "$SMS_TRACKER_SENT_TOPIC" \
  --responses-topic "$RUN.unused-responses" --create-topics --partitions "$PARTITIONS" --quiet \
  --summary-json "$OUT/loadgen.json" >/dev/null
sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent_records"])' "$OUT/loadgen.json")
until [ "$(consumed)" -ge "$sent" ]; do sleep 0.2; done
open_entries=$(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '$1 ~ /^sms_tracker_state_entries/ && $1 ~ /kind="pending"/ { s += $2 } END { printf "%.0f\n", s }')
rss_filled=$(metric process_resident_memory_bytes)
kill -TERM $pid; wait $pid

# On-disk size, when the broker is this checkout's (scripts/kafka.sh); 0 = unknown.
changelog_bytes=$({ du -sb target/kafka-*/run-*/data/"$RUN"-state-changelog-* 2>/dev/null || true; } | awk '{ s += $1 } END { print s + 0 }')
start=$(date +%s.%N)
target/release/sms-tracker --http-listen "127.0.0.1:$PORT" >"$OUT/restore.log" 2>&1 &
pid=$!
wait_for_ready "$PORT" $pid "$OUT/restore.log"
ready=$(date +%s.%N)
restored=$(metric sms_tracker_restored_records_total)
rss_restored=$(metric process_resident_memory_bytes)
slowest=$(grep -o 'seconds=[0-9.]*' "$OUT/restore.log" | cut -d= -f2 | sort -g | tail -1)
kill -TERM $pid; wait $pid

python3 - "$MESSAGES" "$PARTITIONS" "$open_entries" "$restored" "$start" "$ready" "$slowest" "$changelog_bytes" "$rss_filled" "$rss_restored" "$OUT/restore.json" <<'PY'
import json, sys
m, p, entries, restored, start, ready, slowest, clb, rss1, rss2, raw = sys.argv[1:]
ttr = float(ready) - float(start)
json.dump({"messages": int(m), "partitions": int(p), "open_entries": int(entries), "restored_records": int(float(restored)),
           "changelog_bytes": int(clb), "time_to_ready_s": round(ttr, 3), "slowest_partition_s": float(slowest),
           "rss_filled_bytes": int(float(rss1)), "rss_restored_bytes": int(float(rss2))}, open(raw, "w"))
print()
print("| messages in state | partitions | changelog records replayed | changelog on disk | time to ready (process start → /readyz) | slowest partition restore | replay rate (records / time to ready) | RSS after fill | RSS after restore |")
print("|---|---|---|---|---|---|---|---|---|")
print(f"| {int(entries):,} | {p} | {int(float(restored)):,} | {int(clb)/1e6:.0f} MB | {ttr:.2f} s | {float(slowest):.2f} s | {float(restored)/ttr:,.0f} records/s | {int(float(rss1))/2**20:.0f} MiB | {int(float(rss2))/2**20:.0f} MiB |")
PY
[ "${WRITE_DOCS:-1}" = 0 ] || python3 bench/plots.py restore --run "$OUT" \
  --command "MESSAGES=$MESSAGES PARTITIONS=$PARTITIONS bench/restore.sh" ||
  echo "the figures were not drawn (bench/plots.py failed)" >&2
