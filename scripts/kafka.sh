#!/usr/bin/env bash
# Fetches a pinned Apache Kafka broker from Maven Central and runs it as a single-node KRaft
# broker on localhost. Idempotent: every sub-command may be repeated safely.
#
#   scripts/kafka.sh fetch    download the broker jars (once) into $KAFKA_HOME/lib
#   scripts/kafka.sh start    fetch, format the log dir (once) and start; waits until it serves
#   scripts/kafka.sh stop     stop the broker started by this script (waits for exit)
#   scripts/kafka.sh kill     SIGKILL the broker (for failure tests)
#   scripts/kafka.sh status   exit 0 if the broker answers on $KAFKA_PORT
#   scripts/kafka.sh reset    stop and delete all broker data
#
# KAFKA_PORT / KAFKA_CONTROLLER_PORT (default 9092 / 9093) select the broker instance.
#
# A 3-node KRaft cluster on localhost, with the same jars (tests/cluster.rs):
#
#   scripts/kafka.sh cluster-start      format (once) and start nodes 1-3; waits until all serve
#   scripts/kafka.sh cluster-stop       stop every node (SIGTERM, waits for exit)
#   scripts/kafka.sh cluster-reset      stop and delete the cluster's data
#   scripts/kafka.sh cluster-bootstrap  print the bootstrap list of the three nodes
#   scripts/kafka.sh node-start N       start node N (1-3); waits until it serves
#   scripts/kafka.sh node-stop N        SIGTERM node N (controlled shutdown); waits for exit
#   scripts/kafka.sh node-kill N        SIGKILL node N
#   scripts/kafka.sh node-pid N         print node N's process id (a test signals it directly)
#   scripts/kafka.sh cluster-controller print the node id of the active controller (quorum leader)
#   scripts/kafka.sh cluster-coordinator TXID
#                                       print the node id of TXID's transaction coordinator
#
# Node N listens for clients on localhost:$((KAFKA_CLUSTER_PORT_BASE + N)) (default 23091-23093)
# and for the quorum on localhost:$((KAFKA_CLUSTER_CONTROLLER_PORT_BASE + N)) (23191-23193).
# Each node is broker and controller in one process (combined mode): the usual layout of a small
# cluster, and three JVMs instead of six on a 2-core machine. Killing the active controller
# therefore also kills a broker; the quorum of the other two elects a new leader. Topics default
# to replication factor 3 with min.insync.replicas=2, the internal offsets and transaction-state
# topics too, so one node may be down without stopping writes.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_HOME="${KAFKA_HOME:-$ROOT/target/kafka-$KAFKA_VERSION}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
# One run directory per port, so a second broker (e.g. for a broker-restart test) can run beside
# the shared one with the same jars.
RUN_DIR="${KAFKA_RUN_DIR:-$KAFKA_HOME/run-$KAFKA_PORT}"
DATA_DIR="$RUN_DIR/data"
PID_FILE="$RUN_DIR/broker.pid"
LOG_FILE="$RUN_DIR/broker.log"
CONFIG_DIR="$RUN_DIR/config"
CP="$KAFKA_HOME/lib/*"

HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"

log() { printf '[kafka.sh] %s\n' "$*" >&2; }

# shellcheck source=scripts/kafka-common.sh
. "$ROOT/scripts/kafka-common.sh"

fetch() {
  if [ -f "$KAFKA_HOME/lib/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required"; exit 1; }
  command -v java >/dev/null || { log "Java 17+ is required"; exit 1; }
  mkdir -p "$KAFKA_HOME/lib"
  log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime dependencies from Maven Central"
  cat >"$KAFKA_HOME/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sms-tracker</groupId>
  <artifactId>kafka-broker-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  (cd "$KAFKA_HOME" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=lib) >&2
  touch "$KAFKA_HOME/lib/.complete"
  log "broker jars in $KAFKA_HOME/lib"
}

write_config() {
  mkdir -p "$CONFIG_DIR" "$RUN_DIR"
  {
    plaintext_node_properties 1 "1@localhost:$CONTROLLER_PORT" "$KAFKA_PORT" "$CONTROLLER_PORT"
    storage_properties 1 1
  } >"$CONFIG_DIR/server.properties"
  write_log4j
}

start() {
  fetch
  write_config
  if pid=$(running_pid); then log "already running (pid $pid)"; return 0; fi
  if port_open "$KAFKA_PORT"; then log "port $KAFKA_PORT is taken by another process; using it as the broker"; return 0; fi
  if [ ! -f "$DATA_DIR/meta.properties" ]; then
    log "formatting KRaft log dir $DATA_DIR"
    # shellcheck disable=SC2046
    java $(java_opts) -cp "$CP" kafka.tools.StorageTool format --standalone -t "$(java -cp "$CP" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)" \
      -c "$CONFIG_DIR/server.properties" >&2 2>/dev/null \
      || java $(java_opts) -cp "$CP" kafka.tools.StorageTool format -t "$(java -cp "$CP" kafka.tools.StorageTool random-uuid | tail -n1)" -c "$CONFIG_DIR/server.properties" >&2
  fi
  launch_broker
  wait_broker_ready "$KAFKA_PORT" 120 broker
  log "broker ready on localhost:$KAFKA_PORT (pid $(cat "$PID_FILE"), log $LOG_FILE)"
}

# --- The 3-node cluster (see the header) ---

CLUSTER_NODES=(1 2 3)
# Below Linux's ephemeral range (32768-60999): a fixed port inside it can already be the local end
# of some outgoing connection (the nodes' own connections to each other's quorum ports, while
# they start), and the node then fails to bind.
CLUSTER_PORT_BASE="${KAFKA_CLUSTER_PORT_BASE:-23090}"
CLUSTER_CONTROLLER_PORT_BASE="${KAFKA_CLUSTER_CONTROLLER_PORT_BASE:-23190}"
CLUSTER_DIR="$KAFKA_HOME/cluster-$CLUSTER_PORT_BASE"

cluster_bootstrap() {
  local n list=""
  for n in "${CLUSTER_NODES[@]}"; do list="$list${list:+,}localhost:$((CLUSTER_PORT_BASE + n))"; done
  echo "$list"
}

# Points the broker helpers (running_pid, launch_broker, stop_broker, ...) at node $1.
select_node() {
  local n=$1
  case "$n" in 1|2|3) ;; *) log "node must be 1, 2 or 3, not '$n'"; exit 2 ;; esac
  NODE=$n
  KAFKA_PORT=$((CLUSTER_PORT_BASE + n))
  CONTROLLER_PORT=$((CLUSTER_CONTROLLER_PORT_BASE + n))
  RUN_DIR="$CLUSTER_DIR/node-$n"
  DATA_DIR="$RUN_DIR/data"
  PID_FILE="$RUN_DIR/broker.pid"
  LOG_FILE="$RUN_DIR/broker.log"
  CONFIG_DIR="$RUN_DIR/config"
  # Three JVMs share the machine with the tests: a smaller heap each than the single broker's.
  HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
}

write_node_config() {
  mkdir -p "$CONFIG_DIR" "$RUN_DIR"
  local voters="" n
  for n in "${CLUSTER_NODES[@]}"; do voters="$voters${voters:+,}$n@localhost:$((CLUSTER_CONTROLLER_PORT_BASE + n))"; done
  {
    plaintext_node_properties "$NODE" "$voters" "$KAFKA_PORT" "$CONTROLLER_PORT"
    storage_properties 3 2
    printf '%s\n' default.replication.factor=3 min.insync.replicas=2 unclean.leader.election.enable=false
  } >"$CONFIG_DIR/server.properties"
  write_log4j
}

# Starts node $NODE without waiting: a combined node finishes start-up only once a quorum of
# controllers is up, so cluster-start launches all three before waiting for any.
launch_node() {
  write_node_config
  if pid=$(running_pid); then log "node $NODE already running (pid $pid)"; return 0; fi
  if port_open "$KAFKA_PORT"; then log "port $KAFKA_PORT is taken by another process"; exit 1; fi
  if [ ! -f "$DATA_DIR/meta.properties" ]; then
    [ -f "$CLUSTER_DIR/cluster.id" ] || java -cp "$CP" kafka.tools.StorageTool random-uuid | tail -n1 >"$CLUSTER_DIR/cluster.id"
    log "formatting node $NODE's log dir $DATA_DIR"
    # shellcheck disable=SC2046
    java $(java_opts) -cp "$CP" kafka.tools.StorageTool format -t "$(cat "$CLUSTER_DIR/cluster.id")" \
      -c "$CONFIG_DIR/server.properties" >"$RUN_DIR/format.log" 2>&1 \
      || { log "formatting failed:"; tail -n 20 "$RUN_DIR/format.log" >&2; exit 1; }
  fi
  launch_broker
}

wait_node_ready() {
  wait_broker_ready "$KAFKA_PORT" 180 "node $NODE"
  log "node $NODE ready on localhost:$KAFKA_PORT (pid $(cat "$PID_FILE"), log $LOG_FILE)"
}

cluster_start() {
  fetch
  mkdir -p "$CLUSTER_DIR"
  local n
  for n in "${CLUSTER_NODES[@]}"; do select_node "$n"; launch_node; done
  for n in "${CLUSTER_NODES[@]}"; do select_node "$n"; wait_node_ready; done
  log "cluster ready on $(cluster_bootstrap)"
}

# All nodes at once: one stopped after the others would wait for a quorum that is gone.
cluster_stop() {
  local n pid
  for n in "${CLUSTER_NODES[@]}"; do select_node "$n"; if pid=$(running_pid); then kill -TERM "$pid"; fi; done
  for n in "${CLUSTER_NODES[@]}"; do select_node "$n"; stop_broker TERM; done
}

# Runs one of Kafka's command-line tools (kafka-tools jar) against the cluster, with a deadline:
# during a failover a tool may wait for metadata for a long time.
cluster_tool() {
  local class=$1; shift
  write_tool_log4j
  timeout 60 java -Xmx256m -Dlog4j2.configurationFile="$CLUSTER_DIR/tool-log4j2.properties" -cp "$CP" \
    "org.apache.kafka.tools.$class" --bootstrap-server "$(cluster_bootstrap)" "$@"
}

write_tool_log4j() {
  mkdir -p "$CLUSTER_DIR"
  cat >"$CLUSTER_DIR/tool-log4j2.properties" <<'LOG'
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %p %m%n
rootLogger.level = ERROR
rootLogger.appenderRef.stderr.ref = STDERR
LOG
}

# The quorum's leader, from DescribeQuorum (what kafka-metadata-quorum.sh prints as LeaderId).
cluster_controller() {
  cluster_tool MetadataQuorumCommand describe --status | awk -F':[[:space:]]*' '$1 == "LeaderId" { print $2; found = 1 } END { exit !found }'
}

# The coordinator of a transactional id, from DescribeTransactions (column CoordinatorId).
cluster_coordinator() {
  local txid=${1:?transactional id}
  cluster_tool TransactionsCommand describe --transactional-id "$txid" \
    | awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "CoordinatorId") c = i; next } c { print $c; found = 1; exit } END { exit !found }'
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop_broker TERM ;;
  kill) stop_broker KILL ;;
  status) port_open "$KAFKA_PORT" ;;
  reset) stop_broker TERM; rm -rf "$DATA_DIR" ;;
  cluster-start) cluster_start ;;
  cluster-stop) cluster_stop ;;
  cluster-reset) cluster_stop; rm -rf "$CLUSTER_DIR" ;;
  cluster-bootstrap) cluster_bootstrap ;;
  cluster-controller) cluster_controller ;;
  cluster-coordinator) cluster_coordinator "${2:-}" ;;
  node-start) fetch; select_node "${2:-}"; launch_node; wait_node_ready ;;
  node-stop) select_node "${2:-}"; stop_broker TERM ;;
  node-kill) select_node "${2:-}"; stop_broker KILL ;;
  node-pid) select_node "${2:-}"; running_pid ;;
  *) echo "usage: $0 {fetch|start|stop|kill|status|reset|cluster-start|cluster-stop|cluster-reset|cluster-bootstrap|cluster-controller|cluster-coordinator TXID|node-start N|node-stop N|node-kill N|node-pid N}" >&2; exit 2 ;;
esac
