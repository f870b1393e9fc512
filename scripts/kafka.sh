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
  echo "-Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j2.configurationFile=$CONFIG_DIR/log4j2.properties"
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

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop_with TERM ;;
  kill) stop_with KILL ;;
  status) port_open ;;
  reset) stop_with TERM; rm -rf "$DATA_DIR" ;;
  *) echo "usage: $0 {fetch|start|stop|kill|status|reset}" >&2; exit 2 ;;
esac
