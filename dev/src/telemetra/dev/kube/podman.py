"""podman on this machine without touching its configuration: the Debian packages, settings files of our own,
what builds may reach (the host's mirrors, proxy CA and package-index settings), and the host state builds may
change (cgroups, forwarding sysctls), recorded and restored.

* :func:`ensure_host_packages` installs podman, buildah, mmdebstrap, … with apt-get when missing.
* :func:`podman_env` writes ``containers.conf``, ``storage.conf`` and ``registries.conf`` under
  ``${XDG_CACHE_HOME:-~/.cache}/telemetra/containers/`` (storage there too, so warm runs reuse layers) and
  returns the environment that points podman at them (``CONTAINERS_CONF``, …); /etc is never edited.
* :func:`build_access` gives the build options that let a build reach what the host reaches: the host's CA
  bundle mounted read-only over the image's (a TLS-intercepting proxy works), and build secrets with this
  machine's pip, npm and Maven settings and Java trust store. Secrets are mounted for one RUN each; no layer
  keeps them, and nothing machine-specific is written into the repository.
* :func:`host_state_kept` records the forwarding sysctls, podman's cgroups and the directories podman keeps at
  fixed paths before builds, and restores them afterwards. (Two podman users at once on one machine may keep
  each other's leftovers: each restores what it saw before it started.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from telemetra.dev.localstack.process import ServerError, cache_root, progress

HOST_PACKAGES = (
    "podman", "buildah", "mmdebstrap", "skopeo", "containerd", "runc", "uidmap", "fuse-overlayfs",
    "slirp4netns", "netavark", "aardvark-dns", "debian-archive-keyring", "ca-certificates",
)  # fmt: skip

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # where Debian images (and ours) keep theirs
JAVA_TRUST_STORE = Path("/etc/ssl/certs/java/cacerts")
DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org/"

# The sandbox's hard limits are below podman's defaults ("setrlimit RLIMIT_NOFILE: Operation not permitted");
# crun refuses a hybrid cgroup v1 layout, runc does not. Events are not logged (no journald, no files).
_CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "{run}/libpod"

[network]
network_backend = "netavark"
network_config_dir = "{root}/networks"
"""

_STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}/storage"
runroot = "{run}"
"""

# The Dockerfiles name bases by short names (python:3.11…): they resolve to docker.io, where the local
# stand-ins are tagged.
_REGISTRIES_CONF = """\
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
"""

_SYSCTL_ROOT = Path("/proc/sys")
_FORWARDING_SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv6/conf/all/forwarding",
    "net/ipv6/conf/default/forwarding",
)
_PODMAN_CGROUPS = ("libpod_parent",)  # what podman's cgroupfs manager creates under each hierarchy
# Fixed paths podman (as root) uses whatever its settings say: netavark's run directory and c/image's
# blob-info cache.
_PODMAN_HOST_DIRS = (Path("/run/containers"), Path("/var/lib/containers"))
_CGROUP_ROOT = Path("/sys/fs/cgroup")


class ImageError(ServerError):
    """An image could not be built or moved; the message says what failed and where its log is."""


# -- host packages -----------------------------------------------------------------------------------------


def ensure_host_packages(packages: Sequence[str] = HOST_PACKAGES) -> None:
    """Install the Debian packages that are missing (apt-get, with sudo unless root); a no-op when all are."""
    missing = [package for package in packages if not _installed(package)]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise ImageError(f"building images needs these Debian packages: {' '.join(missing)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    progress(f"installing Debian packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        [*sudo, "apt-get", "update", "-q"],
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
    ):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ImageError(f"`{' '.join(command)}` failed: {last_line(result.stderr)}")


def _installed(package: str) -> bool:
    try:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as error:
        raise ImageError("building images needs a Debian host (dpkg-query not found)") from error
    return result.returncode == 0 and result.stdout.endswith(" installed")


# -- podman's settings -------------------------------------------------------------------------------------


def containers_dir() -> Path:
    return cache_root() / "containers"


def podman_env() -> dict[str, str]:
    """The environment under which podman uses our settings and storage (written here when they changed)."""
    root = containers_dir()
    run = root / "run"
    files = {
        "CONTAINERS_CONF": ("containers.conf", _CONTAINERS_CONF.format(root=root, run=run)),
        "CONTAINERS_STORAGE_CONF": ("storage.conf", _STORAGE_CONF.format(root=root, run=run)),
        "CONTAINERS_REGISTRIES_CONF": ("registries.conf", _REGISTRIES_CONF),
    }
    env = dict(os.environ)
    for variable, (name, text) in files.items():
        env[variable] = str(_write_if_changed(root / name, text))
    return env


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        partial = path.with_suffix(path.suffix + ".tmp")
        partial.write_text(text)
        partial.chmod(mode)
        os.replace(partial, path)
    return path


def podman(*args: str, env: Mapping[str, str], timeout: float = 600) -> str:
    """Run one podman command; its stdout, or :class:`ImageError` with podman's last error line."""
    try:
        result = subprocess.run(
            ["podman", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise ImageError(f"podman {args[0]} did not finish in {timeout:.0f} s") from error
    if result.returncode != 0:
        raise ImageError(f"podman {args[0]} failed ({result.returncode}): {last_line(result.stderr)}")
    return result.stdout


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


# -- what builds may reach ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildAccess:
    """Options of ``podman build`` that carry this machine's network settings into a build."""

    ca_bundle: Path | None
    secrets: Mapping[str, Path]  # build secret id -> file

    def podman_args(self) -> list[str]:
        args = ["--network=host"]
        if self.ca_bundle is not None:
            args.append(f"--volume={self.ca_bundle}:{CA_BUNDLE}:ro")
        args += [f"--secret=id={name},src={path}" for name, path in sorted(self.secrets.items())]
        return args


def build_access(directory: Path) -> BuildAccess:
    """The host's CA bundle and the build secrets the Dockerfiles read (``pip.conf``, ``npmrc``, and
    ``maven-settings`` / ``java-cacerts`` when this machine has them), written into ``directory``."""
    ca_bundle = Path(os.environ.get("SSL_CERT_FILE") or CA_BUNDLE)
    secrets = {
        "pip.conf": _write_if_changed(directory / "pip.conf", _pip_conf(), 0o600),
        "npmrc": _write_if_changed(directory / "npmrc", _npmrc(), 0o600),
    }
    for name, path in (
        ("maven-settings", Path.home() / ".m2" / "settings.xml"),
        ("java-cacerts", JAVA_TRUST_STORE),
    ):
        if path.is_file():
            secrets[name] = path
    return BuildAccess(ca_bundle if ca_bundle.is_file() else None, secrets)


def _pip_conf() -> str:
    """pip's index settings of this machine (its pip config and PIP_* variables), trusting the mounted CA."""
    settings = {"cert": str(CA_BUNDLE)}
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    )
    for line in listed.stdout.splitlines():
        key, _, value = line.partition("=")
        name = key.rpartition(".")[2]
        if name in ("index-url", "extra-index-url", "trusted-host"):
            settings[name] = value.strip("'\"")
    for name in ("index-url", "extra-index-url", "trusted-host"):
        variable = os.environ.get("PIP_" + name.upper().replace("-", "_"))
        if variable:
            settings[name] = variable
    return "[global]\n" + "".join(f"{name} = {value}\n" for name, value in settings.items())


def _npmrc() -> str:
    """npm's registry on this machine, trusting the mounted CA bundle (Node does not read the system's)."""
    registry = DEFAULT_NPM_REGISTRY
    npm = shutil.which("npm")
    if npm is not None:
        result = subprocess.run(
            [npm, "config", "get", "registry"], capture_output=True, text=True, check=False
        )
        registry = result.stdout.strip() or registry
    return f"registry={registry}\ncafile={CA_BUNDLE}\n"


# -- host state ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostState:
    """What podman may change on the host: forwarding sysctls (netavark sets them), its cgroups and the
    directories it keeps at fixed paths."""

    sysctls: Mapping[str, str]
    cgroups: frozenset[Path]
    directories: frozenset[Path]

    @classmethod
    def capture(cls) -> HostState:
        existing = frozenset(path for path in _PODMAN_HOST_DIRS if path.exists())
        return cls(_read_sysctls(), frozenset(_podman_cgroups()), existing)

    def restore(self) -> None:
        """Write back changed sysctls; remove the podman cgroups (empty ones) and directories that did not
        exist before."""
        for name, value in _read_sysctls().items():
            before = self.sysctls.get(name)
            if before is not None and before != value:
                _write_sysctl(name, before)
        for cgroup in sorted(set(_podman_cgroups()) - self.cgroups):
            _remove_cgroup(cgroup)
        for directory in _PODMAN_HOST_DIRS:
            if directory not in self.directories:
                shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def host_state_kept() -> Iterator[HostState]:
    """Leave the host's forwarding sysctls and cgroups as they were before the block."""
    state = HostState.capture()
    try:
        yield state
    finally:
        state.restore()


def _read_sysctls() -> dict[str, str]:
    values = {}
    for name in _FORWARDING_SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = (_SYSCTL_ROOT / name).read_text().strip()
    return values


def _write_sysctl(name: str, value: str) -> None:
    try:
        (_SYSCTL_ROOT / name).write_text(value + "\n")
        progress(f"restored {name.replace('/', '.')} = {value}")
    except OSError as error:
        progress(f"could not restore {name.replace('/', '.')} to {value}: {error}")


def _podman_cgroups() -> list[Path]:
    hierarchies = [p for p in _CGROUP_ROOT.iterdir() if p.is_dir()] if _CGROUP_ROOT.is_dir() else []
    candidates = [root / name for root in (_CGROUP_ROOT, *hierarchies) for name in _PODMAN_CGROUPS]
    return [path for path in candidates if path.is_dir()]


def _remove_cgroup(cgroup: Path, patience: float = 5.0) -> None:
    """rmdir a cgroup and its children, deepest first. A cgroup whose last process just exited stays busy for
    a moment, so a busy one is retried for ``patience`` seconds; one that still holds processes stays (and is
    named)."""
    deadline = time.monotonic() + patience
    for directory, _, _ in sorted(os.walk(cgroup), key=lambda entry: -len(entry[0])):
        while True:
            try:
                os.rmdir(directory)
                break
            except OSError as error:
                if error.errno != errno.EBUSY or time.monotonic() > deadline:
                    progress(f"could not remove cgroup {directory}: {error.strerror}")
                    return
                time.sleep(0.1)
