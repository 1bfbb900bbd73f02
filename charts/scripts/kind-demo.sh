#!/usr/bin/env bash
# make kind-demo: apply the example streams, wait until the operator reports them Ready, print the URLs.
source "$(dirname "$0")/lib.sh"
need "$KUBECTL"
say "example streams -> namespace $NAMESPACE"
"$KUBECTL" --namespace "$NAMESPACE" apply -f "$CHART/examples/streams/"
for stream in $("$KUBECTL" --namespace "$NAMESPACE" get telemetrastreams -o name); do
  say "waiting for $stream"
  "$KUBECTL" --namespace "$NAMESPACE" wait "$stream" --for=condition=Ready --timeout=15m
done
"$KUBECTL" --namespace "$NAMESPACE" get telemetrastreams
cat <<MSG

  Telemetra on kind
  dashboard  http://localhost:8080/
  API docs   http://localhost:8080/docs
  streams    http://localhost:8080/api/v1/streams
  Grafana    kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80  (WITH_MONITORING=1)

MSG
