#!/bin/bash
# telemetra-kafka-start: the entry point of the telemetra-kafka image, Apache Kafka in KRaft mode with every node
# a combined broker and controller. It listens on PLAINTEXT :9092 and CONTROLLER :9093, formats its log
# directories on first start (idempotent), then runs the broker in the foreground. Settings:
#   KAFKA_NODE_ID                   this node's id (default 0)
#   KAFKA_CONTROLLER_QUORUM_VOTERS  the controllers, ID@HOST:9093,... (default: this node alone on 127.0.0.1)
#   KAFKA_ADVERTISED_LISTENERS      the address clients are given (default PLAINTEXT://$HOSTNAME:9092)
#   KAFKA_CLUSTER_ID                the cluster id, the same on every node (22 characters of base64url); when
#                                   unset, formatting picks a random one (fine for a single node only)
#   KAFKA_LOG_DIRS                  data directories, comma-separated (default /var/lib/kafka/data)
#   KAFKA_CFG_<NAME>=VALUE          any other server property, NAME with dots as underscores:
#                                   KAFKA_CFG_LOG_RETENTION_HOURS=24 sets log.retention.hours=24 (these win)
#   KAFKA_HEAP_OPTS, KAFKA_OPTS     JVM heap (default -Xms512m -Xmx512m) and further JVM options
# The internal topics' replication defaults to the number of voters, at most 3. It writes only to the log
# directories and $TMPDIR (default /tmp), so the root filesystem may be read-only.
set -euo pipefail

home="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
node_id="${KAFKA_NODE_ID:-0}"
voters="${KAFKA_CONTROLLER_QUORUM_VOTERS:-$node_id@127.0.0.1:9093}"
log_dirs="${KAFKA_LOG_DIRS:-/var/lib/kafka/data}"
work="${TMPDIR:-/tmp}/kafka"
config="$work/server.properties"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
classpath=(-Dlog4j2.configurationFile="$home/config/log4j2.properties" -cp "$home/libs/*")

# KAFKA_CFG_LOG_RETENTION_HOURS -> log.retention.hours
extra_properties() {
  local variable name
  for variable in $(compgen -e); do
    [[ "$variable" == KAFKA_CFG_* ]] || continue
    name="${variable#KAFKA_CFG_}"
    name="${name,,}"
    echo "${name//_/.}=${!variable}"
  done
}

write_config() {
  local count replicas min_isr
  count="$(tr ',' '\n' <<<"$voters" | grep -c .)"
  replicas=$((count < 3 ? count : 3))
  min_isr=$((replicas < 2 ? replicas : 2))
  mkdir -p "$work"
  {
    echo "process.roles=broker,controller"
    echo "node.id=$node_id"
    echo "controller.quorum.voters=$voters"
    echo "listeners=PLAINTEXT://:9092,CONTROLLER://:9093"
    echo "advertised.listeners=${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://$HOSTNAME:9092}"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    echo "log.dirs=$log_dirs"
    echo "offsets.topic.replication.factor=$replicas"
    echo "transaction.state.log.replication.factor=$replicas"
    echo "transaction.state.log.min.isr=$min_isr"
    echo "share.coordinator.state.topic.replication.factor=$replicas"
    echo "share.coordinator.state.topic.min.isr=$min_isr"
    extra_properties  # later lines win
  } >"$config"
}

# A base64url UUID without padding, as `kafka-storage random-uuid` prints it.
random_cluster_id() {
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='
}

format_log_dirs() {
  # argparse4j breaks on some COLUMNS values (KAFKA-15413)
  env -u COLUMNS "$java" -Xmx256m "${classpath[@]}" kafka.tools.StorageTool format \
    --cluster-id "${KAFKA_CLUSTER_ID:-$(random_cluster_id)}" --config "$config" --ignore-formatted
}

write_config
format_log_dirs
read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m}"
read -r -a options <<<"${KAFKA_OPTS:-}"
exec "$java" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true "${options[@]}" "${classpath[@]}" \
  kafka.Kafka "$config"
