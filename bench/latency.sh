#!/usr/bin/env bash
# Completion latency at a fixed input rate (issues #6 and #13), per system, each on topics of its own:
#
#   bench/latency.sh                          # the rates below, from the last compare.sh
#   RATE=20000 DURATION=60 PARTITIONS=8 SYSTEMS="tracker kstreams-tuned" bench/latency.sh
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
# completed in the first WARMUP seconds.
#
# A restart, not a new deployment (RESTART=S, default 5; 0 = fresh topics, the first seconds then
# include the broker's first writes to new partitions): before the measured window the system runs S
# seconds of the same load (ids prefixed `warm-`) until every one of those messages has its SENT,
# is stopped (SIGTERM) and started again on the same topics and group (the tracker restores its
# state from the changelog, Kafka Streams keeps its state directory); the probe then reads the
# output from its end. The whole-run percentiles include the restart's first seconds.
#
# Rates (SYSTEMS unset): RATE is half the median tracker input records/s of
# target/bench/last-compare.jsonl (written by bench/compare.sh; else 20000), and every system runs
# at 10 %, 50 % and 80 % of the tracker's maximum (RATE / 5, RATE, RATE × 8 / 5). Kafka Streams
# (tuned) runs only at rates it keeps up with live: first its live rate is searched (live_rate below,
# SEARCH_DURATION s per try, from its median rate in that file), then all three systems also run at
# it. The table replaces the part of docs/BENCHMARKS.md between <!-- latency:start --> and
# <!-- latency:end --> (WRITE_DOCS=0: not).
#
# Environment: RATE, DURATION (60), WARMUP (5), PARTITIONS (8), SYSTEMS, SEED (7), BENCH_PROFILE (release),
# KSTREAMS_THREADS (1), KSTREAMS_JAVA_OPTS, BENCH_HTTP_PORT (18093), RESTART (5), SEARCH_DURATION (20).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-60}"
WARMUP="${WARMUP:-5}"
RESTART="${RESTART:-5}"
SEARCH_DURATION="${SEARCH_DURATION:-20}"
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
  python3 bench/report.py half-max --system "$1" --results target/bench/last-compare.jsonl
}

# messages_in rate seconds: how many messages make `seconds` of input at `rate` records/s.
messages_in() { awk -v r="$1" -v d="$2" -v k="$RECORDS_PER_MESSAGE" 'BEGIN { printf "%d", r * d / k }'; }

# load_and_probe app messages rate seed report probe-log probe-flags loadgen-flags: while sms-loadgen
# writes `messages` messages at `rate` into app's inputs, `bench_probe latency` times their SENTs on
# app's output into report (its log: probe-log). Fails if the probe does; a failed load generator
# ends the script. The flags are extra words for each (no spaces inside one).
load_and_probe() {
  local app=$1 messages=$2 rate=$3 seed=$4 report=$5 probe_log=$6 probe_flags=$7 loadgen_flags=$8 probe
  # shellcheck disable=SC2086
  $PROBE latency --output-topic "$app.output" --sent-topic "$app.sent-messages" --responses-topic "$app.submit-responses" \
    --expect "$messages" --idle-seconds 15 $probe_flags >"$report" 2>"$probe_log" &
  probe=$!
  # shellcheck disable=SC2086
  "$BIN/sms-loadgen" --bootstrap-servers "$BOOTSTRAP" --messages "$messages" --rate "$rate" --duplicate-share 0.03 \
    --invalid-share 0 --retryable-share 0 --seed "$seed" --sent-topic "$app.sent-messages" \
    --responses-topic "$app.submit-responses" --quiet $loadgen_flags >/dev/null ||
    { log "the load generator failed"; kill "$probe" 2>/dev/null; exit 1; }
  wait "$probe"
}

# measure system rate duration restart results [tag]: one latency run (see the top of this file) on
# topics of its own (named with tag); appends its row to results (a file of JSON lines).
measure() {
  local system=$1 rate=$2 duration=$3 restart=$4 results=$5 tag=${6:-}
  local app="$RUN-$tag$system-$rate" prefix="$OUT/$tag$system-$rate" from_end="" messages warm
  messages=$(messages_in "$rate" "$duration")
  $PROBE create-topics --partitions "$PARTITIONS" "$app.sent-messages" "$app.submit-responses" "$app.output" \
    "$app.dead-letters" >/dev/null
  if [ "$restart" -gt 0 ]; then
    warm=$(messages_in "$rate" "$restart")
    start_system "$system" "$app" "$app.sent-messages" "$app.submit-responses" "$app.output" "$prefix.warm.log"
    wait_ready "$system" "$prefix.warm.log"
    log "$system: $warm messages before the restart"
    load_and_probe "$app" "$warm" "$rate" "$((SEED + 1))" "$prefix.warm.json" "$prefix.warm-probe.log" \
      "--timeout-seconds $((restart * 6 + 120))" "--id-prefix warm-" ||
      { log "the warm-up probe failed:"; cat "$prefix.warm-probe.log" >&2; exit 1; }
    # A restart as a rolling deploy does it: Kafka Streams keeps its local state directory.
    stop_system "$SYSTEM_PID" keep-state; SYSTEM_PID=""
    from_end="--from-end"
  fi
  start_system "$system" "$app" "$app.sent-messages" "$app.submit-responses" "$app.output" "$prefix.log"
  wait_ready "$system" "$prefix.log"
  sleep 1
  log "$system ready (pid $SYSTEM_PID); $messages messages at $rate records/s"
  if ! load_and_probe "$app" "$messages" "$rate" "$SEED" "$prefix.latency.json" "$prefix.probe.log" \
    "--timeout-seconds $((duration * 6 + 120)) --warmup-seconds $WARMUP $from_end" \
    "--summary-json $prefix.loadgen.json"; then
    log "the probe failed:"; cat "$prefix.probe.log" >&2
    echo "{\"system\":\"$system\",\"rate\":$rate,\"failed\":true}" >>"$results"
    stop_system "$SYSTEM_PID"; SYSTEM_PID=""
    return 0
  fi
  local rss_kb cpu
  rss_kb=$(peak_rss_kb "$SYSTEM_PID")
  cpu=$(cpu_seconds "$SYSTEM_PID")
  save_metrics "$system" "$prefix.metrics.txt"
  stop_system "$SYSTEM_PID"; SYSTEM_PID=""
  python3 - "$system" "$rate" "$rss_kb" "$cpu" "$restart" "$duration" "$prefix.latency.json" "$prefix.loadgen.json" \
    >>"$results" <<'PY'
import json, sys
system, rate, rss_kb, cpu, restart, duration, probe, loadgen = sys.argv[1:]
row = {"system": system, "rate": int(rate), "rss_kb": int(rss_kb), "cpu_s": float(cpu), "restart_s": int(restart),
       "duration_s": int(duration)}
row.update(json.load(open(probe)))
row["achieved_rate"] = json.load(open(loadgen))["records_per_second"]
print(json.dumps(row))
PY
  log "$system done: $(tail -n1 "$results")"
}

# live_rate system backlog-rate: the highest of 100, 85, 70, 55, 40, 25 % of the system's backlog rate at
# which it keeps up with live input (bench/report.py keeps-up: its per-second latency does not grow
# over the run and stays under a second), each tried for SEARCH_DURATION s on fresh topics. Prints that rate, or nothing.
live_rate() {
  local system=$1 backlog=$2 percent rate
  for percent in 100 85 70 55 40 25; do
    rate=$((backlog * percent / 100))
    measure "$system" "$rate" "$SEARCH_DURATION" 0 "$OUT/live-search.jsonl" search-
    if python3 bench/report.py keeps-up --results "$OUT/live-search.jsonl" --system "$system" --rate "$rate" >&2; then
      echo "$rate"
      return 0
    fi
  done
}

log "broker"
scripts/kafka.sh start
[ "$PROFILE" = release ] && BIN=target/release || BIN=target/debug
# shellcheck source=bench/systems.sh
source bench/systems.sh
build_all "$PROFILE"
PROBE="$BIN/examples/bench_probe --bootstrap-servers $BOOTSTRAP"
trap 'if [ -n "$SYSTEM_PID" ]; then stop_system "$SYSTEM_PID"; fi' EXIT

tracker_half=$(half_measured tracker)
kstreams_max=$(half_measured kstreams-tuned)
[ -n "$kstreams_max" ] && kstreams_max=$((kstreams_max * 2))
if [ -n "${RATE:-}" ]; then
  RATE_SOURCE="set by RATE"
elif [ -n "$tracker_half" ]; then
  RATE=$tracker_half
  RATE_SOURCE="half the tracker's input records/s in the last bench/compare.sh run"
else
  RATE=20000
  RATE_SOURCE="default: no bench/compare.sh result found"
fi
LIVE_RATE=""
if [ -z "${SYSTEMS:-}" ]; then
  # 10 %, 50 % and 80 % of the tracker's maximum (RATE is half of it), each system at each; the raw
  # pipe (no state, one output per whole message) is the latency floor of consuming and producing
  # with the same transactional settings. Kafka Streams runs only at rates it keeps up with live
  # (above them its latency is queueing time growing over the run), and all three also at the
  # highest rate it keeps up with, found live by live_rate from its backlog rate.
  LIVE_RATE=$(live_rate kstreams-tuned "${kstreams_max:-$((RATE * 2))}")
  SYSTEMS=""
  for rate in $((RATE / 5)) "$RATE" $((RATE * 8 / 5)) $LIVE_RATE; do
    SYSTEMS="$SYSTEMS raw-pipe:$rate tracker:$rate"
    if [ -n "$LIVE_RATE" ] && [ "$rate" -le "$LIVE_RATE" ]; then
      SYSTEMS="$SYSTEMS kstreams-tuned:$rate"
    fi
  done
fi

for entry in $SYSTEMS; do
  system=${entry%%:*}
  rate=$RATE
  [ "$entry" != "$system" ] && rate=${entry#*:}
  measure "$system" "$rate" "$DURATION" "$RESTART" "$OUT/results.jsonl"
done

python3 bench/report.py latency --results "$OUT/results.jsonl" --rate "$RATE" --rate-source "$RATE_SOURCE" \
  --live-search "$OUT/live-search.jsonl" --restart "$RESTART" \
  --duration "$DURATION" --partitions "$PARTITIONS" --profile "$PROFILE" \
  --docs "$([ "${WRITE_DOCS:-1}" = 0 ] || echo docs/BENCHMARKS.md)"
