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
# Node N listens for clients on localhost:$((KAFKA_CLUSTER_PORT_BASE + N)) (default 39091-39093)
# and for the quorum on localhost:$((KAFKA_CLUSTER_CONTROLLER_PORT_BASE + N)) (39191-39193).
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

log() { printf '[kafka.sh] %s\n' "$*" >&2; }

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
  cat >"$CONFIG_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:$CONTROLLER_PORT
listeners=PLAINTEXT://localhost:$KAFKA_PORT,CONTROLLER://localhost:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://localhost:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
PROPS
  cat >"$CONFIG_DIR/log4j2.properties" <<'LOG'
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.log.name = kafka.log
logger.log.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
LOG
}

java_opts() {
  echo "${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j2.configurationFile=$CONFIG_DIR/log4j2.properties"
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid; pid=$(cat "$PID_FILE")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; }

broker_ready() {
  # The port alone is not enough: the broker must have finished start-up and joined the quorum.
  port_open && grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null
}

start() {
  fetch
  write_config
  if pid=$(running_pid); then log "already running (pid $pid)"; return 0; fi
  if port_open; then log "port $KAFKA_PORT is taken by another process; using it as the broker"; return 0; fi
  if [ ! -f "$DATA_DIR/meta.properties" ]; then
    log "formatting KRaft log dir $DATA_DIR"
    # shellcheck disable=SC2046
    java $(java_opts) -cp "$CP" kafka.tools.StorageTool format --standalone -t "$(java -cp "$CP" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)" \
      -c "$CONFIG_DIR/server.properties" >&2 2>/dev/null \
      || java $(java_opts) -cp "$CP" kafka.tools.StorageTool format -t "$(java -cp "$CP" kafka.tools.StorageTool random-uuid | tail -n1)" -c "$CONFIG_DIR/server.properties" >&2
  fi
  : >"$LOG_FILE"
  # shellcheck disable=SC2046
  nohup java $(java_opts) -cp "$CP" kafka.Kafka "$CONFIG_DIR/server.properties" >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + 120))
  until broker_ready; do
    if ! running_pid >/dev/null; then log "broker exited during start-up; last log lines:"; tail -n 40 "$LOG_FILE" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "broker not ready after 120 s; see $LOG_FILE"; exit 1; fi
    sleep 0.5
  done
  log "broker ready on localhost:$KAFKA_PORT (pid $(cat "$PID_FILE"), log $LOG_FILE)"
}

stop_with() {
  local signal=$1
  if pid=$(running_pid); then
    kill "-$signal" "$pid"
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid"; fi
      sleep 0.2
    done
    log "broker stopped ($signal)"
  fi
  rm -f "$PID_FILE"
}

# --- The 3-node cluster (see the header) ---

CLUSTER_NODES=(1 2 3)
CLUSTER_PORT_BASE="${KAFKA_CLUSTER_PORT_BASE:-39090}"
CLUSTER_CONTROLLER_PORT_BASE="${KAFKA_CLUSTER_CONTROLLER_PORT_BASE:-39190}"
CLUSTER_DIR="$KAFKA_HOME/cluster-$CLUSTER_PORT_BASE"

cluster_bootstrap() {
  local n list=""
  for n in "${CLUSTER_NODES[@]}"; do list="$list${list:+,}localhost:$((CLUSTER_PORT_BASE + n))"; done
  echo "$list"
}

# Points the single-broker helpers (running_pid, port_open, stop_with, ...) at node $1.
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
  KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
}

write_node_config() {
  write_config
  local voters="" n
  for n in "${CLUSTER_NODES[@]}"; do voters="$voters${voters:+,}$n@localhost:$((CLUSTER_CONTROLLER_PORT_BASE + n))"; done
  cat >"$CONFIG_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=$NODE
controller.quorum.voters=$voters
listeners=PLAINTEXT://localhost:$KAFKA_PORT,CONTROLLER://localhost:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://localhost:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
unclean.leader.election.enable=false
log.retention.hours=24
PROPS
}

# Starts node $NODE without waiting: a combined node finishes start-up only once a quorum of
# controllers is up, so cluster-start launches all three before waiting for any.
launch_node() {
  write_node_config
  if pid=$(running_pid); then log "node $NODE already running (pid $pid)"; return 0; fi
  if port_open; then log "port $KAFKA_PORT is taken by another process"; exit 1; fi
  if [ ! -f "$DATA_DIR/meta.properties" ]; then
    [ -f "$CLUSTER_DIR/cluster.id" ] || java -cp "$CP" kafka.tools.StorageTool random-uuid | tail -n1 >"$CLUSTER_DIR/cluster.id"
    log "formatting node $NODE's log dir $DATA_DIR"
    # shellcheck disable=SC2046
    java $(java_opts) -cp "$CP" kafka.tools.StorageTool format -t "$(cat "$CLUSTER_DIR/cluster.id")" \
      -c "$CONFIG_DIR/server.properties" >"$RUN_DIR/format.log" 2>&1 \
      || { log "formatting failed:"; tail -n 20 "$RUN_DIR/format.log" >&2; exit 1; }
  fi
  : >"$LOG_FILE"
  # shellcheck disable=SC2046
  nohup java $(java_opts) -cp "$CP" kafka.Kafka "$CONFIG_DIR/server.properties" >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
}

wait_node_ready() {
  local deadline=$((SECONDS + 180))
  until broker_ready; do
    if ! running_pid >/dev/null; then log "node $NODE exited during start-up; last log lines:"; tail -n 40 "$LOG_FILE" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "node $NODE not ready after 180 s; see $LOG_FILE"; exit 1; fi
    sleep 0.5
  done
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
  for n in "${CLUSTER_NODES[@]}"; do select_node "$n"; stop_with TERM; done
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
  stop) stop_with TERM ;;
  kill) stop_with KILL ;;
  status) port_open ;;
  reset) stop_with TERM; rm -rf "$DATA_DIR" ;;
  cluster-start) cluster_start ;;
  cluster-stop) cluster_stop ;;
  cluster-reset) cluster_stop; rm -rf "$CLUSTER_DIR" ;;
  cluster-bootstrap) cluster_bootstrap ;;
  cluster-controller) cluster_controller ;;
  cluster-coordinator) cluster_coordinator "${2:-}" ;;
  node-start) fetch; select_node "${2:-}"; launch_node; wait_node_ready ;;
  node-stop) select_node "${2:-}"; stop_with TERM ;;
  node-kill) select_node "${2:-}"; stop_with KILL ;;
  node-pid) select_node "${2:-}"; running_pid ;;
  *) echo "usage: $0 {fetch|start|stop|kill|status|reset|cluster-start|cluster-stop|cluster-reset|cluster-bootstrap|cluster-controller|cluster-coordinator TXID|node-start N|node-stop N|node-kill N|node-pid N}" >&2; exit 2 ;;
esac
