#!/usr/bin/env bash
# make kind-up: create the kind cluster (charts/kind/cluster.yaml) unless it exists, and select its context.
source "$(dirname "$0")/lib.sh"
need "$KIND" "$KUBECTL"
if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "kind cluster $CLUSTER exists"
else
  say "creating kind cluster $CLUSTER"
  "$KIND" create cluster --name "$CLUSTER" --config "$ROOT/charts/kind/cluster.yaml" --wait 120s
fi
"$KUBECTL" config use-context "kind-$CLUSTER" >/dev/null
"$KUBECTL" get nodes
