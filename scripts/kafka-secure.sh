#!/usr/bin/env bash
# Runs a single-node KRaft broker whose only client listener is SASL_SSL (SCRAM-SHA-512), with
# ACLs enforced by StandardAuthorizer and nothing allowed without an ACL. For tests and for trying
# the tracker's ACL list (README "Security"); it uses the jars `scripts/kafka.sh fetch` downloads.
#
#   scripts/kafka-secure.sh start    make certificates and config (once), format (once), start
#   scripts/kafka-secure.sh stop     stop it (waits for exit)
#   scripts/kafka-secure.sh status   exit 0 if the broker answers on $KAFKA_SECURE_PORT
#   scripts/kafka-secure.sh reset    stop and delete data and certificates
#   scripts/kafka-secure.sh env      print what a client needs: bootstrap, CA file, admin login,
#                                    the admin's --command-config file for Kafka's Java tools
#
# Certificates are made with openssl on first start: a CA, and a server certificate for localhost
# (SAN DNS:localhost, IP:127.0.0.1) signed by it, both PEM (ssl.keystore.type=PEM). Clients trust
# $RUN_DIR/tls/ca.crt (librdkafka: ssl.ca.location).
#
# The super user `admin` (SCRAM credentials written at format time) sets up topics, users and
# ACLs. The controller listener is PLAINTEXT on localhost; its principal, ANONYMOUS, is a super
# user so that the node's broker side can talk to its controller side: do not copy that to a
# broker reachable from other hosts.
#
# KAFKA_SECURE_PORT / KAFKA_SECURE_CONTROLLER_PORT (default 29092 / 29093) select the instance;
# KAFKA_ADMIN_PASSWORD (default admin-secret) is the super user's password.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_HOME="${KAFKA_HOME:-$ROOT/target/kafka-$KAFKA_VERSION}"
export KAFKA_HOME KAFKA_VERSION
PORT="${KAFKA_SECURE_PORT:-29092}"
CONTROLLER_PORT="${KAFKA_SECURE_CONTROLLER_PORT:-29093}"
ADMIN_PASSWORD="${KAFKA_ADMIN_PASSWORD:-admin-secret}"
RUN_DIR="$KAFKA_HOME/run-secure-$PORT"
DATA_DIR="$RUN_DIR/data"
TLS_DIR="$RUN_DIR/tls"
CONFIG_DIR="$RUN_DIR/config"
PID_FILE="$RUN_DIR/broker.pid"
LOG_FILE="$RUN_DIR/broker.log"
CP="$KAFKA_HOME/lib/*"

log() { printf '[kafka-secure.sh] %s\n' "$*" >&2; }

make_certificates() {
  [ -f "$TLS_DIR/server.pem" ] && return 0
  command -v openssl >/dev/null || { log "openssl is required"; exit 1; }
  mkdir -p "$TLS_DIR"
  log "making a test CA and a server certificate for localhost in $TLS_DIR"
  (
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 \
      -subj "/CN=sms-tracker test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile server.ext -out server.crt 2>/dev/null
    # Kafka's PEM keystore: the PKCS#8 private key (unencrypted) and the certificate chain.
    cat server.key server.crt ca.crt >server.pem.tmp
    mv server.pem.tmp server.pem
  )
}

# The super user's client settings for Kafka's Java tools (kafka-acls.sh --command-config ...).
write_admin_properties() {
  cat >"$CONFIG_DIR/admin.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
PROPS
}

write_config() {
  mkdir -p "$CONFIG_DIR"
  cat >"$CONFIG_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:$CONTROLLER_PORT
listeners=SASL_SSL://localhost:$PORT,CONTROLLER://localhost:$CONTROLLER_PORT
advertised.listeners=SASL_SSL://localhost:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN_PASSWORD";
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
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
  echo "-Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j2.configurationFile=$CONFIG_DIR/log4j2.properties"
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid; pid=$(cat "$PID_FILE")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

start() {
  "$ROOT/scripts/kafka.sh" fetch
  make_certificates
  write_config
  write_admin_properties
  if pid=$(running_pid); then log "already running (pid $pid)"; return 0; fi
  if port_open; then log "port $PORT is taken by another process"; exit 1; fi
  if [ ! -f "$DATA_DIR/meta.properties" ]; then
    log "formatting KRaft log dir $DATA_DIR with the super user's SCRAM credentials"
    # shellcheck disable=SC2046
    java $(java_opts) -cp "$CP" kafka.tools.StorageTool format \
      -t "$(java -cp "$CP" kafka.tools.StorageTool random-uuid | tail -n1)" -c "$CONFIG_DIR/server.properties" \
      --add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]" >"$RUN_DIR/format.log" 2>&1 \
      || { tail -n 20 "$RUN_DIR/format.log" >&2; exit 1; }
  fi
  : >"$LOG_FILE"
  # shellcheck disable=SC2046
  nohup java $(java_opts) -cp "$CP" kafka.Kafka "$CONFIG_DIR/server.properties" >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + 120))
  until port_open && grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null; do
    if ! running_pid >/dev/null; then log "broker exited during start-up; last log lines:"; tail -n 40 "$LOG_FILE" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "broker not ready after 120 s; see $LOG_FILE"; exit 1; fi
    sleep 0.5
  done
  log "SASL_SSL broker ready on localhost:$PORT (pid $(cat "$PID_FILE"), log $LOG_FILE)"
}

stop() {
  if pid=$(running_pid); then
    kill -TERM "$pid"
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid"; fi
      sleep 0.2
    done
    log "broker stopped"
  fi
  rm -f "$PID_FILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) port_open ;;
  reset) stop; rm -rf "$DATA_DIR" "$TLS_DIR" ;;
  env)
    echo "KAFKA_BOOTSTRAP=localhost:$PORT"
    echo "KAFKA_CA_LOCATION=$TLS_DIR/ca.crt"
    echo "KAFKA_ADMIN_USERNAME=admin"
    echo "KAFKA_ADMIN_PASSWORD=$ADMIN_PASSWORD"
    echo "KAFKA_ADMIN_COMMAND_CONFIG=$CONFIG_DIR/admin.properties"
    ;;
  *) echo "usage: $0 {start|stop|status|reset|env}" >&2; exit 2 ;;
esac
