#!/usr/bin/env bash
# The ACLs the tracker's principal needs (README "Security: SASL_SSL and ACLs", the same list;
# tests/security.rs checks that both agree), as `kafka-acls.sh` commands: printed by default, run
# with --apply (with the broker jars of scripts/kafka.sh: $KAFKA_HOME/lib).
#
#   scripts/tracker-acls.sh --principal User:sms-tracker \
#     [--application-id sms-tracker] [--sent-topic sent-messages] [--responses-topic submit-responses] \
#     [--status-topic message-status] [--dead-letter-topic message-status-dead-letters] \
#     [--delivery-reports-topic delivery-reports] [--create-topics] [--no-create] \
#     [--bootstrap-server localhost:9092] [--command-config admin.properties] [--apply]
#
# Names default to the tracker's defaults; pass the same values as the tracker's flags. Without
# --delivery-reports-topic, receipt tracking is off and its ACL is left out. --create-topics adds
# CREATE on the input topics (the tracker's --create-topics); --no-create leaves out CREATE on the
# tracker's own topics, for when they are created beforehand.
set -euo pipefail

principal="" app="sms-tracker" sent="sent-messages" responses="submit-responses"
status="message-status" dead="message-status-dead-letters" reports="" create_inputs=0 create_own=1
bootstrap="localhost:9092" command_config="" apply=0
while [ $# -gt 0 ]; do
  case "$1" in
    --principal) principal=$2; shift ;;
    --application-id) app=$2; shift ;;
    --sent-topic) sent=$2; shift ;;
    --responses-topic) responses=$2; shift ;;
    --status-topic) status=$2; shift ;;
    --dead-letter-topic) dead=$2; shift ;;
    --delivery-reports-topic) reports=$2; shift ;;
    --create-topics) create_inputs=1 ;;
    --no-create) create_own=0 ;;
    --bootstrap-server) bootstrap=$2; shift ;;
    --command-config) command_config=$2; shift ;;
    --apply) apply=1 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$principal" ] || { echo "--principal is required (e.g. User:sms-tracker)" >&2; exit 2; }

# One ACL: operation, resource flag, name, pattern type.
acls=()
acl() { acls+=("$1 $2 $3 $4"); }
acl READ --topic "$sent" literal
acl READ --topic "$responses" literal
[ -n "$reports" ] && acl READ --topic "$reports" literal
acl WRITE --topic "$status" literal
acl WRITE --topic "$dead" literal
acl READ --topic "$app-" prefixed
acl WRITE --topic "$app-" prefixed
if [ $create_own = 1 ]; then
  acl CREATE --topic "$status" literal
  acl CREATE --topic "$dead" literal
  acl CREATE --topic "$app-" prefixed
fi
if [ $create_inputs = 1 ]; then
  acl CREATE --topic "$sent" literal
  acl CREATE --topic "$responses" literal
  [ -n "$reports" ] && acl CREATE --topic "$reports" literal
fi
acl READ --group "$app" literal
acl WRITE --transactional-id "$app-" prefixed

connection=(--bootstrap-server "$bootstrap")
[ -n "$command_config" ] && connection+=(--command-config "$command_config")
for entry in "${acls[@]}"; do
  read -r operation flag name pattern <<<"$entry"
  args=("${connection[@]}" --add --allow-principal "$principal" --operation "$operation" "$flag" "$name"
    --resource-pattern-type "$pattern")
  if [ $apply = 1 ]; then
    KAFKA_HOME="${KAFKA_HOME:-$(cd "$(dirname "$0")/.." && pwd)/target/kafka-4.1.1}"
    java -cp "$KAFKA_HOME/lib/*" org.apache.kafka.tools.AclCommand "${args[@]}" --force
  else
    echo "kafka-acls.sh ${args[*]}"
  fi
done
