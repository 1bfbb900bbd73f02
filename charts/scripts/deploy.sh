#!/usr/bin/env bash
# make deploy: install the pinned operators (Strimzi, Spark operator; CloudNativePG with WITH_CNPG=1,
# kube-prometheus-stack with WITH_MONITORING=1, Traefik on kind), then the telemetra chart.
#   VALUES=<file>   values for the telemetra chart (default: examples/values-kind.yaml on a kind context,
#                   nothing otherwise); extra arguments go to `helm upgrade --install telemetra`.
source "$(dirname "$0")/lib.sh"
need "$HELM" "$KUBECTL"
context="$("$KUBECTL" config current-context)"
on_kind=0; [[ "$context" == kind-* ]] && on_kind=1
values=()
if [ -n "${VALUES:-}" ]; then values=(--values "$VALUES")
elif [ "$on_kind" = 1 ]; then values=(--values "$CHART/examples/values-kind.yaml"); fi

say "namespace $NAMESPACE (context $context)"
"$KUBECTL" create namespace "$NAMESPACE" --dry-run=client -o yaml | "$KUBECTL" apply -f -

# Operators first, each in its own release and namespace, waited for: their CRDs and webhooks must serve
# before the telemetra chart creates Kafka/KafkaNodePool (and Cluster, ServiceMonitor) resources.
install_operator strimzi --set "watchNamespaces={$NAMESPACE}"
install_operator spark-operator --set "spark.jobNamespaces={$NAMESPACE}"
if [ "${WITH_CNPG:-0}" = 1 ]; then install_operator cloudnative-pg; fi
monitoring=()
if [ "${WITH_MONITORING:-0}" = 1 ]; then
  install_operator kube-prometheus-stack
  monitoring=(--set monitoring.serviceMonitors.enabled=true)
fi
if [ "$on_kind" = 1 ]; then install_operator traefik; fi

say "telemetra chart -> namespace $NAMESPACE"
"$HELM" upgrade --install "$RELEASE" "$CHART" --namespace "$NAMESPACE" \
  "${values[@]}" "${monitoring[@]}" --wait --timeout 15m "$@"
"$HELM" --namespace "$NAMESPACE" get notes "$RELEASE"
