#!/bin/bash
# Entry point of the telemetra-spark image (/opt/entrypoint.sh). Spark's Kubernetes backend starts its pods with
# one of two arguments:
#   driver ARGS...  the driver pod: spark-submit ARGS in client mode, bound to the pod's address
#   executor        an executor pod: the executor backend, configured by the SPARK_* environment the driver
#                   sets (SPARK_DRIVER_URL, SPARK_EXECUTOR_ID, SPARK_EXECUTOR_CORES, SPARK_EXECUTOR_MEMORY,
#                   SPARK_APPLICATION_ID, SPARK_EXECUTOR_POD_IP, SPARK_EXECUTOR_POD_NAME,
#                   SPARK_RESOURCE_PROFILE_ID, and the JVM options in SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ...)
# Anything else is run as given (e.g. `spark-submit --version`). tini becomes PID 1: it forwards signals to
# the JVM and reaps the Python workers.
set -euo pipefail

usage() {
  echo "usage: $0 driver SPARK-SUBMIT-ARGS... | executor | COMMAND [ARGS...]" >&2
  exit 2
}

# The JVM and Hadoop look the user up; an arbitrary uid without a passwd entry (OpenShift) gets one through
# nss_wrapper, in files under /tmp (the root filesystem may be read-only).
ensure_passwd_entry() {
  local uid gid library
  uid="$(id -u)"
  gid="$(id -g)"
  getent passwd "$uid" >/dev/null && return 0
  for library in /usr/lib/*/libnss_wrapper.so; do
    [ -s "$library" ] || continue
    NSS_WRAPPER_PASSWD="$(mktemp)"
    NSS_WRAPPER_GROUP="$(mktemp)"
    echo "spark:x:$uid:$gid:${SPARK_USER_NAME:-spark}:$SPARK_HOME:/usr/sbin/nologin" >"$NSS_WRAPPER_PASSWD"
    echo "spark:x:$gid:" >"$NSS_WRAPPER_GROUP"
    export LD_PRELOAD="$library" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
    return 0
  done
}

# Configuration first (the driver's spark.properties is mounted at SPARK_CONF_DIR), then Spark's jars (the
# Kafka connector is among them), extra entries, and the working directory (SPARK-43540).
executor_classpath() {
  local entries="${SPARK_CONF_DIR:-$SPARK_HOME/conf}:$SPARK_HOME/jars/*"
  if [ -n "${HADOOP_CONF_DIR:-}" ]; then entries="$HADOOP_CONF_DIR:$entries"; fi
  if [ -n "${SPARK_EXTRA_CLASSPATH:-}" ]; then entries="$entries:$SPARK_EXTRA_CLASSPATH"; fi
  if [ -n "${SPARK_DIST_CLASSPATH:-}" ]; then entries="$entries:$SPARK_DIST_CLASSPATH"; fi
  echo "$entries:$PWD"
}

driver_command() {
  local address="${SPARK_DRIVER_BIND_ADDRESS:?the driver pod sets SPARK_DRIVER_BIND_ADDRESS}"
  command=("$SPARK_HOME/bin/spark-submit" --deploy-mode client
    --conf "spark.driver.bindAddress=$address"
    --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=$address" "$@")
}

executor_command() {
  local index=0 name java_options=()
  while name="SPARK_JAVA_OPT_$index" && [ -n "${!name+set}" ]; do
    java_options+=("${!name}")
    index=$((index + 1))
  done
  command=("${JAVA_HOME:+$JAVA_HOME/bin/}java" "${java_options[@]}"
    "-Xms${SPARK_EXECUTOR_MEMORY:?}" "-Xmx$SPARK_EXECUTOR_MEMORY"
    -cp "$(executor_classpath)" org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend
    --driver-url "${SPARK_DRIVER_URL:?}" --executor-id "${SPARK_EXECUTOR_ID:?}"
    --cores "${SPARK_EXECUTOR_CORES:?}" --app-id "${SPARK_APPLICATION_ID:?}"
    --hostname "${SPARK_EXECUTOR_POD_IP:?}" --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}"
    --podName "${SPARK_EXECUTOR_POD_NAME:?}")
}

[ $# -gt 0 ] || usage
ensure_passwd_entry
command=()
case "$1" in
  driver) shift; driver_command "$@" ;;
  executor) executor_command ;;
  *) command=("$@") ;;
esac
exec tini -s -- "${command[@]}"
