"""Install the platform on the local node (``make cluster-deploy``, and the e2e journey): the Spark operator from
its vendored chart, then the telemetra chart with ``examples/values-node.yaml`` and the content tags of the
images ``make images`` built, the way ``charts/scripts/deploy.sh`` installs them on any cluster.

    python -m telemetra.dev.kube.deploy [--kubeconfig PATH] [--namespace telemetra]
"""

from __future__ import annotations

import argparse
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

from telemetra.dev.kube.binaries import ensure_binaries, ensure_helm
from telemetra.dev.kube.images import built_images
from telemetra.dev.localstack.process import ServerError, cache_root, progress

REPOSITORY = Path(__file__).resolve().parents[5]
CHART = REPOSITORY / "charts" / "telemetra"
NODE_VALUES = CHART / "examples" / "values-node.yaml"
OPERATORS = REPOSITORY / "charts" / "operators"
SPARK_OPERATOR_ARCHIVE = OPERATORS / "vendor" / "spark-operator-v2.5.2.tar.gz"
# chart value -> image; a `.image` value takes the whole reference, an `.imageTag` only the tag
IMAGE_VALUES = {
    "api.imageTag": "telemetra-api",
    "operator.imageTag": "telemetra-operator",
    "producer.imageTag": "telemetra-producer",
    "spark.imageTag": "telemetra-spark",
    "kafka.image": "telemetra-kafka",
    "postgresql.image": "telemetra-postgresql",
    "redis.image": "telemetra-redis",
}


def image_settings(images: Mapping[str, str]) -> list[str]:
    """``--set`` arguments naming the built images (``localhost/<name>:<content tag>``)."""
    settings = []
    for key, name in IMAGE_VALUES.items():
        value = images[name] if key.endswith(".image") else images[name].rsplit(":", 1)[1]
        settings += ["--set", f"{key}={value}"]
    return settings


def spark_operator_chart(directory: Path) -> Path:
    """The Spark operator's chart at the pinned version, extracted from the vendored source archive."""
    with tarfile.open(SPARK_OPERATOR_ARCHIVE) as tar:
        members = [m for m in tar.getmembers() if "/charts/spark-operator-chart/" in m.name]
        tar.extractall(directory, members=members, filter="data")
    return next(directory.glob("*/charts/spark-operator-chart"))


def deploy(kubeconfig: Path, namespace: str = "telemetra", images: Mapping[str, str] | None = None) -> None:
    """The Spark operator (watching ``namespace``), then the telemetra release ``telemetra`` in it; each
    waited for."""
    images = dict(images or built_images())
    kubectl = [str(ensure_binaries() / "kubectl"), "--kubeconfig", str(kubeconfig)]
    helm = [str(ensure_helm()), "--kubeconfig", str(kubeconfig)]
    _run([*kubectl, "create", "namespace", namespace], "namespace", ok_if="AlreadyExists")
    operator_repository, operator_tag = images["telemetra-spark-operator"].rsplit(":", 1)
    registry, repository = operator_repository.split("/", 1)
    with tempfile.TemporaryDirectory() as scratch:
        _run(
            [*helm, "upgrade", "--install", "spark-operator", str(spark_operator_chart(Path(scratch))),
             "--namespace", "spark-operator", "--create-namespace",
             "--values", str(OPERATORS / "spark-operator.yaml"), "--set", f"spark.jobNamespaces={{{namespace}}}",
             "--set", f"image.registry={registry}", "--set", f"image.repository={repository}",
             "--set", f"image.tag={operator_tag}", "--set", "image.pullPolicy=Never", "--wait", "--timeout", "5m"],
            "the Spark operator",
        )  # fmt: skip
    _run(
        [*helm, "upgrade", "--install", "telemetra", str(CHART), "--namespace", namespace,
         "--values", str(NODE_VALUES), *image_settings(images), "--wait", "--timeout", "8m"],
        "the telemetra chart",
    )  # fmt: skip


def _run(argv: list[str], what: str, ok_if: str = "") -> None:
    progress(f"installing {what}")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0 and not (ok_if and ok_if in result.stderr):
        raise ServerError(f"installing {what} failed: {result.stderr.strip()[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make cluster-deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--kubeconfig", type=Path, default=cache_root() / "cluster" / "control-plane" / "kubeconfig"
    )
    parser.add_argument("--namespace", default="telemetra")
    args = parser.parse_args(argv)
    try:
        deploy(args.kubeconfig, args.namespace)
    except ServerError as error:
        progress(str(error))
        return 1
    progress(f"installed; try: kubectl -n {args.namespace} apply -f operator/examples/minimal.yaml")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
