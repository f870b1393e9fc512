#!/usr/bin/env bash
# Lookups while the tracker processes input (issue 14): latency of GET /v1/messages/{id} answered
# locally and forwarded, and what lookups cost the tracker's processing throughput.
#
#   bench/lookup.sh                                    # 60 s latency phase, 2 × 2 throughput runs
#   RATE=20000 LOOKUPS_PER_S=5000 DURATION=60 MESSAGES=300000 RUNS=2 bench/lookup.sh
#   SMOKE=1 bench/lookup.sh   # does it work: DURATION 10, MESSAGES 20000, RUNS 1; docs untouched
#
# Two tracker instances (release build, --instance-id bench-a / bench-b, same application id,
# PARTITIONS partitions, each with --api-listen, --advertised-address 127.0.0.1:<its API port>
# and --api-token-file (a token made for the run), so each owns about half the partitions and
# forwards lookups of the other half to the other).
# The driver, target/release/sms-lookup-load, sends LOOKUPS_PER_S lookups per second to instance
# A only, open-loop: lookup i is due at start + i / LOOKUPS_PER_S whatever the answers do, over
# keep-alive connections (CONNECTIONS at the start; one more whenever a lookup is due while all
# are busy, up to MAX_CONNECTIONS), and its latency runs from its due time to the last byte of its
# answer: any wait for the driver or for a connection counts. The driver reports how late it sent
# ("FELL BEHIND" if its p99 send delay exceeds 1 ms) and, apart, the *service* time (request
# written → answer). An answer with X-Sms-Tracker-Forwarded-By was forwarded (answered by B's
# state), the others were answered by A. The ids are record keys of the run's sent-messages
# topic, read by the driver's own consumer.
#
# 1. Latency phase. Fresh topics (use_run_names "<run>-lat", created by the trackers with
#    --create-topics). A starts, then B; once both are ready and own partitions, the driver starts
#    reading sent-messages from its end and `sms-loadgen --rate RATE` writes for about
#    DURATION + 10 s. The driver looks up ids seen at least 1 s before (most are then known to the
#    tracker; many are already SENT), drawn at random from the last 10,000 such ids, for DURATION
#    seconds from the first eligible id; lookups due in the first WARMUP seconds are left out.
#    Reported per class (local, forwarded): answers, lookups/s, p50 / p99 / max latency, answers
#    by HTTP code; also the trackers' input records/s during the phase (their
#    sms_tracker_records_consumed_total), to show they kept up with RATE, and, over the same span,
#    how busy the machine's CPUs were (/proc/stat) and how long the trackers' threads waited,
#    runnable, for a CPU (/proc/<pid>/task/*/schedstat): a tail latency made by CPU contention.
# 2. Throughput phase, as bench/compare.sh measures it: MESSAGES messages are preloaded into
#    <run>-tp.sent-messages / .submit-responses (duplicate share 0.03, no invalid records, seed
#    42). Then RUNS times each mode, alternating (none, lookups; then lookups, none; ...): both
#    instances start at once with a fresh application id and status topic, and the time from
#    their start until their group's committed offsets reach the end of both inputs
#    (`bench_probe wait-committed`, 100 ms polls) is measured. Mode "lookups": the driver sends
#    LOOKUPS_PER_S lookups/s to A during the whole run, for ids of the backlog (read from its
#    beginning, drawn from all ids read; early in a run most are not processed yet: 404, or 503
#    while partitions restore — the codes are reported). Input records/s = input records / that
#    time; CPU = utime + stime of each tracker (/proc/<pid>/stat) at completion, before SIGTERM.
#    Startup (process start, topic checks, group join) is inside the time, in both modes, and so
#    is one rebalance: the instance that joins first takes every partition until the other joins
#    (the broker's group.initial.rebalance.delay.ms is 0 here), usually within the first second.
#
# Targets (issue 14): p99 ≤ 5 ms local and ≤ 15 ms forwarded at 5,000 lookups/s; processing
# throughput with lookups within 10 % of without.
#
# RATE defaults, as in bench/latency.sh, to half the median tracker input records/s of
# target/bench/last-compare.jsonl (bench/compare.sh), else 20000. Raw files: target/bench/<run>/
# (lookup.json and lookup.txt from the latency phase, r<N>-<mode>.* from the throughput runs,
# results.jsonl, tracker and loadgen logs, tracker-version.txt). The report replaces the part of
# docs/BENCHMARKS.md between <!-- lookup:start --> and <!-- lookup:end --> and bench/plots.py
# draws docs/img/lookup.svg (with both phases) unless WRITE_DOCS=0 or SMOKE=1.
#
# Environment: RATE, LOOKUPS_PER_S (5000), DURATION (60), WARMUP (5), MESSAGES (300000), RUNS (2),
# PARTITIONS (8), CONNECTIONS (32), MAX_CONNECTIONS (256), SEED (7), TIMEOUT (600 s per
# throughput run), PHASES ("latency throughput"), CLIENT_NICE (0; the latency phase's load
# generator and driver run under `nice -n CLIENT_NICE`), BENCH_PORT_BASE (18400: A's HTTP +1, A's API
# +2, B's +3 and +4), WRITE_DOCS (1), SMOKE (0; 1: the defaults become DURATION 10, MESSAGES
# 20000, RUNS 1, and the docs are left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/run-env.sh
. scripts/run-env.sh

SMOKE="${SMOKE:-0}"
if [ "$SMOKE" = 1 ]; then # a short run that the harness works: the docs are left alone
  DURATION="${DURATION:-10}"; MESSAGES="${MESSAGES:-20000}"; RUNS="${RUNS:-1}"
fi
LOOKUPS_PER_S="${LOOKUPS_PER_S:-5000}"
DURATION="${DURATION:-60}"
WARMUP="${WARMUP:-5}"
MESSAGES="${MESSAGES:-300000}"
RUNS="${RUNS:-2}"
PARTITIONS="${PARTITIONS:-8}"
CONNECTIONS="${CONNECTIONS:-32}"
MAX_CONNECTIONS="${MAX_CONNECTIONS:-256}"
SEED="${SEED:-7}"
TIMEOUT="${TIMEOUT:-600}"
PHASES="${PHASES:-latency throughput}"
# Niceness of the load generator and the driver in the latency phase: 19 lets the trackers and the
# broker have the CPU first, as if the clients ran on other machines (0: all equal, the default).
CLIENT_NICE="${CLIENT_NICE:-0}"
PORT_BASE="${BENCH_PORT_BASE:-18400}"
WRITE_DOCS="${WRITE_DOCS:-1}"
[ "$SMOKE" = 0 ] || WRITE_DOCS=0
BOOTSTRAP=localhost:9092
BIN=target/release
RECORDS_PER_MESSAGE=2.37 # at --duplicate-share 0.03, no invalid records (bench/latency.sh)
RUN="bench-lookup-$(date +%Y%m%d-%H%M%S)"
OUT="target/bench/$RUN"
mkdir -p "$OUT"
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[lookup] %s\n' "$*" >&2; }

if [ -n "${RATE:-}" ]; then
  RATE_SOURCE="set by RATE"
elif RATE=$(python3 bench/report.py half-max --system tracker --results target/bench/last-compare.jsonl) && [ -n "$RATE" ]; then
  RATE_SOURCE="half the tracker's median input records/s in the last bench/compare.sh run"
else
  RATE=20000
  RATE_SOURCE="default: no bench/compare.sh result found"
fi
COMMAND="RATE=$RATE LOOKUPS_PER_S=$LOOKUPS_PER_S DURATION=$DURATION WARMUP=$WARMUP MESSAGES=$MESSAGES RUNS=$RUNS PARTITIONS=$PARTITIONS bench/lookup.sh"

# Never starts or restarts a broker that is already serving (it may be shared).
scripts/kafka.sh status || scripts/kafka.sh start
record_version "$OUT"
# As deployed (the chart requires a token): every lookup, and every forward, is authenticated.
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$OUT/api-token"
log "building (release) the binaries and bench_probe"
cargo build --release --locked --bins --example bench_probe
PROBE="$BIN/examples/bench_probe --bootstrap-servers $BOOTSTRAP"

# Processes this script started, stopped on exit (by pid).
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

cpu_seconds() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$CLK_TCK" '{ printf "%.2f\n", ($12 + $13) / hz }'; }
# The machine's busy and total CPU time so far (all CPUs, in clock ticks; idle and iowait are not busy).
machine_ticks() { awk '/^cpu / { total = 0; for (i = 2; i <= 9; i++) total += $i; print total - $5 - $6, total }' /proc/stat; }
# Nanoseconds the threads of process $1 have waited, runnable, for a CPU (field 2 of schedstat).
# %.0f, not %d: mawk clamps %d to 2^31 - 1 (2.1 s of nanoseconds).
run_queue_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $2 } END { printf "%.0f\n", s }'; }

metric() { # http-port name: the sum of the metric's samples (0 if absent)
  { curl -fs "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f", s }'
}

# start_tracker a|b app log: starts one instance with the SMS_TRACKER_* topic names in the
# environment (use_run_names); sets TRACKER_PID.
start_tracker() {
  local name=$1 app=$2 log=$3 http api
  if [ "$name" = a ]; then http=$((PORT_BASE + 1)) api=$((PORT_BASE + 2)); else http=$((PORT_BASE + 3)) api=$((PORT_BASE + 4)); fi
  "$BIN/sms-tracker" --bootstrap-servers "$BOOTSTRAP" --application-id "$app" --instance-id "bench-$name" \
    --create-topics --partitions "$PARTITIONS" --http-listen "127.0.0.1:$http" --api-listen "127.0.0.1:$api" \
    --advertised-address "127.0.0.1:$api" --api-token-file "$OUT/api-token" >"$log" 2>&1 &
  TRACKER_PID=$!
  PIDS+=("$TRACKER_PID")
}

stop_pid() { # SIGTERM, up to 60 s for a graceful exit, then SIGKILL
  local pid=$1 deadline=$((SECONDS + 60))
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Until both instances are ready and the group has settled: each owns partitions, together all
# of them, none restoring (at most 120 s).
wait_split() {
  local a_pid=$1 b_pid=$2 deadline=$((SECONDS + 120)) a b
  while :; do
    kill -0 "$a_pid" 2>/dev/null || { log "tracker A exited"; tail -n 30 "$OUT/lat-a.log" >&2; exit 1; }
    kill -0 "$b_pid" 2>/dev/null || { log "tracker B exited"; tail -n 30 "$OUT/lat-b.log" >&2; exit 1; }
    a=$(metric $((PORT_BASE + 1)) sms_tracker_assigned_partitions)
    b=$(metric $((PORT_BASE + 3)) sms_tracker_assigned_partitions)
    if [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ $((a + b)) = "$PARTITIONS" ] &&
      curl -fs "http://127.0.0.1:$((PORT_BASE + 1))/readyz" >/dev/null 2>&1 &&
      curl -fs "http://127.0.0.1:$((PORT_BASE + 3))/readyz" >/dev/null 2>&1; then
      log "partitions: A $a, B $b"
      return 0
    fi
    [ $SECONDS -lt $deadline ] || { log "the two instances did not share the partitions within 120 s (A $a, B $b)"; exit 1; }
    sleep 0.2
  done
}

consumed() { echo $(($(metric $((PORT_BASE + 1)) sms_tracker_records_consumed_total) + $(metric $((PORT_BASE + 3)) sms_tracker_records_consumed_total))); }

latency_phase() {
  local app="$RUN-lat" a b loadgen driver messages c0 c1 t0 t1 load
  use_run_names "$app"
  load=$(cut -d' ' -f1 /proc/loadavg)
  start_tracker a "$app" "$OUT/lat-a.log"; a=$TRACKER_PID
  wait_for_ready $((PORT_BASE + 1)) "$a" "$OUT/lat-a.log"
  start_tracker b "$app" "$OUT/lat-b.log"; b=$TRACKER_PID
  wait_split "$a" "$b"
  messages=$(awk -v r="$RATE" -v d="$DURATION" -v k="$RECORDS_PER_MESSAGE" 'BEGIN { printf "%d", r * (d + 10) / k }')
  log "latency phase: $LOOKUPS_PER_S lookups/s to A for $DURATION s while sms-loadgen writes $RATE records/s ($messages messages)"
  nice -n "$CLIENT_NICE" "$BIN/sms-lookup-load" --bootstrap-servers "$BOOTSTRAP" --sent-topic "$SMS_TRACKER_SENT_TOPIC" \
    --target "127.0.0.1:$((PORT_BASE + 2))" --token-file "$OUT/api-token" --rate "$LOOKUPS_PER_S" --duration-seconds "$DURATION" \
    --warmup-seconds "$WARMUP" --min-age-ms 1000 --pick-window 10000 --connections "$CONNECTIONS" --max-connections "$MAX_CONNECTIONS" \
    --json "$OUT/lookup.json" >"$OUT/lookup.txt" 2>"$OUT/lookup-driver.log" &
  driver=$!; PIDS+=("$driver")
  nice -n "$CLIENT_NICE" "$BIN/sms-loadgen" --bootstrap-servers "$BOOTSTRAP" --messages "$messages" --rate "$RATE" --duplicate-share 0.03 \
    --invalid-share 0 --retryable-share 0 --seed "$SEED" --sent-topic "$SMS_TRACKER_SENT_TOPIC" \
    --responses-topic "$SMS_TRACKER_RESPONSES_TOPIC" --quiet --summary-json "$OUT/lat-loadgen.json" \
    >"$OUT/lat-loadgen.txt" 2>"$OUT/lat-loadgen.log" &
  loadgen=$!; PIDS+=("$loadgen")
  # The trackers' input rate over the lookups' measured span (WARMUP s after the first lookups).
  # And how busy the machine was, and how long the trackers' threads waited for a CPU, over it.
  local m0 m1 q0 q1 cpu0
  c0=$(consumed); t0=$(date +%s%3N); m0=$(machine_ticks); q0=$(($(run_queue_ns "$a") + $(run_queue_ns "$b")))
  cpu0="$(cpu_seconds "$a") $(cpu_seconds "$b")"
  if ! wait "$driver"; then log "the driver failed:"; cat "$OUT/lookup-driver.log" >&2; exit 1; fi
  c1=$(consumed); t1=$(date +%s%3N); m1=$(machine_ticks); q1=$(($(run_queue_ns "$a") + $(run_queue_ns "$b")))
  kill -0 "$loadgen" 2>/dev/null || log "caution: the load generator ended before the driver (see $OUT/lat-loadgen.log)"
  stop_pid "$loadgen"
  cat "$OUT/lookup.txt"
  curl -fs "http://127.0.0.1:$((PORT_BASE + 1))/metrics" >"$OUT/lat-a.metrics.txt" || true
  curl -fs "http://127.0.0.1:$((PORT_BASE + 3))/metrics" >"$OUT/lat-b.metrics.txt" || true
  local cpu_a cpu_b
  cpu_a=$(cpu_seconds "$a"); cpu_b=$(cpu_seconds "$b")
  stop_pid "$a"; stop_pid "$b"
  python3 - "$c0" "$c1" "$t0" "$t1" "$RATE" "$cpu_a" "$cpu_b" "$load" "$m0" "$m1" "$q0" "$q1" "$cpu0" >"$OUT/lat-trackers.json" <<'PY'
import json, sys
c0, c1, t0, t1, rate = (int(x) for x in sys.argv[1:6])
cpu_a0, cpu_b0 = (float(x) for x in sys.argv[13].split())
busy0, total0 = (int(x) for x in sys.argv[9].split())
busy1, total1 = (int(x) for x in sys.argv[10].split())
seconds = (t1 - t0) / 1000
print(json.dumps({"rate": rate, "consumed": c1 - c0, "seconds": seconds, "load_before": float(sys.argv[8]),
                  "input_records_per_s": round((c1 - c0) / max(seconds, 1e-3)),
                  "cpu_a_s": float(sys.argv[6]), "cpu_b_s": float(sys.argv[7]),
                  "cpu_a_span_s": round(float(sys.argv[6]) - cpu_a0, 2), "cpu_b_span_s": round(float(sys.argv[7]) - cpu_b0, 2),
                  "machine_busy_share": round((busy1 - busy0) / max(total1 - total0, 1), 3),
                  "run_queue_wait_s": round((int(sys.argv[12]) - int(sys.argv[11])) / 1e9, 2)}))
PY
  log "trackers during the latency phase: $(cat "$OUT/lat-trackers.json")"
}

throughput_run() { # run-number mode(none|lookups)
  local run=$1 mode=$2 app="$RUN-tp-r$1-$2" prefix="$OUT/r$1-$2" a b driver="" load t0 cpu_a cpu_b
  use_run_names "$app"
  export SMS_TRACKER_SENT_TOPIC="$TP_SENT" SMS_TRACKER_RESPONSES_TOPIC="$TP_RESPONSES"
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s%3N)
  start_tracker a "$app" "$prefix-a.log"; a=$TRACKER_PID
  start_tracker b "$app" "$prefix-b.log"; b=$TRACKER_PID
  if [ "$mode" = lookups ]; then
    "$BIN/sms-lookup-load" --bootstrap-servers "$BOOTSTRAP" --sent-topic "$TP_SENT" --from-beginning \
      --target "127.0.0.1:$((PORT_BASE + 2))" --token-file "$OUT/api-token" --rate "$LOOKUPS_PER_S" --duration-seconds "$TIMEOUT" \
      --warmup-seconds 0 --min-age-ms 0 --pick-window 0 --connections "$CONNECTIONS" --max-connections "$MAX_CONNECTIONS" \
      --json "$prefix.lookup.json" >"$prefix.lookup.txt" 2>"$prefix.driver.log" &
    driver=$!; PIDS+=("$driver")
  fi
  log "run $run, $mode: trackers A (pid $a) and B (pid $b) started"
  if ! $PROBE wait-committed --group "$app" --topics "$TP_SENT,$TP_RESPONSES" --started-at-ms "$t0" --pid "$a" \
    --timeout-seconds "$TIMEOUT" >"$prefix.wait.json"; then
    log "run $run, $mode: the trackers did not finish"; tail -n 20 "$prefix-a.log" "$prefix-b.log" >&2
    echo "{\"run\":$run,\"mode\":\"$mode\",\"failed\":true}" >>"$OUT/results.jsonl"
    [ -z "$driver" ] || stop_pid "$driver"
    stop_pid "$a"; stop_pid "$b"
    return 0
  fi
  cpu_a=$(cpu_seconds "$a"); cpu_b=$(cpu_seconds "$b")
  if [ -n "$driver" ]; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" || log "run $run: the driver failed: $(tail -n 3 "$prefix.driver.log")"
  fi
  stop_pid "$a"; stop_pid "$b"
  python3 - "$run" "$mode" "$load" "$cpu_a" "$cpu_b" "$prefix.wait.json" "$prefix.lookup.json" >>"$OUT/results.jsonl" <<'PY'
import json, os, sys
run, mode, load, cpu_a, cpu_b, wait, lookups = sys.argv[1:]
row = {"run": int(run), "mode": mode, "load_before": float(load), "cpu_a_s": float(cpu_a), "cpu_b_s": float(cpu_b)}
row.update(json.load(open(wait)))
row["input_records_per_s"] = round(row["input_records"] / row["done_s"])
if mode == "lookups" and os.path.exists(lookups):
    l = json.load(open(lookups))
    row["lookups"] = {k: l[k] for k in ("sent", "sent_per_s", "local", "forwarded", "all", "failed")}
    row["lookups"]["fell_behind"] = l["driver"]["fell_behind"]
print(json.dumps(row))
PY
  log "run $run, $mode: $(tail -n1 "$OUT/results.jsonl" | cut -c1-300)"
}

throughput_phase() {
  TP_SENT="$RUN-tp.sent-messages" TP_RESPONSES="$RUN-tp.submit-responses"
  log "preloading $MESSAGES messages into $TP_SENT / $TP_RESPONSES ($PARTITIONS partitions)"
  "$BIN/sms-loadgen" --bootstrap-servers "$BOOTSTRAP" --messages "$MESSAGES" --duplicate-share 0.03 \
    --invalid-share 0 --retryable-share 0 --seed 42 --sent-topic "$TP_SENT" --responses-topic "$TP_RESPONSES" \
    --create-topics --partitions "$PARTITIONS" --quiet --summary-json "$OUT/tp-loadgen.json" \
    >"$OUT/tp-loadgen.txt" 2>"$OUT/tp-loadgen.log"
  local run
  for run in $(seq 1 "$RUNS"); do
    if [ $((run % 2)) = 1 ]; then
      throughput_run "$run" none; throughput_run "$run" lookups
    else
      throughput_run "$run" lookups; throughput_run "$run" none
    fi
  done
}

for phase in $PHASES; do
  case $phase in
    latency) latency_phase ;;
    throughput) throughput_phase ;;
    *) log "unknown phase $phase"; exit 2 ;;
  esac
done

python3 bench/lookup_report.py --out "$OUT" --rate "$RATE" --rate-source "$RATE_SOURCE" --lookups "$LOOKUPS_PER_S" \
  --partitions "$PARTITIONS" --messages "$MESSAGES" --command "$COMMAND" \
  --metrics-a "$OUT/lat-a.metrics.txt" --metrics-b "$OUT/lat-b.metrics.txt" \
  --docs "$([ "$WRITE_DOCS" = 0 ] || echo docs/BENCHMARKS.md)"
# The figure needs both phases' files.
if [ "$WRITE_DOCS" != 0 ] && [ -f "$OUT/lookup.json" ] && [ -f "$OUT/results.jsonl" ]; then
  python3 bench/plots.py lookup --run "$OUT" --command "$COMMAND" ||
    echo "the figure was not drawn (bench/plots.py failed)" >&2
fi
log "raw files in $OUT"
