# Sourced by scripts/demo.sh and bench/*.sh: names a run's topics and waits for a tracker.
# shellcheck shell=bash

# Points every SMS_TRACKER_* topic and group setting at fresh names prefixed by RUN, so a run can
# be repeated on the same broker without seeing an earlier run's records.
use_run_names() {
  local run=$1
  export SMS_TRACKER_APPLICATION_ID="$run"
  export SMS_TRACKER_SENT_TOPIC="$run.sent-messages"
  export SMS_TRACKER_RESPONSES_TOPIC="$run.submit-responses"
  export SMS_TRACKER_STATUS_TOPIC="$run.message-status"
  export SMS_TRACKER_DEAD_LETTER_TOPIC="$run.message-status-dead-letters"
}

# Waits until the tracker PID serving on PORT answers /readyz, for at most 120 s; on failure
# prints the end of LOG and exits non-zero.
wait_for_ready() {
  local port=$1 pid=$2 log=$3 deadline=$((SECONDS + 120))
  until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "tracker exited:"; tail -n 30 "$log"; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "tracker not ready after 120 s"; tail -n 30 "$log"; exit 1; fi
    # Short: bench/restore.sh times start-up with this.
    sleep 0.05
  done
}

# Writes what the tracker is built from into OUT/tracker-version.txt: the last commit that changed
# src/ or Cargo.*, so that runs on either side of a docs-only commit count as the same build (the
# restore figure draws the runs of one build together), and whether src/ had uncommitted changes.
# The figures (bench/plots.py) name it.
record_version() {
  local out=$1 n commit
  n=$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | wc -l)
  commit=$(git log -1 --format=%h -- src Cargo.toml Cargo.lock 2>/dev/null || true)
  echo "commit ${commit:-?}$([ "$n" = 0 ] || echo " plus uncommitted changes to $n file(s) in src/")" \
    >"$out/tracker-version.txt"
}
