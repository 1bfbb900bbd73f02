# Shared by the charts/scripts/*.sh entry points (sourced, not run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHART="$ROOT/charts/telemetra"
OPERATORS="$ROOT/charts/operators"
CLUSTER="${KIND_CLUSTER:-telemetra}"
NAMESPACE="${TELEMETRA_NAMESPACE:-telemetra}"
RELEASE="${TELEMETRA_RELEASE:-telemetra}"
TAG="${TELEMETRA_TAG:-dev}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
HELM="${HELM:-helm}"
KUBECTL="${KUBECTL:-kubectl}"
KIND="${KIND:-kind}"
# The images `make kind-images` builds with Docker: name -> Dockerfile (all built from the repository root).
# `make images` builds these and the local-cluster images with podman (telemetra.dev.kube.images).
IMAGES=(
  "telemetra-api:services/Dockerfile"
  "telemetra-operator:operator/Dockerfile"
  "telemetra-producer:pipeline/Dockerfile.producer"
  "telemetra-spark:pipeline/Dockerfile.spark"
)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is not on PATH" >&2; exit 1; }
  done
}

# pin OPERATOR FIELD: a field of charts/operators/operators.yaml (the single list of pinned versions).
pin() {
  "$PYTHON" - "$OPERATORS/operators.yaml" "$1" "$2" <<'PY'
import sys, yaml
entry = yaml.safe_load(open(sys.argv[1]))["operators"][sys.argv[2]]
print(entry.get(sys.argv[3], ""))
PY
}

# install_operator NAME [extra helm args...]: helm upgrade --install of one pinned third-party operator.
install_operator() {
  local name="$1"; shift
  local chart repository version release namespace values
  chart="$(pin "$name" chart)"; repository="$(pin "$name" repository)"; version="$(pin "$name" version)"
  release="$(pin "$name" release)"; namespace="$(pin "$name" namespace)"; values="$(pin "$name" values)"
  say "$name $version -> namespace $namespace"
  local source=(--version "$version")
  if [ -n "$repository" ]; then source+=(--repo "$repository"); fi
  "$HELM" upgrade --install "$release" "$chart" "${source[@]}" \
    --namespace "$namespace" --create-namespace \
    --values "$OPERATORS/$values" --wait --timeout 10m "$@"
}
