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
HEAP_OPTS="-Xms256m -Xmx768m"

log() { printf '[kafka-secure.sh] %s\n' "$*" >&2; }

# shellcheck source=scripts/kafka-common.sh
. "$ROOT/scripts/kafka-common.sh"

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
  {
    cat <<PROPS
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
PROPS
    storage_properties 1 1
  } >"$CONFIG_DIR/server.properties"
  write_log4j
}

start() {
  "$ROOT/scripts/kafka.sh" fetch
  make_certificates
  write_config
  write_admin_properties
  if pid=$(running_pid); then log "already running (pid $pid)"; return 0; fi
  if port_open "$PORT"; then log "port $PORT is taken by another process"; exit 1; fi
  if [ ! -f "$DATA_DIR/meta.properties" ]; then
    log "formatting KRaft log dir $DATA_DIR with the super user's SCRAM credentials"
    # shellcheck disable=SC2046
    java $(java_opts) -cp "$CP" kafka.tools.StorageTool format \
      -t "$(java -cp "$CP" kafka.tools.StorageTool random-uuid | tail -n1)" -c "$CONFIG_DIR/server.properties" \
      --add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]" >"$RUN_DIR/format.log" 2>&1 \
      || { tail -n 20 "$RUN_DIR/format.log" >&2; exit 1; }
  fi
  launch_broker
  wait_broker_ready "$PORT" 120 broker
  log "SASL_SSL broker ready on localhost:$PORT (pid $(cat "$PID_FILE"), log $LOG_FILE)"
}

case "${1:-}" in
  start) start ;;
  stop) stop_broker TERM ;;
  status) port_open "$PORT" ;;
  reset) stop_broker TERM; rm -rf "$DATA_DIR" "$TLS_DIR" ;;
  env)
    echo "KAFKA_BOOTSTRAP=localhost:$PORT"
    echo "KAFKA_CA_LOCATION=$TLS_DIR/ca.crt"
    echo "KAFKA_ADMIN_USERNAME=admin"
    echo "KAFKA_ADMIN_PASSWORD=$ADMIN_PASSWORD"
    echo "KAFKA_ADMIN_COMMAND_CONFIG=$CONFIG_DIR/admin.properties"
    ;;
  *) echo "usage: $0 {start|stop|status|reset|env}" >&2; exit 2 ;;
esac
