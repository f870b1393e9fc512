#!/usr/bin/env bash
# Throughput comparison, side by side on one broker and one preloaded input (issue #6):
#
#   raw-pipe        examples/raw_pipe.rs: consume both inputs, write what the tracker writes (its
#                   SENT status per message, rendered by its own code, and a changelog record per
#                   message), the tracker's Kafka settings, no state — the practical ceiling;
#   kstreams        bench/kstreams-reference (Reference): the article's Kafka Streams topology,
#                   exactly_once_v2, Kafka Streams defaults (1 stream thread, RocksDB, 10 MB cache,
#                   commit 100 ms) — as the article wrote it;
#   kstreams-tuned  bench/kstreams-reference (Tuned): Kafka Streams as a user would write the job
#                   to be correct and fast — Processor API over both inputs, one persistent store
#                   with its changelog, exactly one status per message; exactly_once_v2, one
#                   stream thread per core, lz4, -Xmx256m (docs/BENCHMARKS.md says how each
#                   setting was chosen). The peer the ratios are stated against;
#   tracker         sms-tracker with its defaults.
#
#   bench/compare.sh                                   # 1,000,000 messages, 8 partitions, 1 run
#   MESSAGES=300000 PARTITIONS=8 RUNS=3 bench/compare.sh
#   MESSAGES=2000 SMOKE=1 bench/compare.sh             # the test-suite smoke: correctness only
#   MESSAGES=300000 RUNS=3 RECEIPTS=1 bench/compare.sh # the cost of delivery receipts (see below)
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
#               records, SENT records, distinct keys with SENT, duplicates, tombstones, and the
#               bytes of keys and values; it also counts the records and bytes of the state
#               changelog (tracker, raw pipe and kstreams-tuned: one store each).
# Expected: raw pipe, kstreams-tuned and tracker exactly MESSAGES SENT records, one per message,
# and nothing else. The article's Kafka Streams re-emits on updates and its append-only aggregate turns a duplicate response into a delete
# (tombstone) downstream, so it is expected to show duplicates, tombstones and missing messages;
# its check is only: nothing but SENT records and tombstones, at most MESSAGES distinct keys with a
# SENT, and at least MESSAGES − duplicate responses of them (a message can only lose its SENT to a
# duplicate response). The run order of the systems rotates between runs.
#
# The results table (with the machine description and the issue's targets) replaces the part of
# docs/BENCHMARKS.md between <!-- results:start --> and <!-- results:end --> (not in SMOKE mode, nor
# with WRITE_DOCS=0); raw files are under target/bench/<run>/.
#
# RECEIPTS=1 measures the cost of delivery receipts (issue #11) instead: the preload also writes
# <run>.delivery-reports (PARTITIONS partitions) with the load generator's simulated receipts
# (--delivery-reports-topic, --supplier-id-format SUPPLIER_ID_FORMAT, its default shares: 90 % of
# messages delivered, 5 % undelivered, 5 % with a part that never gets a final receipt; 20 % of
# parts an intermediate ENROUTE/ACCEPTD, 2 % duplicate finals, 10 % before their submit response,
# 30 % raw texts; extra loadgen flags in RECEIPTS_LOADGEN_ARGS), and the systems (SYSTEMS default
# "tracker tracker-receipts"; Kafka Streams and the raw pipe do no receipts) are
#   tracker            as above, receipts off: it reads only sent-messages and submit-responses;
#   tracker-receipts   the tracker with --delivery-reports-topic, --delivery-id-format
#                      SUPPLIER_ID_FORMAT and --delivery-timeout-seconds DELIVERY_TIMEOUT.
# Wall time ends when the group's committed offsets reach the end of all its external inputs (three
# for tracker-receipts). The re-keyed receipts are then still in the tracker's internal topics, so
# for tracker-receipts the probe goes on until the group's committed offsets reach the end of those
# too (bench_probe wait-drained): "all processed", when every receipt's outcome is visible; CPU and
# RSS are read then. DELIVERY_TIMEOUT is the tracker's default (48 h), so no DELIVERY_UNKNOWN is
# due within the run: the messages planned to lack a final receipt end the run at SENT, awaiting.
# (A short timeout is no substitute: once a partition's sent-messages and submit-responses are
# idle, its clock follows the wall clock, and messages whose receipts are still in the internal
# topics would get DELIVERY_UNKNOWN.) With DELIVERY_TIMEOUT below OUTCOME_TIMEOUT (300 s) the
# probe waits for every message's outcome instead (bench_probe wait-outcomes) and expects the
# planned DELIVERY_UNKNOWNs. Checks: exactly one SENT per message; for tracker-receipts DELIVERED /
# UNDELIVERED / DELIVERY_UNKNOWN exactly as many as the load generator planned (as said), none
# duplicated, none before its SENT; no dead letters. The table replaces <!-- receipts:start --> …
# <!-- receipts:end --> in docs/BENCHMARKS.md (same WRITE_DOCS rule); last-compare.jsonl is left
# alone.
#
# Environment: MESSAGES (1000000), PARTITIONS (8), RUNS (1), SYSTEMS ("raw-pipe kstreams
# kstreams-tuned tracker"), SEED (42), SMOKE (0; 1 = MESSAGES 2000, PARTITIONS 2, debug build,
# assert correctness only), BENCH_PROFILE (release; debug in SMOKE), KSTREAMS_THREADS (1),
# KSTREAMS_JAVA_OPTS (none: JVM defaults), KSTREAMS_TUNED_THREADS (nproc), KSTREAMS_TUNED_JAVA_OPTS
# (-Xmx256m), TRACKER_ARGS / KSTREAMS_ARGS / KSTREAMS_TUNED_ARGS / RAW_PIPE_ARGS (extra flags, e.g.
# RAW_PIPE_ARGS="--work minimal" for the pre-#13 pipe, KSTREAMS_TUNED_ARGS="--cache true
# --property commit.interval.ms=200"), TIMEOUT (1800 s per
# system), BENCH_HTTP_PORT (18093, the tracker's /metrics), WRITE_DOCS (1; 0 = leave the docs and
# target/bench/last-compare.jsonl alone, for experiments), RECEIPTS (0), SUPPLIER_ID_FORMAT
# (supplier-a=hex-in-response), DELIVERY_TIMEOUT (172800 s), OUTCOME_TIMEOUT (300 s),
# RECEIPTS_LOADGEN_ARGS (none).
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE="${SMOKE:-0}"
if [ "$SMOKE" = 1 ]; then
  MESSAGES="${MESSAGES:-2000}"; PARTITIONS="${PARTITIONS:-2}"; PROFILE="${BENCH_PROFILE:-debug}"
else
  MESSAGES="${MESSAGES:-1000000}"; PARTITIONS="${PARTITIONS:-8}"; PROFILE="${BENCH_PROFILE:-release}"
fi
RUNS="${RUNS:-1}"
RECEIPTS="${RECEIPTS:-0}"
if [ "$RECEIPTS" = 1 ]; then
  SYSTEMS="${SYSTEMS:-tracker tracker-receipts}"
else
  SYSTEMS="${SYSTEMS:-raw-pipe kstreams kstreams-tuned tracker}"
fi
# With RECEIPTS=1: how supplier-a writes its ids (hex in the submit response, decimal in the
# receipt), on both sides; the tracker's delivery timeout; how long to wait for the outcomes.
SUPPLIER_ID_FORMAT="${SUPPLIER_ID_FORMAT:-supplier-a=hex-in-response}"
DELIVERY_TIMEOUT="${DELIVERY_TIMEOUT:-172800}"
OUTCOME_TIMEOUT="${OUTCOME_TIMEOUT:-300}"
RECEIPTS_LOADGEN_ARGS="${RECEIPTS_LOADGEN_ARGS:-}"
DELIVERY_REPORTS=""
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
# The Kafka Streams reference is only built when it runs in receipts mode (it does no receipts).
if [ "$RECEIPTS" = 1 ] && [[ " $SYSTEMS " != *" kstreams "* && " $SYSTEMS " != *" kstreams-tuned "* ]]; then
  build_all "$PROFILE" nojava
else
  build_all "$PROFILE"
fi
PROBE="$BIN/examples/bench_probe --bootstrap-servers $BOOTSTRAP"

SENT="$RUN.sent-messages"
RESPONSES="$RUN.submit-responses"
receipt_flags=()
if [ "$RECEIPTS" = 1 ]; then
  DELIVERY_REPORTS="$RUN.delivery-reports"
  # shellcheck disable=SC2206
  receipt_flags=(--delivery-reports-topic "$DELIVERY_REPORTS" --supplier-id-format "$SUPPLIER_ID_FORMAT"
    $RECEIPTS_LOADGEN_ARGS)
  log "preloading $MESSAGES messages into $SENT / $RESPONSES / $DELIVERY_REPORTS ($PARTITIONS partitions)"
else
  log "preloading $MESSAGES messages into $SENT / $RESPONSES ($PARTITIONS partitions)"
fi
preload_start=$SECONDS
"$BIN/sms-loadgen" --bootstrap-servers "$BOOTSTRAP" --messages "$MESSAGES" --duplicate-share "$DUPLICATE_SHARE" \
  --invalid-share 0 --retryable-share 0 --seed "$SEED" --sent-topic "$SENT" --responses-topic "$RESPONSES" \
  --create-topics --partitions "$PARTITIONS" --quiet --summary-json "$OUT/loadgen.json" "${receipt_flags[@]}" \
  >"$OUT/loadgen.txt"
if [ "$RECEIPTS" = 1 ]; then # without the expected outcomes' id lists
  log "preloaded in $((SECONDS - preload_start)) s: $(python3 -c 'import json, sys
print(json.dumps({k: v for k, v in json.load(open(sys.argv[1])).items() if not k.endswith("_ids")}))' "$OUT/loadgen.json")"
else
  log "preloaded in $((SECONDS - preload_start)) s: $(tr -d '\n' <"$OUT/loadgen.json" | tr -s ' ')"
fi

trap 'if [ -n "$SYSTEM_PID" ]; then stop_system "$SYSTEM_PID"; fi' EXIT

run_system() { # run-number system
  local run=$1 system=$2
  local app="$RUN-r$run-$system"
  local output="$app.output"
  local prefix="$OUT/r$run-$system"
  local inputs="$SENT,$RESPONSES"
  [ "$system" != tracker-receipts ] || inputs="$inputs,$DELIVERY_REPORTS"
  $PROBE create-topics --partitions "$PARTITIONS" "$output" "$app.dead-letters" >/dev/null
  local load broker_cpu0=0 busy0 t0
  load=$(cut -d' ' -f1 /proc/loadavg)
  [ -n "$BROKER_PID" ] && broker_cpu0=$(cpu_seconds "$BROKER_PID")
  busy0=$(busy_cpu_seconds)
  t0=$(date +%s%3N)
  start_system "$system" "$app" "$SENT" "$RESPONSES" "$output" "$prefix.log"
  log "run $run: $system started (pid $SYSTEM_PID, log $prefix.log)"
  if ! $PROBE wait-committed --group "$app" --topics "$inputs" --started-at-ms "$t0" --pid "$SYSTEM_PID" \
    --timeout-seconds "$TIMEOUT" >"$prefix.wait.json"; then
    log "$system did not finish; last log lines:"; tail -n 30 "$prefix.log" >&2
    stop_system "$SYSTEM_PID"; SYSTEM_PID=""
    echo "{\"run\":$run,\"system\":\"$system\",\"failed\":true}" >>"$OUT/results.jsonl"
    return 0
  fi
  local extra=()
  if [ "$system" = tracker-receipts ]; then
    # The external inputs are committed, but the receipts may still be in the internal topics:
    # measure (CPU and RSS too) until the group has committed the end of those as well.
    if ! $PROBE wait-drained --group "$app" --topics "$app-receipt-index,$app-receipts-by-supplier-id,$app-receipts-matched" \
      --started-at-ms "$t0" --pid "$SYSTEM_PID" --timeout-seconds "$TIMEOUT" >"$prefix.drained.json"; then
      log "$system did not drain its internal topics; last log lines:"; tail -n 30 "$prefix.log" >&2
      stop_system "$SYSTEM_PID"; SYSTEM_PID=""
      echo "{\"run\":$run,\"system\":\"$system\",\"failed\":true}" >>"$OUT/results.jsonl"
      return 0
    fi
    extra+=("$prefix.drained.json")
  fi
  local rss_kb cpu broker_cpu="" busy
  busy=$(busy_cpu_seconds)
  rss_kb=$(peak_rss_kb "$SYSTEM_PID")
  cpu=$(cpu_seconds "$SYSTEM_PID")
  echo "{\"minor_faults\": $(minor_faults "$SYSTEM_PID")}" >"$prefix.faults.json"
  extra+=("$prefix.faults.json")
  save_metrics "$system" "$prefix.metrics.txt"
  [ -n "$BROKER_PID" ] && broker_cpu=$(awk -v a="$(cpu_seconds "$BROKER_PID")" -v b="$broker_cpu0" 'BEGIN { printf "%.2f", a - b }')
  if [ "$RECEIPTS" = 1 ]; then
    if [ "$system" = tracker-receipts ] && [ "$DELIVERY_TIMEOUT" -lt "$OUTCOME_TIMEOUT" ]; then
      # A delivery timeout short enough to wait for: DELIVERY_UNKNOWN comes once the inputs have
      # been idle for 5 s and the timeout has passed after SENT (in the partition's clock).
      $PROBE wait-outcomes --topic "$output" --expect "$MESSAGES" --started-at-ms "$t0" \
        --timeout-seconds "$OUTCOME_TIMEOUT" >"$prefix.outcomes.json"
      extra+=("$prefix.outcomes.json")
      log "run $run: $system outcomes: $(cat "$prefix.outcomes.json")"
    fi
    stop_system "$SYSTEM_PID"; SYSTEM_PID=""
    $PROBE count --by-status --topic "$output" >"$prefix.count.json"
    $PROBE count --topic "$app.dead-letters" | python3 -c 'import json,sys; print(json.dumps({"dead_letters": json.load(sys.stdin)["records"]}))' \
      >"$prefix.dead-letters.json"
    extra+=("$prefix.dead-letters.json")
  else
    stop_system "$SYSTEM_PID"; SYSTEM_PID=""
    $PROBE count --topic "$output" >"$prefix.count.json"
    # What each system wrote to its state changelog, to show that the raw pipe does the tracker's
    # work (bytes are uncompressed keys + values). The article's topology has three stores.
    local changelog=""
    case $system in
      raw-pipe | tracker) changelog="$app-state-changelog" ;;
      kstreams-tuned) changelog="$app-progress-changelog" ;;
    esac
    # (None with RAW_PIPE_ARGS="--work minimal".)
    if [ -n "$changelog" ] && $PROBE count --topic "$changelog" >"$prefix.changelog-count.json" 2>/dev/null; then
      python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
print(json.dumps({"changelog_records": c["records"], "changelog_bytes": c["key_bytes"] + c["value_bytes"]}))' \
        "$prefix.changelog-count.json" >"$prefix.changelog.json"
      extra+=("$prefix.changelog.json")
    fi
  fi
  python3 - "$run" "$system" "$rss_kb" "$cpu" "$broker_cpu" "$load" "$busy0" "$busy" "$prefix.wait.json" \
    "$prefix.count.json" "${extra[@]}" >>"$OUT/results.jsonl" <<'PY'
import json, sys
run, system, rss_kb, cpu, broker_cpu, load, busy0, busy, wait, count = sys.argv[1:11]
# CPU time used during the run by everything but the system and the broker (probe, other users).
broker = float(broker_cpu) if broker_cpu else None
other = float(busy) - float(busy0) - float(cpu) - (broker or 0.0)
row = {"run": int(run), "system": system, "rss_kb": int(rss_kb), "cpu_s": float(cpu),
       "broker_cpu_s": broker, "load_before": float(load),
       "other_cpu_s": round(max(other, 0), 2) if broker is not None else None}
row.update(json.load(open(wait)))
row.update(json.load(open(count)))
for path in sys.argv[11:]:
    row.update(json.load(open(path)))
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
[ "$SMOKE" = 1 ] || [ "${WRITE_DOCS:-1}" = 0 ] || [ "$RECEIPTS" = 1 ] || cp "$OUT/results.jsonl" target/bench/last-compare.jsonl
log "all runs done in $((SECONDS - started)) s; results in $OUT/results.jsonl"
if [ "$RECEIPTS" = 1 ]; then
  python3 bench/report.py receipts --results "$OUT/results.jsonl" --loadgen "$OUT/loadgen.json" \
    --messages "$MESSAGES" --partitions "$PARTITIONS" --runs "$RUNS" --smoke "$SMOKE" --profile "$PROFILE" \
    --supplier-id-format "$SUPPLIER_ID_FORMAT" --delivery-timeout "$DELIVERY_TIMEOUT" \
    --wait-unknown "$([ "$DELIVERY_TIMEOUT" -lt "$OUTCOME_TIMEOUT" ] && echo 1 || echo 0)" \
    --receipts-loadgen-args="$RECEIPTS_LOADGEN_ARGS" \
    --docs "$([ "$SMOKE" = 1 ] || [ "${WRITE_DOCS:-1}" = 0 ] || echo docs/BENCHMARKS.md)"
  exit
fi
python3 bench/report.py compare --results "$OUT/results.jsonl" --loadgen "$OUT/loadgen.json" \
  --messages "$MESSAGES" --partitions "$PARTITIONS" --runs "$RUNS" --smoke "$SMOKE" \
  --kstreams-threads "$KSTREAMS_THREADS" --kstreams-java-opts="$KSTREAMS_JAVA_OPTS" \
  --kstreams-tuned-threads "$KSTREAMS_TUNED_THREADS" --kstreams-tuned-java-opts="$KSTREAMS_TUNED_JAVA_OPTS" \
  --kstreams-tuned-args="$KSTREAMS_TUNED_ARGS" --profile "$PROFILE" \
  --docs "$([ "$SMOKE" = 1 ] || [ "${WRITE_DOCS:-1}" = 0 ] || echo docs/BENCHMARKS.md)"
