# shellcheck shell=bash
# Sourced by bench/compare.sh and bench/latency.sh: starting and measuring the systems compared.
# Expects BIN (target/release or target/debug), BOOTSTRAP and PORT to be set; the system
# tracker-receipts also DELIVERY_REPORTS (the delivery-reports topic), SUPPLIER_ID_FORMAT and
# DELIVERY_TIMEOUT (bench/compare.sh sets them with RECEIPTS=1).

KSREF_CP="target/kstreams-reference/kstreams-reference.jar:target/kstreams-reference/lib/*"
KSTREAMS_THREADS="${KSTREAMS_THREADS:-1}"
KSTREAMS_JAVA_OPTS="${KSTREAMS_JAVA_OPTS:-}"
# kstreams-tuned (bench.reference.Tuned): one stream thread per core, and the smallest heap that
# kept its throughput within 5 % (docs/BENCHMARKS.md, "The systems").
KSTREAMS_TUNED_THREADS="${KSTREAMS_TUNED_THREADS:-$(nproc)}"
KSTREAMS_TUNED_JAVA_OPTS="${KSTREAMS_TUNED_JAVA_OPTS:--Xmx256m}"
# Extra arguments, e.g. TRACKER_ARGS="--kafka-property retry.backoff.ms=10" or
# KSTREAMS_ARGS="--property cache.max.bytes.buffering=0" (word-split; no spaces inside values).
TRACKER_ARGS="${TRACKER_ARGS:-}"
# A command the tracker runs under, for profiling: TRACKER_WRAPPER="perf record -F 999 -o target/perf.data --"
# (the measured PID, RSS and CPU are then the wrapper's).
TRACKER_WRAPPER="${TRACKER_WRAPPER:-}"
KSTREAMS_ARGS="${KSTREAMS_ARGS:-}"
KSTREAMS_TUNED_ARGS="${KSTREAMS_TUNED_ARGS:-}"
RAW_PIPE_ARGS="${RAW_PIPE_ARGS:-}"
CLK_TCK=$(getconf CLK_TCK)
SYSTEM_PID=""

build_all() { # profile [nojava]: the binaries, the two bench examples and (unless nojava) the Java reference
  # What the tracker is built from, for the report (src/ may have uncommitted changes).
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(n=$(git status --porcelain -- src Cargo.toml \
    Cargo.lock 2>/dev/null | wc -l); [ "$n" = 0 ] || echo " plus uncommitted changes to $n file(s) in src/")" \
    >"$OUT/tracker-version.txt"
  if [ "$1" = release ]; then
    cargo build --release --locked --bins --example raw_pipe --example bench_probe
  else
    cargo build --locked --bins --example raw_pipe --example bench_probe
  fi
  [ "${2:-}" != nojava ] || return 0
  if ! (cd bench/kstreams-reference && mvn -q -B -Dstyle.color=never package) >"$OUT/mvn.log" 2>&1; then
    cat "$OUT/mvn.log" >&2; echo "the Kafka Streams reference did not build" >&2; exit 1
  fi
}

cpu_seconds() { # utime + stime of a process (all its threads), in seconds
  sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$CLK_TCK" '{ printf "%.2f\n", ($12 + $13) / hz }'
}

minor_faults() { # page faults without I/O so far (mostly fresh pages the kernel zeroes): allocator churn
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $8 }'
}

peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# start_system system app sent-topic responses-topic output-topic log: starts it in the background
# with a fresh group/application id (app) and sets SYSTEM_PID.
start_system() {
  local system=$1 app=$2 sent=$3 responses=$4 output=$5 log=$6
  case $system in
    raw-pipe)
      # shellcheck disable=SC2086
      "$BIN/examples/raw_pipe" --bootstrap-servers "$BOOTSTRAP" --sent-topic "$sent" --responses-topic "$responses" \
        --output-topic "$output" --group-id "$app" $RAW_PIPE_ARGS >"$log" 2>&1 &
      ;;
    kstreams)
      # shellcheck disable=SC2086
      java $KSTREAMS_JAVA_OPTS -cp "$KSREF_CP" bench.reference.Reference --bootstrap-servers "$BOOTSTRAP" \
        --application-id "$app" --sent-topic "$sent" --responses-topic "$responses" --output-topic "$output" \
        --state-dir "$OUT/kstreams-state" --threads "$KSTREAMS_THREADS" $KSTREAMS_ARGS >"$log" 2>&1 &
      ;;
    kstreams-tuned)
      # shellcheck disable=SC2086
      java $KSTREAMS_TUNED_JAVA_OPTS -cp "$KSREF_CP" bench.reference.Tuned --bootstrap-servers "$BOOTSTRAP" \
        --application-id "$app" --sent-topic "$sent" --responses-topic "$responses" --output-topic "$output" \
        --state-dir "$OUT/kstreams-state" --threads "$KSTREAMS_TUNED_THREADS" $KSTREAMS_TUNED_ARGS >"$log" 2>&1 &
      ;;
    tracker)
      # shellcheck disable=SC2086
      $TRACKER_WRAPPER "$BIN/sms-tracker" --bootstrap-servers "$BOOTSTRAP" --application-id "$app" --instance-id bench-0 \
        --sent-topic "$sent" --responses-topic "$responses" --status-topic "$output" \
        --dead-letter-topic "$app.dead-letters" --http-listen "127.0.0.1:$PORT" $TRACKER_ARGS >"$log" 2>&1 &
      ;;
    tracker-receipts)
      # The tracker with receipt tracking on: the same flags as tracker, plus the delivery-reports
      # topic, the suppliers' id formats (as the load generator wrote them) and the timeout after
      # which a message without a final receipt is DELIVERY_UNKNOWN.
      # shellcheck disable=SC2086
      $TRACKER_WRAPPER "$BIN/sms-tracker" --bootstrap-servers "$BOOTSTRAP" --application-id "$app" --instance-id bench-0 \
        --sent-topic "$sent" --responses-topic "$responses" --status-topic "$output" \
        --dead-letter-topic "$app.dead-letters" --http-listen "127.0.0.1:$PORT" \
        --delivery-reports-topic "$DELIVERY_REPORTS" --delivery-id-format "$SUPPLIER_ID_FORMAT" \
        --delivery-timeout-seconds "$DELIVERY_TIMEOUT" $TRACKER_ARGS >"$log" 2>&1 &
      ;;
    *) echo "unknown system $system" >&2; exit 2 ;;
  esac
  SYSTEM_PID=$!
}

# wait_ready system log: until the system has its partitions (tracker /readyz, Kafka Streams
# RUNNING, raw pipe: at once).
wait_ready() {
  local system=$1 log=$2 deadline=$((SECONDS + 120))
  until case $system in
      tracker | tracker-receipts) curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 ;;
      kstreams | kstreams-tuned) grep -q "^state RUNNING" "$log" ;;
      *) true ;;
    esac; do
    kill -0 "$SYSTEM_PID" 2>/dev/null || { echo "$system exited:" >&2; tail -n 30 "$log" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "$system not ready after 120 s" >&2; exit 1; }
    sleep 0.1
  done
}

stop_system() { # pid [keep-state]: SIGTERM, up to 60 s for a graceful exit, then SIGKILL
  local pid=$1 keep=${2:-}
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$keep" = keep-state ] || rm -rf "$OUT/kstreams-state"
}

save_metrics() { # system file: the tracker's /metrics (commit durations, its own latency histogram)
  if [ "$1" = tracker ] || [ "$1" = tracker-receipts ]; then curl -fs "http://127.0.0.1:$PORT/metrics" >"$2" 2>/dev/null || true; fi
}

busy_cpu_seconds() { # machine-wide non-idle CPU time so far (all CPUs), from /proc/stat
  awk -v hz="$CLK_TCK" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}
