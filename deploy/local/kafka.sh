#!/usr/bin/env bash
# Apache Kafka in KRaft mode (one combined broker+controller) on loopback, from the official
# jars on Maven Central. Usage: kafka.sh start|stop|status
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

POM="$REPO_ROOT/deploy/local/kafka/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
DATA="$STATE_DIR/kafka/data"
CONF="$STATE_DIR/kafka/server.properties"
PID="$STATE_DIR/kafka/kafka.pid"
LOG="$STATE_DIR/kafka/kafka.log"

fetch() {
  [[ -f "$LIBS/.complete" ]] && return
  command -v mvn >/dev/null || { say "Maven is needed to fetch Kafka (apt-get install maven)"; exit 1; }
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  rm -rf "$LIBS" && mkdir -p "$LIBS"
  mvn -q -B -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
  touch "$LIBS/.complete"
}

configure() {
  mkdir -p "$DATA"
  cat >"$CONF" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=12
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
  if [[ ! -f "$DATA/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid)"
    java -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" >&2
  fi
}

start() {
  if pid_alive "$PID"; then say "Kafka already running (pid $(cat "$PID"))"; return; fi
  if port_open "$KAFKA_PORT"; then
    say "port $KAFKA_PORT is taken by another process; set RAPPORT_KAFKA_PORT"; exit 1
  fi
  command -v java >/dev/null || { say "Java 17+ is needed (apt-get install openjdk-17-jre-headless)"; exit 1; }
  fetch
  configure
  say "starting Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT"
  nohup java -Xms256m -Xmx1g -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$REPO_ROOT/deploy/local/kafka/log4j2.yaml" \
    -cp "$LIBS/*" kafka.Kafka "$CONF" >"$LOG" 2>&1 &
  echo $! >"$PID"
  wait_for_port "$KAFKA_PORT" 90 Kafka || { tail -20 "$LOG" >&2; exit 1; }
}

stop() {
  if pid_alive "$PID"; then
    say "stopping Kafka"
    kill "$(cat "$PID")"
    for _ in $(seq 1 150); do pid_alive "$PID" || break; sleep 0.2; done
    pid_alive "$PID" && kill -9 "$(cat "$PID")"
  fi
  rm -f "$PID"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) pid_alive "$PID" && echo "kafka: running on 127.0.0.1:$KAFKA_PORT" || echo "kafka: stopped" ;;
  version) echo "$KAFKA_VERSION" ;;
  *) echo "usage: $0 start|stop|status|version" >&2; exit 2 ;;
esac
