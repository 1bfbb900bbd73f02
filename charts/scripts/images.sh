#!/usr/bin/env bash
# make kind-images: build the four telemetra images with Docker (tag $TELEMETRA_TAG, default dev) and load
# them into the kind cluster.
# KIND_LOAD=0 builds only (e.g. to push them to a registry: set TELEMETRA_REGISTRY=registry.example.com/x).
source "$(dirname "$0")/lib.sh"
need docker
REGISTRY="${TELEMETRA_REGISTRY:-}"
for entry in "${IMAGES[@]}"; do
  name="${entry%%:*}"; dockerfile="${entry#*:}"
  ref="${REGISTRY:+$REGISTRY/}$name:$TAG"
  say "building $ref from $dockerfile"
  docker build --file "$ROOT/$dockerfile" --tag "$ref" "$ROOT"
  if [ "${KIND_LOAD:-1}" = 1 ]; then
    need "$KIND"
    "$KIND" load docker-image "$ref" --name "$CLUSTER"
  fi
done
