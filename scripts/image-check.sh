#!/usr/bin/env bash
# Builds the container image (scripts/image.sh) and runs it as the Helm chart runs the pod — uid
# 65532, read-only root filesystem with a small /tmp, no capabilities, no privilege escalation,
# configured by environment variables only — on the host network against the local broker; then
# the demo's checks against it: the load generator (on the host) writes messages and receipts,
# and a read_committed reader must find exactly the statuses and dead letters it expects, per
# message id. Also: /healthz, /readyz and /metrics answer from the container, and SIGTERM
# (podman stop) ends it cleanly with exit code 0. Fresh topics and application id on each run.
# Ends with one line, "image-check: PASS ..." or "image-check: FAIL: ...", and the exit code.
#
#   IMAGE_CHECK_MESSAGES=20000 scripts/image-check.sh
# -E: the ERR trap (a FAIL line) also for failures inside functions.
set -eEuo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh

MESSAGES="${IMAGE_CHECK_MESSAGES:-20000}"
PARTITIONS=4
# Short, so that messages whose receipts never come reach DELIVERY_UNKNOWN within the check; not
# shorter, as a tracker starved of CPU for longer would wrongly time out messages whose receipts
# it has not read yet (seen with 10 s on a loaded 2-core machine).
DELIVERY_TIMEOUT_SECONDS=30
ID_FORMATS="supplier-a=hex-in-response,supplier-b=hex-in-report"
BOOTSTRAP="${SMS_TRACKER_BOOTSTRAP_SERVERS:-localhost:9092}"
RUN="image-check-$(date +%Y%m%d-%H%M%S)-$$"
OUT="target/image-check/$RUN"
mkdir -p "$OUT"
started=$SECONDS

# The verdict goes to the script's own stdout even when a failure is caught inside a redirected
# command.
exec 3>&1
step() { printf '\n==> %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
container_started=""
fail() {
  trap - ERR
  if [[ -n $container_started ]]; then
    project_podman logs "$RUN" >"$OUT/tracker.log" 2>&1 || true
    echo "--- last lines of the container's log ($OUT/tracker.log):" >&2
    tail -n 20 "$OUT/tracker.log" >&2 || true
  fi
  echo "image-check: FAIL: $* ($((SECONDS - started)) s; files in $OUT)" >&3
  exit 1
}
trap 'fail "command failed at line $LINENO: $BASH_COMMAND"' ERR
# The container is removed however the script ends; `podman run --timeout` below also ends it
# by itself should this script be killed outright.
cleanup() { [[ -z $container_started ]] || project_podman rm --force --time 0 "$RUN" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "Kafka broker"
scripts/kafka.sh start

step "Image"
scripts/image.sh

step "Host binaries: the load generator and the reader"
cargo build --release --locked --bin sms-loadgen --bin sms-inspect

# Containers of earlier runs that were killed before their cleanup (this storage is this clone's).
for stale in $(project_podman ps --all --format '{{.Names}}' | grep '^image-check-' || true); do
  project_podman rm --force --time 0 "$stale" >/dev/null
  echo "removed a container left by an earlier run: $stale"
done

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reports_topic="$RUN.delivery-reports"
step "Tracker container $RUN: uid 65532, read-only, --network=host, /metrics on 127.0.0.1:$port"
container_started=yes
project_podman run --pull=never --detach --name "$RUN" --network=host \
  --user 65532:65532 --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,size=64m,mode=1777 \
  --cap-drop=ALL --security-opt=no-new-privileges --stop-timeout 60 --timeout 900 \
  --env SMS_TRACKER_INSTANCE_ID="$RUN-0" \
  --env SMS_TRACKER_BOOTSTRAP_SERVERS="$BOOTSTRAP" \
  --env SMS_TRACKER_APPLICATION_ID="$RUN" \
  --env SMS_TRACKER_SENT_TOPIC="$RUN.sent-messages" \
  --env SMS_TRACKER_RESPONSES_TOPIC="$RUN.submit-responses" \
  --env SMS_TRACKER_STATUS_TOPIC="$RUN.message-status" \
  --env SMS_TRACKER_DEAD_LETTER_TOPIC="$RUN.message-status-dead-letters" \
  --env SMS_TRACKER_HTTP_LISTEN="127.0.0.1:$port" \
  --env SMS_TRACKER_DELIVERY_REPORTS_TOPIC="$reports_topic" \
  --env SMS_TRACKER_DELIVERY_ID_FORMATS="$ID_FORMATS" \
  --env SMS_TRACKER_DELIVERY_TIMEOUT_SECONDS="$DELIVERY_TIMEOUT_SECONDS" \
  --env SMS_TRACKER_CREATE_TOPICS=true \
  --env SMS_TRACKER_PARTITIONS="$PARTITIONS" \
  --env SMS_TRACKER_REPLICATION_FACTOR=1 \
  --env SMS_TRACKER_SHUTDOWN_TIMEOUT_SECONDS=30 \
  --env SMS_TRACKER_LOG_FORMAT=json \
  "$IMAGE_TAG" >/dev/null || fail "podman run failed"

deadline=$((SECONDS + 120))
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
  [[ $(project_podman inspect --format '{{.State.Running}}' "$RUN") == true ]] || fail "the tracker container exited before it was ready"
  ((SECONDS < deadline)) || fail "the tracker container was not ready after 120 s"
  sleep 0.2
done
ok "/readyz answers 200 from the container ($((SECONDS - deadline + 120)) s after start)"

pid=$(project_podman inspect --format '{{.State.Pid}}' "$RUN")
ids=$(awk '/^Uid:/ { uid = $2 } /^Gid:/ { gid = $2 } END { print "uid " uid ", gid " gid }' "/proc/$pid/status")
[[ $ids == "uid 65532, gid 65532" ]] || fail "the tracker runs as $ids, not as 65532"
ok "the tracker process (host pid $pid) runs as uid 65532, gid 65532"
[[ $(project_podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$RUN") == true ]] || fail "the root filesystem is not read-only"
if write_error=$(project_podman exec "$RUN" touch /usr/local/bin/probe 2>&1); then
  fail "the container could write to its root filesystem"
fi
[[ $write_error == *"Read-only file system"* ]] || fail "writing to / failed, but not as read-only: $write_error"
project_podman exec "$RUN" touch /tmp/probe || fail "/tmp is not writable"
ok "root filesystem read-only (\"Read-only file system\"), /tmp writable"

step "Load generator (host): $MESSAGES messages, duplicates, retryable and invalid records, receipts ($ID_FORMATS)"
timeout 300 target/release/sms-loadgen --bootstrap-servers "$BOOTSTRAP" --messages "$MESSAGES" --quiet \
  --duplicate-share 0.02 --invalid-share 0.01 --retryable-share 0.01 \
  --sent-topic "$RUN.sent-messages" --responses-topic "$RUN.submit-responses" \
  --delivery-reports-topic "$reports_topic" --supplier-id-format "$ID_FORMATS" \
  --summary-json "$OUT/loadgen.json" >"$OUT/loadgen.txt" 2>&1 || fail "the load generator failed (see $OUT/loadgen.txt)"

field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$OUT/loadgen.json" "$1"; }
expected_sent=$(field messages)
expected_delivered=$(field expected_delivered)
expected_undelivered=$(field expected_undelivered)
expected_unknown=$(field expected_delivery_unknown)
expected_statuses=$((expected_sent + expected_delivered + expected_undelivered + expected_unknown))
expected_dead=$(field invalid_records)
expected_receipt_dead=$(field invalid_receipts)

step "A read_committed reader checks the output topics (every status and dead letter, per message id)"
SMS_TRACKER_STATUS_TOPIC="$RUN.message-status" SMS_TRACKER_DEAD_LETTER_TOPIC="$RUN.message-status-dead-letters" \
  timeout 300 target/release/sms-inspect --bootstrap-servers "$BOOTSTRAP" \
  --expect-statuses "$expected_statuses" --expect-dead-letters "$expected_dead" \
  --delivery-reports-topic "$reports_topic" --expect-receipt-dead-letters "$expected_receipt_dead" \
  --expect-outcomes-from "$OUT/loadgen.json" \
  --expect-status "SENT=$expected_sent,DELIVERED=$expected_delivered,UNDELIVERED=$expected_undelivered,DELIVERY_UNKNOWN=$expected_unknown" \
  --timeout-seconds 240 >"$OUT/inspect.txt" 2>&1 || {
  cat "$OUT/inspect.txt"
  fail "the output topics do not hold what the load generator expects"
}
ok "exactly once: $expected_sent SENT, $expected_delivered DELIVERED, $expected_undelivered UNDELIVERED, $expected_unknown DELIVERY_UNKNOWN; $expected_dead dead letters ($expected_receipt_dead invalid receipts)"

step "HTTP endpoints of the container"
health=$(curl -fsS "http://127.0.0.1:$port/healthz") || fail "/healthz does not answer 200"
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || fail "/readyz does not answer 200 after the load"
ok "/healthz 200 ($health), /readyz 200"
# The counter moves when the tracker sees its commit succeed, a moment after the reader may see it.
metric_line="sms_tracker_statuses_published_total{status=\"SENT\"} $expected_sent"
deadline=$((SECONDS + 30))
until curl -fsS "http://127.0.0.1:$port/metrics" >"$OUT/metrics.txt" && grep -qxF "$metric_line" "$OUT/metrics.txt"; do
  ((SECONDS < deadline)) || fail "/metrics does not show: $metric_line (see $OUT/metrics.txt)"
  sleep 0.2
done
ok "/metrics: $metric_line"

step "SIGTERM (podman stop): commit, leave the group, exit 0"
project_podman stop --time 60 "$RUN" >/dev/null
exit_code=$(project_podman inspect --format '{{.State.ExitCode}}' "$RUN")
project_podman logs "$RUN" >"$OUT/tracker.log" 2>&1
[[ $exit_code == 0 ]] || fail "the tracker exited with $exit_code after SIGTERM"
grep -q '"Shutdown requested"' "$OUT/tracker.log" || fail "the tracker's log has no \"Shutdown requested\""
grep -q '"Stopped cleanly"' "$OUT/tracker.log" || fail "the tracker's log has no \"Stopped cleanly\""
ok "exit code 0, \"Shutdown requested\" and \"Stopped cleanly\" in the log"

echo
echo "image-check: PASS: $IMAGE_TAG ran non-root, read-only, against $BOOTSTRAP: $expected_statuses statuses exactly once, endpoints, clean SIGTERM ($((SECONDS - started)) s)"
