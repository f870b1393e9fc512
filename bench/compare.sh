#!/usr/bin/env bash
# Throughput comparison, side by side on one broker and one preloaded input (issue #6):
#
#   raw-pipe   examples/raw_pipe.rs: consume both inputs, one output per whole message, the
#              tracker's transactional settings, no state — the practical ceiling;
#   kstreams   bench/kstreams-reference: the article's Kafka Streams topology, exactly_once_v2,
#              Kafka Streams defaults (1 stream thread, RocksDB, 10 MB cache, commit 100 ms);
#   tracker    sms-tracker with its defaults.
#
#   bench/compare.sh                                   # 1,000,000 messages, 8 partitions, 1 run
#   MESSAGES=300000 PARTITIONS=8 RUNS=3 bench/compare.sh
#   MESSAGES=2000 SMOKE=1 bench/compare.sh             # the test-suite smoke: correctness only
#
# Steps: start the broker (scripts/kafka.sh start); build the binaries, examples/raw_pipe.rs,
# examples/bench_probe.rs and the Java reference (mvn -q -B package; Maven Central on first use);
# create <run>.sent-messages / <run>.submit-responses with PARTITIONS partitions and preload them
# with `sms-loadgen --messages MESSAGES --duplicate-share 0.03 --invalid-share 0` (no invalid
# records: the article's topology has no error handling and its serdes would stop the Kafka Streams
# application on one) before any system runs. Then, for each run and each system in turn, with a
# fresh consumer group / application id and a fresh output topic: start it, and measure
#   wall time   process start → its group's committed offsets reach the end of both inputs. Under
#               exactly-once those offsets commit in the same transaction as the outputs, so this
#               is when the last output becomes visible to read_committed consumers (polled every
#               100 ms by `bench_probe wait-committed`);
#   startup     process start → first committed offsets (JVM/process start, group join, topics);
#   input records/s = all input records / wall time ("after startup": / (wall − startup));
#   peak RSS    VmHWM of /proc/<pid>/status; CPU = utime+stime of /proc/<pid>/stat, both read at
#               completion, before SIGTERM; broker CPU = the broker's CPU time during the run;
#               other CPU = all other CPU time used on the machine meanwhile (probe, other users);
#   outputs     `bench_probe count` reads the output topic read_committed after the system stopped:
#               records, SENT records, distinct keys with SENT, duplicates, tombstones.
# Expected: raw pipe and tracker exactly MESSAGES SENT records, one per message. Kafka Streams
# re-emits on updates and its append-only aggregate turns a duplicate response into a delete
# (tombstone) downstream, so it is expected to show duplicates, tombstones and missing messages;
# its check is only: nothing but SENT records and tombstones, at most MESSAGES distinct keys with a
# SENT, and at least MESSAGES − duplicate responses of them (a message can only lose its SENT to a
# duplicate response). The run order of the systems rotates between runs.
#
# The results table (with the machine description and the issue's targets) replaces the part of
# docs/BENCHMARKS.md between <!-- results:start --> and <!-- results:end --> (not in SMOKE mode, nor
# with WRITE_DOCS=0); raw files are under target/bench/<run>/.
#
# Environment: MESSAGES (1000000), PARTITIONS (8), RUNS (1), SYSTEMS ("raw-pipe kstreams tracker"),
# SEED (42), SMOKE (0; 1 = MESSAGES 2000, PARTITIONS 2, debug build, assert correctness only),
# BENCH_PROFILE (release; debug in SMOKE), KSTREAMS_THREADS (1), KSTREAMS_JAVA_OPTS (none: JVM
# defaults), TRACKER_ARGS / KSTREAMS_ARGS / RAW_PIPE_ARGS (extra flags), TIMEOUT (1800 s per
# system), BENCH_HTTP_PORT (18093, the tracker's /metrics), WRITE_DOCS (1; 0 = leave the docs and
# target/bench/last-compare.jsonl alone, for experiments).
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE="${SMOKE:-0}"
if [ "$SMOKE" = 1 ]; then
  MESSAGES="${MESSAGES:-2000}"; PARTITIONS="${PARTITIONS:-2}"; PROFILE="${BENCH_PROFILE:-debug}"
else
  MESSAGES="${MESSAGES:-1000000}"; PARTITIONS="${PARTITIONS:-8}"; PROFILE="${BENCH_PROFILE:-release}"
fi
RUNS="${RUNS:-1}"
SYSTEMS="${SYSTEMS:-raw-pipe kstreams tracker}"
SEED="${SEED:-42}"
DUPLICATE_SHARE=0.03
TIMEOUT="${TIMEOUT:-1800}"
PORT="${BENCH_HTTP_PORT:-18093}"
BOOTSTRAP=localhost:9092
RUN="bench-compare-$(date +%Y%m%d-%H%M%S)"
OUT="target/bench/$RUN"
mkdir -p "$OUT"
started=$SECONDS

log() { printf '[compare] %s\n' "$*" >&2; }

log "broker"
scripts/kafka.sh start
# Whichever process serves the port (scripts/kafka.sh reuses a broker it did not start).
BROKER_PID=$(ss -Hltnp "sport = :9092" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
[ -n "$BROKER_PID" ] || BROKER_PID=$(cat target/kafka-*/run-9092/broker.pid 2>/dev/null || true)
[ -n "$BROKER_PID" ] || log "broker process not found: its CPU time is not measured"

log "building ($PROFILE) the binaries, examples raw_pipe and bench_probe, and the Kafka Streams reference"
[ "$PROFILE" = release ] && BIN=target/release || BIN=target/debug
# shellcheck source=bench/systems.sh
source bench/systems.sh
build_all "$PROFILE"
PROBE="$BIN/examples/bench_probe --bootstrap-servers $BOOTSTRAP"

SENT="$RUN.sent-messages"
RESPONSES="$RUN.submit-responses"
log "preloading $MESSAGES messages into $SENT / $RESPONSES ($PARTITIONS partitions)"
preload_start=$SECONDS
"$BIN/sms-loadgen" --bootstrap-servers "$BOOTSTRAP" --messages "$MESSAGES" --duplicate-share "$DUPLICATE_SHARE" \
  --invalid-share 0 --retryable-share 0 --seed "$SEED" --sent-topic "$SENT" --responses-topic "$RESPONSES" \
  --create-topics --partitions "$PARTITIONS" --quiet --summary-json "$OUT/loadgen.json" >"$OUT/loadgen.txt"
log "preloaded in $((SECONDS - preload_start)) s: $(tr -d '\n' <"$OUT/loadgen.json" | tr -s ' ')"

trap 'if [ -n "$SYSTEM_PID" ]; then stop_system "$SYSTEM_PID"; fi' EXIT

run_system() { # run-number system
  local run=$1 system=$2
  local app="$RUN-r$run-$system"
  local output="$app.output"
  local prefix="$OUT/r$run-$system"
  $PROBE create-topics --partitions "$PARTITIONS" "$output" "$app.dead-letters" >/dev/null
  local load broker_cpu0=0 busy0 t0
  load=$(cut -d' ' -f1 /proc/loadavg)
  [ -n "$BROKER_PID" ] && broker_cpu0=$(cpu_seconds "$BROKER_PID")
  busy0=$(busy_cpu_seconds)
  t0=$(date +%s%3N)
  start_system "$system" "$app" "$SENT" "$RESPONSES" "$output" "$prefix.log"
  log "run $run: $system started (pid $SYSTEM_PID, log $prefix.log)"
  if ! $PROBE wait-committed --group "$app" --topics "$SENT,$RESPONSES" --started-at-ms "$t0" --pid "$SYSTEM_PID" \
    --timeout-seconds "$TIMEOUT" >"$prefix.wait.json"; then
    log "$system did not finish; last log lines:"; tail -n 30 "$prefix.log" >&2
    stop_system "$SYSTEM_PID"; SYSTEM_PID=""
    echo "{\"run\":$run,\"system\":\"$system\",\"failed\":true}" >>"$OUT/results.jsonl"
    return 0
  fi
  local rss_kb cpu broker_cpu="" busy
  busy=$(busy_cpu_seconds)
  rss_kb=$(peak_rss_kb "$SYSTEM_PID")
  cpu=$(cpu_seconds "$SYSTEM_PID")
  save_metrics "$system" "$prefix.metrics.txt"
  [ -n "$BROKER_PID" ] && broker_cpu=$(awk -v a="$(cpu_seconds "$BROKER_PID")" -v b="$broker_cpu0" 'BEGIN { printf "%.2f", a - b }')
  stop_system "$SYSTEM_PID"; SYSTEM_PID=""
  $PROBE count --topic "$output" >"$prefix.count.json"
  python3 - "$run" "$system" "$rss_kb" "$cpu" "$broker_cpu" "$load" "$busy0" "$busy" "$prefix.wait.json" \
    "$prefix.count.json" >>"$OUT/results.jsonl" <<'PY'
import json, sys
run, system, rss_kb, cpu, broker_cpu, load, busy0, busy, wait, count = sys.argv[1:]
# CPU time used during the run by everything but the system and the broker (probe, other users).
broker = float(broker_cpu) if broker_cpu else None
other = float(busy) - float(busy0) - float(cpu) - (broker or 0.0)
row = {"run": int(run), "system": system, "rss_kb": int(rss_kb), "cpu_s": float(cpu),
       "broker_cpu_s": broker, "load_before": float(load),
       "other_cpu_s": round(max(other, 0), 2) if broker is not None else None}
row.update(json.load(open(wait)))
row.update(json.load(open(count)))
print(json.dumps(row))
PY
  log "run $run: $system done: $(tail -n1 "$OUT/results.jsonl")"
}

read -r -a systems <<<"$SYSTEMS"
for run in $(seq 1 "$RUNS"); do
  n=${#systems[@]}
  for i in $(seq 0 $((n - 1))); do
    run_system "$run" "${systems[$(((i + run - 1) % n))]}"
  done
done

# bench/latency.sh derives its default rate from the last comparison written to the docs.
[ "$SMOKE" = 1 ] || [ "${WRITE_DOCS:-1}" = 0 ] || cp "$OUT/results.jsonl" target/bench/last-compare.jsonl
log "all runs done in $((SECONDS - started)) s; results in $OUT/results.jsonl"
python3 bench/report.py compare --results "$OUT/results.jsonl" --loadgen "$OUT/loadgen.json" \
  --messages "$MESSAGES" --partitions "$PARTITIONS" --runs "$RUNS" --smoke "$SMOKE" \
  --kstreams-threads "$KSTREAMS_THREADS" --kstreams-java-opts="$KSTREAMS_JAVA_OPTS" --profile "$PROFILE" \
  --docs "$([ "$SMOKE" = 1 ] || [ "${WRITE_DOCS:-1}" = 0 ] || echo docs/BENCHMARKS.md)"
