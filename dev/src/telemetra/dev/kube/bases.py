"""The upstream base images the Dockerfiles name, made on this machine (no registry is reachable):

* ``debian:12.*-slim``: a Debian bookworm minbase made by ``mmdebstrap`` from the mirrors apt already uses, with
  merged /usr, debian-slim's path excludes and the apt settings of Debian's official images;
* ``python:3.11.*-slim-bookworm``: that base with Debian's Python 3.11, venv and pip at the official paths;
* ``node:<version>-bookworm-slim``: that base with Node (the npm registry's ``node-linux-<arch>`` package holds
  the official binaries) and the npm that Node release ships.

:mod:`telemetra.dev.kube.images` builds them and tags them with the upstream names.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from telemetra.dev.kube.podman import ImageError
from telemetra.dev.localstack.process import progress

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
NPM_BUNDLED_WITH_NODE = {"20.19.4": "10.8.2"}  # the npm each Node release ships (and its official image has)

# apt settings of the image for the Dockerfiles' installs, as in Debian's official images: no package caches or
# downloaded .debs left in layers, compressed package lists, no translations (and no recommends).
_SLIM_APT_OPTIONS = (
    'Dir::Cache::pkgcache "";', 'Dir::Cache::srcpkgcache "";', 'APT::Keep-Downloaded-Packages "false";',
    'Acquire::GzipIndexes "true";', 'Acquire::Languages "none";',
)  # fmt: skip
# debian-slim's dpkg excludes (docs, man pages, translations).
_SLIM_DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright", "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*", "path-exclude=/usr/share/locale/*", "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/groff/*",
)  # fmt: skip

_PYTHON_BASE = """\
FROM {debian}
# Debian's Python in place of python.org's build: /usr/local/bin/python3 as in the official image, and pip
# may install outside a virtualenv there too.
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        python3 python3-venv python3-pip python-is-python3 \\
    && rm -rf /var/lib/apt/lists/* /usr/lib/python3.11/EXTERNALLY-MANAGED \\
    && ln -s /usr/bin/python3 /usr/local/bin/python3 \\
    && ln -s /usr/bin/python3 /usr/local/bin/python
ENV LANG=C.UTF-8
LABEL org.opencontainers.image.description="local stand-in for {name}: Debian bookworm's Python 3.11"
CMD ["python3"]
"""

_NODE_BASE = """\
FROM {debian}
COPY node/ /usr/local/
COPY npm/ /usr/local/lib/node_modules/npm/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
ENV NODE_VERSION={version}
LABEL org.opencontainers.image.description="local stand-in for {name}: Node and npm from the npm registry"
CMD ["node"]
"""


@dataclass(frozen=True)
class StandIn:
    """What stands in for an upstream base: ``debian``, ``python`` or ``node`` (with its version)."""

    kind: str
    version: str = ""


def stand_in_for(reference: str) -> StandIn:
    repository, _, tag = reference.removeprefix("docker.io/library/").partition(":")
    node = re.fullmatch(r"(\d+\.\d+\.\d+)-bookworm-slim", tag)
    if repository == "debian" and re.fullmatch(r"12\.\d+-slim", tag):
        return StandIn("debian")
    if repository == "python" and re.fullmatch(r"3\.11\.\d+-slim-bookworm", tag):
        return StandIn("python")
    if repository == "node" and node:
        return StandIn("node", node.group(1))
    raise ImageError(f"no local stand-in for the base image {reference}: no registry is reachable here")


def python_containerfile(debian: str, name: str) -> str:
    return _PYTHON_BASE.format(debian=debian, name=name)


def node_containerfile(debian: str, version: str, name: str) -> str:
    return _NODE_BASE.format(debian=debian, version=version, name=name)


# -- Debian ----------------------------------------------------------------------------------------------------


def mmdebstrap_command() -> list[str]:
    """The command that writes the Debian base as a tarball to stdout (its fingerprint names the result)."""
    mode = "root" if os.geteuid() == 0 else "unshare"
    return [
        "mmdebstrap", "--variant=minbase", f"--mode={mode}", "--format=tar", "--include=ca-certificates",
        # merged /usr set up by mmdebstrap itself: no usrmerge package, which would pull in perl
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        '--aptopt=APT::Install-Recommends "false"',
        *(f"--dpkgopt={option}" for option in _SLIM_DPKG_OPTIONS),
        "--customize-hook=printf '%s\\n' "
        + " ".join(f"'{option}'" for option in _SLIM_APT_OPTIONS)
        + ' > "$1/etc/apt/apt.conf.d/docker-clean"',
        # apt's lists are fetched again by the builds that install packages
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
        SUITE, "-", *debian_mirrors(),
    ]  # fmt: skip


def make_debian_archive(command: list[str], archive: Path, log: Path) -> None:
    """Run ``command`` (:func:`mmdebstrap_command`) into ``archive``, atomically."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    progress(f"making the Debian {SUITE} base with mmdebstrap (about a minute); log: {log}")
    partial = archive.with_suffix(".partial")
    with partial.open("wb") as tarball, log.open("w") as output:
        output.write(f"$ {' '.join(command)}\n")
        output.flush()
        result = subprocess.run(command, stdout=tarball, stderr=output, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        raise ImageError(f"mmdebstrap failed ({result.returncode}): {lines[-1] if lines else ''}; log: {log}")
    os.replace(partial, archive)


def debian_mirrors(apt: Path = Path("/etc/apt")) -> list[str]:
    """``deb`` lines for bookworm, -updates and -security from the mirrors apt already uses on this machine
    (deb.debian.org when apt names none)."""
    mirror = security = None
    for uri, suite in apt_sources(apt):
        if suite == SUITE and mirror is None:
            mirror = uri
        elif suite == f"{SUITE}-security" and security is None:
            security = uri
    mirror = mirror or DEFAULT_MIRROR
    return [
        f"deb {mirror} {SUITE} main",
        f"deb {mirror} {SUITE}-updates main",
        f"deb {security or DEFAULT_SECURITY_MIRROR} {SUITE}-security main",
    ]


def apt_sources(root: Path = Path("/etc/apt")) -> Iterator[tuple[str, str]]:
    """(URI, suite) of every ``deb`` source, one-line (``.list``) and deb822 (``.sources``) formats."""
    for path in [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]:
        for line in _lines(path):
            words = re.sub(r"\[[^]]*\]", " ", line).split()
            if len(words) >= 3 and words[0] == "deb":
                yield words[1], words[2]
    for path in sorted((root / "sources.list.d").glob("*.sources")):
        for stanza in "\n".join(_lines(path)).split("\n\n"):
            fields = {
                key.strip().lower(): value.split()
                for key, _, value in (line.partition(":") for line in stanza.splitlines())
            }
            if "deb" in fields.get("types", []):
                for uri in fields.get("uris", []):
                    for suite in fields.get("suites", []):
                        yield uri, suite


def _lines(path: Path) -> list[str]:
    """The lines without comments; a comment line goes entirely (in deb822 only blank lines end a stanza)."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    return [line.split("#", 1)[0].rstrip() for line in lines if not line.lstrip().startswith("#")]


# -- Node ------------------------------------------------------------------------------------------------------


def node_context(version: str, directory: Path) -> Path:
    """``directory/node-<version>/`` with ``node/`` (bin, include, share) and ``npm/``, from the npm registry's
    packages ``node-linux-<arch>`` and ``npm``, fetched once with this machine's npm (and its registry)."""
    npm_version = NPM_BUNDLED_WITH_NODE.get(version)
    if npm_version is None:
        raise ImageError(f"which npm ships with Node {version} is not recorded (NPM_BUNDLED_WITH_NODE)")
    context = directory / f"node-{version}"
    if (context / "node" / "bin" / "node").is_file() and (context / "npm" / "package.json").is_file():
        return context
    npm = shutil.which("npm")
    if npm is None:
        raise ImageError("the Node base needs npm on this machine to fetch Node from the npm registry")
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as download:
        packages = [f"node-linux-{arch}@{version}", f"npm@{npm_version}"]
        result = subprocess.run(
            [npm, "pack", "--silent", f"--pack-destination={download}", *packages],
            cwd=download, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ImageError(f"npm pack {' '.join(packages)} failed: {result.stderr.strip()[-300:]}")
        staging = Path(download) / "context"
        node_package = Path(download) / f"node-linux-{arch}-{version}.tgz"
        _extract_package(node_package, staging / "node", ("bin", "include", "share"))
        _extract_package(Path(download) / f"npm-{npm_version}.tgz", staging / "npm", None)
        shutil.rmtree(context, ignore_errors=True)
        os.replace(staging, context)
    return context


def _extract_package(tgz: Path, target: Path, keep: tuple[str, ...] | None) -> None:
    """An npm package's files (under ``package/``) into ``target``; with ``keep``, only those top folders."""
    with tarfile.open(tgz) as archive:
        for member in archive.getmembers():
            relative = Path(member.name).relative_to("package")
            if keep is None or relative.parts[0] in keep:
                member.name = str(relative)
                archive.extract(member, target, filter="data")
