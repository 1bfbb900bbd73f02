"""Build the Kubernetes control-plane binaries, etcd, kwok and helm from the Go module proxy, once per version.

Nothing is downloaded from release pages: each binary is compiled from its Go module (``go build`` in the
small wrapper modules under ``go/``, whose committed go.mod/go.sum pin every dependency, or ``go install
pkg@version`` where upstream's go.mod has no ``replace``). Results are cached per version under
``${XDG_CACHE_HOME:-~/.cache}/telemetra/``:

* ``kube-v1.35.4/``: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy, etcd,
  kwok
* ``helm-v3.22.0/``: helm
* ``node-v1.35.4/``: coredns and pause, which only the real node (``make cluster``) needs

A marker file per build step records a fingerprint (versions, flags, go.mod/go.sum), so a changed pin rebuilds
that step. An ``fcntl`` lock makes concurrent callers (parallel test sessions, ``make kube``) wait for one
build instead of running two. The cold build takes 10-25 minutes on 2 cores; later calls return at once.

``TELEMETRA_KUBE_BIN`` / ``TELEMETRA_HELM`` point at prebuilt binaries instead (a directory with the six files,
and the helm executable), e.g. on a machine without Go.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from telemetra.dev.localstack.process import ServerError, cache_root, progress, run_with_heartbeat, tail

KUBE_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.7.0"
HELM_VERSION = "v3.22.0"
COREDNS_VERSION = "v1.13.1"

KUBE_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "kube-proxy",
)
BINARIES = (*KUBE_COMMANDS, "etcd", "kwok")

GO_MODULES = Path(__file__).parent / "go"


def kube_bin_dir() -> Path:
    return cache_root() / f"kube-{KUBE_VERSION}"


def helm_bin_dir() -> Path:
    return cache_root() / f"helm-{HELM_VERSION}"


def ensure_binaries() -> Path:
    """The directory holding kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and kwok,
    building whatever is missing first."""
    override = os.environ.get("TELEMETRA_KUBE_BIN")
    if override:
        directory = Path(override)
        missing = [name for name in BINARIES if not os.access(directory / name, os.X_OK)]
        if missing:
            raise ServerError(f"TELEMETRA_KUBE_BIN={override} lacks {', '.join(missing)}")
        return directory
    out = kube_bin_dir()
    for step in (_kube_step(), _etcd_step(), _kwok_step()):
        _ensure(out, step)
    return out


def node_bin_dir() -> Path:
    return cache_root() / f"node-{KUBE_VERSION}"


def ensure_node_binaries() -> Path:
    """The directory holding coredns and pause (the pod sandbox process), building whatever is missing."""
    out = node_bin_dir()
    for step in (_coredns_step(), _pause_step()):
        _ensure(out, step)
    return out


def ensure_helm() -> Path:
    """The helm executable (v3.22.0, built so that ``helm template`` assumes Kubernetes 1.35)."""
    override = os.environ.get("TELEMETRA_HELM")
    if override:
        if not os.access(override, os.X_OK):
            raise ServerError(f"TELEMETRA_HELM={override} is not an executable")
        return Path(override)
    out = helm_bin_dir()
    _ensure(out, _helm_step())
    return out / "helm"


# -- build steps --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    name: str
    outputs: tuple[str, ...]
    fingerprint: str
    build: Callable[[Path, Path], None]  # (staging directory, log file)
    estimate: str


def _fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def _module_files(module: str) -> tuple[bytes, bytes]:
    directory = GO_MODULES / module
    return (directory / "go.mod").read_bytes(), (directory / "go.sum").read_bytes()


def _version_ldflags(version: str) -> str:
    """What k/k's hack/lib/version.sh sets, so `--version`, discovery and client skew checks say v1.35.4."""
    major, minor = version.lstrip("v").split(".")[:2]
    built = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for key, value in (
            ("gitVersion", version),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            ("buildDate", built),
        ):
            flags.append(f"-X {package}.{key}={value}")
    return " ".join(flags)


def _kube_step() -> _Step:
    go_mod, go_sum = _module_files("k8s")
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBE_COMMANDS]

    def build(staging: Path, log: Path) -> None:
        source = _copy_module("k8s", staging)
        _go(
            ["build", "-mod=readonly", "-p", "2", "-trimpath", "-ldflags", _version_ldflags(KUBE_VERSION),
             "-o", f"{staging}/", *packages],
            cwd=source, log=log,
        )  # fmt: skip

    return _Step(
        "kube",
        KUBE_COMMANDS,
        _fingerprint("kube", KUBE_VERSION, go_mod, go_sum),
        build,
        "10-25 min on 2 cores",
    )


def _etcd_step() -> _Step:
    go_mod, go_sum = _module_files("etcd")

    def build(staging: Path, log: Path) -> None:
        source = _copy_module("etcd", staging)
        _go(
            ["build", "-mod=readonly", "-p", "2", "-trimpath", "-ldflags", "-s -w",
             "-o", str(staging / "etcd"), "go.etcd.io/etcd/server/v3"],
            cwd=source, log=log,
        )  # fmt: skip

    return _Step("etcd", ("etcd",), _fingerprint("etcd", ETCD_VERSION, go_mod, go_sum), build, "2-4 min")


def _kwok_step() -> _Step:
    ldflags = "-s -w"  # kwok's consts.Version already defaults to the tag's version

    def build(staging: Path, log: Path) -> None:
        _go(
            ["install", "-p", "2", "-trimpath", "-ldflags", ldflags, f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"],
            cwd=staging, log=log, gobin=staging,
        )  # fmt: skip

    return _Step("kwok", ("kwok",), _fingerprint("kwok", KWOK_VERSION, ldflags), build, "2-5 min")


def _helm_step() -> _Step:
    major, minor = KUBE_VERSION.lstrip("v").split(".")[:2]
    flags = ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"]
    flags.append("-X helm.sh/helm/v3/internal/version.gitTreeState=clean")
    # Without these, `helm template`/`helm lint` assume Kubernetes v1.20 (helm's Makefile sets them).
    for package in ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"):
        flags += [f"-X {package}.k8sVersionMajor={major}", f"-X {package}.k8sVersionMinor={minor}"]
    ldflags = " ".join(flags)

    def build(staging: Path, log: Path) -> None:
        _go(
            ["install", "-p", "2", "-trimpath", "-ldflags", ldflags, f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"],
            cwd=staging, log=log, gobin=staging,
        )  # fmt: skip

    return _Step("helm", ("helm",), _fingerprint("helm", HELM_VERSION, ldflags), build, "3-6 min")


def _coredns_step() -> _Step:
    ldflags = "-s -w"

    def build(staging: Path, log: Path) -> None:
        package = f"github.com/coredns/coredns@{COREDNS_VERSION}"
        _go(
            ["install", "-p", "2", "-trimpath", "-ldflags", ldflags, package],
            cwd=staging,
            log=log,
            gobin=staging,
        )

    return _Step("coredns", ("coredns",), _fingerprint("coredns", COREDNS_VERSION, ldflags), build, "2-5 min")


def _pause_step() -> _Step:
    source = (GO_MODULES / "pause" / "main.go").read_bytes()

    def build(staging: Path, log: Path) -> None:
        module = staging / "src"
        shutil.copytree(GO_MODULES / "pause", module)
        _go(
            ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / "pause"), "."],
            cwd=module,
            log=log,
        )

    return _Step("pause", ("pause",), _fingerprint("pause", source), build, "10 s")


# -- machinery ----------------------------------------------------------------------------------------------


def _ensure(out: Path, step: _Step) -> None:
    marker = out / f".{step.name}.built"
    if _complete(out, marker, step):
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent / f".{out.name}.lock", f"{out.name} ({step.name})"):
        if _complete(out, marker, step):  # another process built it while we waited
            return
        out.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        for stale in out.parent.glob(f".{out.name}-{step.name}-*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        log = out / f"build-{step.name}.log"
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-{step.name}-", dir=out.parent))
        try:
            progress(
                f"building {step.name} ({', '.join(step.outputs)}) from the Go module proxy, once per version;"
            )
            progress(f"  this takes {step.estimate}; log: {log}")
            started = time.monotonic()
            step.build(staging, log)
            for name in step.outputs:
                built = staging / name
                if not built.is_file():
                    raise ServerError(f"the {step.name} build produced no {name}; {log}:\n{tail(log)}")
                os.replace(built, out / name)
            partial = marker.with_suffix(".tmp")
            partial.write_text(step.fingerprint + "\n")
            os.replace(partial, marker)
            progress(f"built {step.name} in {(time.monotonic() - started) / 60:.1f} min into {out}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _complete(out: Path, marker: Path, step: _Step) -> bool:
    try:
        recorded = marker.read_text().strip()
    except FileNotFoundError:
        return False
    return recorded == step.fingerprint and all(os.access(out / name, os.X_OK) for name in step.outputs)


@contextlib.contextmanager
def _locked(path: Path, what: str) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another process that is building {what} (lock {path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _copy_module(module: str, staging: Path) -> Path:
    source = staging / "src"
    source.mkdir()
    for name in ("go.mod", "go.sum"):
        shutil.copyfile(GO_MODULES / module / name, source / name)
    return source


def go_env(gobin: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",  # never download a toolchain; the pins build with the Go 1.26 on PATH
        GOWORK="off",
        CGO_ENABLED="0",  # static binaries, like upstream's release builds
        GOMODCACHE=str(cache_root() / "go-mod"),
    )
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    return env


def _go(args: list[str], *, cwd: Path, log: Path, gobin: Path | None = None) -> None:
    go = shutil.which("go")
    if go is None:
        raise ServerError(
            "building the Kubernetes binaries needs Go >= 1.26 on PATH (https://go.dev/dl/); or set "
            "TELEMETRA_KUBE_BIN / TELEMETRA_HELM to prebuilt binaries"
        )
    with log.open("ab") as output:
        output.write(f"$ go {' '.join(args)}\n".encode())
        output.flush()
        returncode = run_with_heartbeat(
            [go, *args], output=output, what="compiling", env=go_env(gobin), cwd=cwd
        )
    if returncode != 0:
        raise ServerError(f"go {args[0]} failed ({returncode}); {log}:\n{tail(log, 40)}")


def main() -> int:
    """``python -m telemetra.dev.kube.binaries``: build everything (``make kube`` does this too)."""
    try:
        directory = ensure_binaries()
        helm = ensure_helm()
        ensure_node_binaries()
    except ServerError as error:
        progress(str(error))
        return 1
    print(directory)
    print(helm)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
