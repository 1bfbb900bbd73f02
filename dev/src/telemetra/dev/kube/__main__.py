"""``python -m telemetra.dev.kube [--work-dir D]``: build the binaries if needed, run a local
Kubernetes control plane in the foreground, print how to reach it, and stop everything on Ctrl-C."""

from __future__ import annotations

import argparse
from pathlib import Path

from telemetra.dev.kube.binaries import ensure_binaries
from telemetra.dev.kube.cluster import KubeCluster
from telemetra.dev.localstack.process import ServerError, progress, serve_in_foreground, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m telemetra.dev.kube",
        description="Run a local Kubernetes API server (etcd, kube-apiserver, controller manager, scheduler, "
        "kwok with one fake node, upstream CRDs) in the foreground until Ctrl-C.",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="certificates, kubeconfig, etcd data, logs (default: temporary)",
    )
    parser.add_argument("--no-crds", action="store_true", help="do not install the upstream CRDs")
    args = parser.parse_args(argv)
    try:
        bin_dir = ensure_binaries()
    except ServerError as error:
        progress(str(error))
        return 1
    cluster = KubeCluster(args.work_dir, bin_dir=bin_dir, crds=() if args.no_crds else None)

    def announce() -> None:
        print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
        print(f"# server: {cluster.server}", flush=True)
        print(f"# kubectl: {bin_dir / 'kubectl'}", flush=True)
        progress(f"pids {cluster.pids}; logs in {cluster.log_dir}; Ctrl-C stops everything")

    def exited() -> str:
        return "\n".join(
            f"{name} exited on its own (code {code}); {log}:\n{tail(log)}"
            for name, code in cluster.exited().items()
            for log in [cluster.log_dir / f"{name}.log"]
        )

    return serve_in_foreground(cluster, announce, exited, keep=args.work_dir is not None)


if __name__ == "__main__":
    raise SystemExit(main())
