"""``python -m telemetra.operator crd|rbac|run``: print the CRD or the RBAC, or run the operator.

``run`` is ``kopf run --standalone`` on :mod:`telemetra.operator.handlers`, scoped by the settings
(``TELEMETRA_OPERATOR_WATCH_NAMESPACE``; command-line options win). Standalone: no kopf peering. With
``TELEMETRA_OPERATOR_LEADER_ELECTION`` several replicas may run: each stands by until it holds the operator's
Lease (:mod:`telemetra.operator.leader`), and only then starts kopf.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from importlib.resources import files
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telemetra.operator.settings import OperatorSettings


def rbac_text() -> str:
    return files("telemetra.operator").joinpath("rbac.yaml").read_text(encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    import kopf

    from telemetra.operator import handlers  # noqa: F401  (registers the handlers)
    from telemetra.operator.settings import get_settings

    settings = get_settings()
    namespaces = args.namespace or ([settings.watch_namespace] if settings.watch_namespace else [])
    clusterwide = args.all_namespaces or not namespaces
    liveness = settings.liveness_endpoint if args.liveness is None else args.liveness
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat[args.log_format.upper()])
    memo = kopf.Memo()
    if settings.leader_election:
        memo.leader_identity = asyncio.run(_lead(settings, liveness or ""))
    kopf.run(
        memo=memo,
        standalone=True,
        clusterwide=clusterwide,
        namespaces=[] if clusterwide else namespaces,
        liveness_endpoint=liveness or None,
    )
    return 0


async def _lead(settings: OperatorSettings, liveness: str) -> str:
    """Stand by until this replica holds the Lease; its identity (the handlers keep renewing the Lease)."""
    from telemetra.operator.kube import Kube
    from telemetra.operator.leader import Elector, stand_by

    kube = Kube.login(timeout=settings.api_timeout_seconds)
    elector = Elector(kube, settings.lease_scope, settings.lease_name, settings.lease_duration_seconds)
    try:
        await stand_by(elector, liveness, retry=min(2.0, settings.lease_duration_seconds / 5))
    finally:
        await kube.close()
    return elector.me


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telemetra.operator", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    crd = commands.add_parser("crd", help="print a CRD (YAML)")
    crd.add_argument(
        "kind", nargs="?", default="TelemetraStream", choices=["TelemetraStream", "TelemetraPool"]
    )
    commands.add_parser("rbac", help="print the operator's least-privilege RBAC (YAML)")
    runner = commands.add_parser("run", help="run the operator (kopf, standalone)")
    scope = runner.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    runner.add_argument("--liveness", help="liveness endpoint URL ('' disables; default from the settings)")
    runner.add_argument("--log-format", choices=["plain", "full", "json"], default="full")
    runner.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "crd":
        from telemetra.operator.crd import render

        sys.stdout.write(render(args.kind))
        return 0
    if args.command == "rbac":
        sys.stdout.write(rbac_text())
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
