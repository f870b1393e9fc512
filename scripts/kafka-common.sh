# shellcheck shell=bash
# Sourced by scripts/kafka.sh and scripts/kafka-secure.sh: what every broker they start has in
# common. The caller sets CP (the jars' class path), RUN_DIR, DATA_DIR, CONFIG_DIR, PID_FILE,
# LOG_FILE and HEAP_OPTS for the broker at hand, and defines log().

# The KRaft settings of a combined broker+controller node with PLAINTEXT listeners: node id $1,
# controller quorum voters $2, client port $3, controller port $4.
plaintext_node_properties() {
  cat <<PROPS
process.roles=broker,controller
node.id=$1
controller.quorum.voters=$2
listeners=PLAINTEXT://localhost:$3,CONTROLLER://localhost:$4
advertised.listeners=PLAINTEXT://localhost:$3
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PROPS
}

# Storage and internal topics: replication factor $1 and min ISR $2 for the offsets, transaction
# state and share-coordinator topics. Topics are never auto-created: the tracker and the tests
# create theirs with the partition counts they need.
storage_properties() {
  cat <<PROPS
log.dirs=$DATA_DIR
num.partitions=1
offsets.topic.replication.factor=$1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$1
transaction.state.log.min.isr=$2
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=$1
share.coordinator.state.topic.min.isr=$2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
PROPS
}

# Broker logs at INFO, except the per-segment chatter of the log layer.
write_log4j() {
  mkdir -p "$CONFIG_DIR"
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
  echo "$HEAP_OPTS -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j2.configurationFile=$CONFIG_DIR/log4j2.properties"
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid; pid=$(cat "$PID_FILE")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Exit 0 if something accepts connections on localhost port $1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts the broker in the background; does not wait for it.
launch_broker() {
  : >"$LOG_FILE"
  # shellcheck disable=SC2046
  nohup java $(java_opts) -cp "$CP" kafka.Kafka "$CONFIG_DIR/server.properties" >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
}

# Waits up to $2 seconds until the broker on port $1 serves. The port alone is not enough: the
# broker must have finished start-up and joined the quorum. $3 names it in messages.
wait_broker_ready() {
  local port=$1 limit=$2 what=$3
  local deadline=$((SECONDS + limit))
  until port_open "$port" && grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null; do
    if ! running_pid >/dev/null; then log "$what exited during start-up; last log lines:"; tail -n 40 "$LOG_FILE" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "$what not ready after $limit s; see $LOG_FILE"; exit 1; fi
    sleep 0.5
  done
}

# Sends signal $1 to the broker and waits for it to exit (SIGKILL after 60 s).
stop_broker() {
  local signal=$1 pid
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
