#!/usr/bin/env bash
# Completion latency at a fixed input rate (issue #6), per system, each on fresh topics:
#
#   bench/latency.sh                          # RATE = half the tracker's rate from the last compare.sh
#   RATE=20000 DURATION=60 PARTITIONS=8 SYSTEMS="tracker kstreams" bench/latency.sh
#
# For each entry of SYSTEMS ("system" or "system:rate"; systems: raw-pipe, tracker, kstreams,
# kstreams-tuned — bench/systems.sh starts them as bench/compare.sh does): create <run>-<system>.sent-messages /
# .submit-responses / .output with PARTITIONS partitions, start the system (fresh group), wait
# until it is ready (tracker /readyz, Kafka Streams RUNNING), start `bench_probe latency` on the
# output topic, and run `sms-loadgen --rate R` for about DURATION seconds (R × DURATION / 2.37
# messages; 2.37 records per message at --duplicate-share 0.03, --invalid-share 0). The probe stamps
# the wall clock when each message's first SENT becomes visible to read_committed, and afterwards
# subtracts the CreateTime of the last input record the message needed (its whole message and the
# first response of each part). It stops when every message has its SENT, or 15 s after the last
# output. Then peak RSS and CPU are read from /proc and the system is stopped (SIGTERM).
# Percentiles are reported for the whole run and for its steady state: without the messages
# completed in the first WARMUP seconds (fresh topics: the first writes are slow for every system).
#
# RATE defaults to half the median tracker input records/s of target/bench/last-compare.jsonl
# (written by bench/compare.sh), else 20000. Kafka Streams runs at RATE only if its own measured
# maximum reaches RATE (above it, its latency is queueing time growing over the run); with that
# file present both systems also run at half of Kafka Streams' measured rate, side by side. The table replaces the part of
# docs/BENCHMARKS.md between <!-- latency:start --> and <!-- latency:end --> (WRITE_DOCS=0: not).
#
# Environment: RATE, DURATION (60), WARMUP (5), PARTITIONS (8), SYSTEMS, SEED (7), BENCH_PROFILE (release),
# KSTREAMS_THREADS (1), KSTREAMS_JAVA_OPTS, BENCH_HTTP_PORT (18093).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-60}"
WARMUP="${WARMUP:-5}"
PARTITIONS="${PARTITIONS:-8}"
SEED="${SEED:-7}"
PROFILE="${BENCH_PROFILE:-release}"
PORT="${BENCH_HTTP_PORT:-18093}"
BOOTSTRAP=localhost:9092
RECORDS_PER_MESSAGE=2.37
RUN="bench-latency-$(date +%Y%m%d-%H%M%S)"
OUT="target/bench/$RUN"
mkdir -p "$OUT"

log() { printf '[latency] %s\n' "$*" >&2; }

half_measured() { # system: half its median input records/s in the last compare.sh run, or nothing
  [ -f target/bench/last-compare.jsonl ] || return 0
  python3 - "$1" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open("target/bench/last-compare.jsonl") if l.strip()]
rates = [r["input_records"] / r["done_s"] for r in rows if r["system"] == sys.argv[1] and not r.get("failed")]
if rates:
    print(int(statistics.median(rates) / 2))
PY
}

tracker_half=$(half_measured tracker)
kstreams_half=$(half_measured kstreams)
if [ -n "${RATE:-}" ]; then
  RATE_SOURCE="set by RATE"
elif [ -n "$tracker_half" ]; then
  RATE=$tracker_half
  RATE_SOURCE="half the tracker's input records/s in the last bench/compare.sh run"
else
  RATE=20000
  RATE_SOURCE="default: no bench/compare.sh result found"
fi
if [ -z "${SYSTEMS:-}" ]; then
  # The raw pipe (no state, one output per whole message) is the latency floor of consuming and
  # producing with the same transactional settings, at the same rate.
  SYSTEMS="raw-pipe:$RATE tracker:$RATE"
  if [ -z "$kstreams_half" ] || [ $((kstreams_half * 2)) -ge "$RATE" ]; then
    SYSTEMS="$SYSTEMS kstreams:$RATE"
  fi
  # Both systems side by side at half of Kafka Streams' own maximum as well. (Above its maximum
  # Kafka Streams only falls behind: its "latency" is then queueing time growing over the run.)
  if [ -n "$kstreams_half" ] && [ "$kstreams_half" -lt "$RATE" ]; then
    SYSTEMS="$SYSTEMS tracker:$kstreams_half kstreams:$kstreams_half"
  fi
fi

log "broker"
scripts/kafka.sh start
[ "$PROFILE" = release ] && BIN=target/release || BIN=target/debug
# shellcheck source=bench/systems.sh
source bench/systems.sh
build_all "$PROFILE"
PROBE="$BIN/examples/bench_probe --bootstrap-servers $BOOTSTRAP"
trap 'if [ -n "$SYSTEM_PID" ]; then stop_system "$SYSTEM_PID"; fi' EXIT

for entry in $SYSTEMS; do
  system=${entry%%:*}
  rate=$RATE
  [ "$entry" != "$system" ] && rate=${entry#*:}
  app="$RUN-$system-$rate"
  sent="$app.sent-messages" responses="$app.submit-responses" output="$app.output"
  prefix="$OUT/$system-$rate"
  messages=$(awk -v r="$rate" -v d="$DURATION" -v k="$RECORDS_PER_MESSAGE" 'BEGIN { printf "%d", r * d / k }')
  $PROBE create-topics --partitions "$PARTITIONS" "$sent" "$responses" "$output" "$app.dead-letters" >/dev/null
  start_system "$system" "$app" "$sent" "$responses" "$output" "$prefix.log"
  wait_ready "$system" "$prefix.log"
  sleep 1
  log "$system ready (pid $SYSTEM_PID); $messages messages at $rate records/s"
  $PROBE latency --output-topic "$output" --sent-topic "$sent" --responses-topic "$responses" --expect "$messages" \
    --idle-seconds 15 --timeout-seconds $((DURATION * 6 + 120)) --warmup-seconds "$WARMUP" >"$prefix.latency.json" 2>"$prefix.probe.log" &
  probe=$!
  "$BIN/sms-loadgen" --bootstrap-servers "$BOOTSTRAP" --messages "$messages" --rate "$rate" --duplicate-share 0.03 \
    --invalid-share 0 --retryable-share 0 --seed "$SEED" --sent-topic "$sent" --responses-topic "$responses" --quiet \
    --summary-json "$prefix.loadgen.json" >/dev/null
  if ! wait "$probe"; then
    log "the probe failed:"; cat "$prefix.probe.log" >&2
    echo "{\"system\":\"$system\",\"rate\":$rate,\"failed\":true}" >>"$OUT/results.jsonl"
    stop_system "$SYSTEM_PID"; SYSTEM_PID=""
    continue
  fi
  rss_kb=$(peak_rss_kb "$SYSTEM_PID")
  cpu=$(cpu_seconds "$SYSTEM_PID")
  save_metrics "$system" "$prefix.metrics.txt"
  stop_system "$SYSTEM_PID"; SYSTEM_PID=""
  python3 - "$system" "$rate" "$rss_kb" "$cpu" "$prefix.latency.json" "$prefix.loadgen.json" >>"$OUT/results.jsonl" <<'PY'
import json, sys
system, rate, rss_kb, cpu, probe, loadgen = sys.argv[1:]
row = {"system": system, "rate": int(rate), "rss_kb": int(rss_kb), "cpu_s": float(cpu)}
row.update(json.load(open(probe)))
row["achieved_rate"] = json.load(open(loadgen))["records_per_second"]
print(json.dumps(row))
PY
  log "$system done: $(tail -n1 "$OUT/results.jsonl")"
done

python3 bench/report.py latency --results "$OUT/results.jsonl" --rate "$RATE" --rate-source "$RATE_SOURCE" \
  --duration "$DURATION" --partitions "$PARTITIONS" --profile "$PROFILE" \
  --docs "$([ "${WRITE_DOCS:-1}" = 0 ] || echo docs/BENCHMARKS.md)"
