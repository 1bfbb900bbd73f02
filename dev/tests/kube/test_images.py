"""The image tooling's decisions without building anything: content tags change with what an image is made of and
only with that, the bases and copied files are read from the Dockerfiles, ignore rules follow Docker's, the
Debian mirror comes from apt's sources, and builds receive this machine's settings as secrets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from telemetra.dev.kube import podman
from telemetra.dev.kube.bases import apt_sources, debian_mirrors, stand_in_for
from telemetra.dev.kube.dockerfiles import (
    base_references,
    context_files,
    copied_sources,
    ignore_rules,
    input_tag,
    is_ignored,
    normalized_reference,
)
from telemetra.dev.kube.images import IMAGES, REPO, selected

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM python:3.11.14-slim-bookworm AS build
COPY pyproject.toml README.md ./
COPY src \\
    src
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf pip install .

FROM build AS test
FROM debian:12.12-slim
COPY --from=build /opt/venv /opt/venv
COPY ["tool.sh", "/usr/local/bin/tool.sh"]
"""


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "src" / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (tmp_path / "src" / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "src" / "pkg" / "tests").mkdir()
    (tmp_path / "src" / "pkg" / "tests" / "test_x.py").write_text("")
    (tmp_path / "src" / "pkg" / "keep.txt").write_text("kept\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'pkg'\n")
    (tmp_path / "README.md").write_text("# pkg\n")
    (tmp_path / "tool.sh").write_text("#!/bin/sh\n")
    (tmp_path / "unrelated.txt").write_text("not copied\n")
    (tmp_path / ".dockerignore").write_text(
        "# comment\n**/__pycache__\n**/tests\nsrc/pkg/*.txt\n!src/pkg/keep.txt\n"
    )
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    return tmp_path


def tag(
    context: Path, bases: tuple[str, ...] = ("localhost/base:1",), args: dict[str, str] | None = None
) -> str:
    return input_tag(context / "Dockerfile", context, bases, args or {})


def test_the_dockerfile_names_its_bases_and_copied_files() -> None:
    assert base_references(DOCKERFILE) == [
        "docker.io/library/python:3.11.14-slim-bookworm",
        "docker.io/library/debian:12.12-slim",
    ]
    assert copied_sources(DOCKERFILE) == ["pyproject.toml", "README.md", "src", "tool.sh"]
    assert base_references("ARG BASE=x\nFROM ${BASE}\n") == []
    assert normalized_reference("localhost/telemetra-spark:abc") == "localhost/telemetra-spark:abc"
    assert normalized_reference("quay.io/strimzi/kafka:1") == "quay.io/strimzi/kafka:1"
    assert normalized_reference("apache/spark:4") == "docker.io/apache/spark:4"


def test_only_copied_and_not_ignored_files_are_inputs(context: Path) -> None:
    assert context_files(context, copied_sources(DOCKERFILE)) == [
        "README.md",
        "pyproject.toml",
        "src/pkg/__init__.py",
        "src/pkg/keep.txt",
        "tool.sh",
    ]


def test_docker_ignore_rules(context: Path) -> None:
    rules = ignore_rules(context)
    assert is_ignored("src/pkg/__pycache__/x.pyc", rules)
    assert is_ignored("a/b/tests/c/d.py", rules)
    assert is_ignored("src/pkg/other.txt", rules)
    assert not is_ignored("src/pkg/keep.txt", rules)  # the exception wins: it comes last
    assert not is_ignored("src/pkg/__init__.py", rules)
    repo_rules = ignore_rules(REPO)
    assert is_ignored("frontend/node_modules/vite/package.json", repo_rules)
    assert is_ignored("dev/src/telemetra/dev/kube/go/k8s/go.mod", repo_rules)
    assert not is_ignored("dev/src/telemetra/dev/kube/images.py", repo_rules)


def test_a_content_change_gives_a_new_tag(context: Path) -> None:
    before = tag(context)
    assert tag(context) == before, "the same inputs must give the same tag"
    (context / "src" / "pkg" / "__init__.py").write_text("VALUE = 2\n")
    changed = tag(context)
    assert changed != before
    (context / "tool.sh").chmod(0o755)
    assert tag(context) != changed, "the executable bit is part of the content"


@pytest.mark.parametrize(
    "change",
    [
        lambda c: (c / "Dockerfile").write_text(DOCKERFILE + "USER 10001:10001\n"),
        lambda c: (c / "src" / "pkg" / "new.py").write_text(""),
        lambda c: (c / "src" / "pkg" / "__init__.py").unlink(),
        lambda c: (c / "pyproject.toml").write_text("[project]\nname = 'other'\n"),
    ],
    ids=["dockerfile", "added file", "removed file", "copied top-level file"],
)
def test_every_input_counts(context: Path, change: Callable[[Path], object]) -> None:
    before = tag(context)
    change(context)
    assert tag(context) != before


def test_unrelated_changes_keep_the_tag(context: Path) -> None:
    before = tag(context)
    (context / "unrelated.txt").write_text("changed\n")
    (context / "src" / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\1")
    (context / "src" / "pkg" / "tests" / "test_y.py").write_text("")
    (context / "src" / "pkg" / "other.txt").write_text("ignored\n")
    assert tag(context) == before


def test_bases_and_build_arguments_are_inputs(context: Path) -> None:
    before = tag(context)
    assert tag(context, ("localhost/base:2",)) != before
    assert tag(context, args={"SPARK_IMAGE": "localhost/telemetra-spark:1"}) != before


def test_a_missing_copy_source_is_an_error(context: Path) -> None:
    (context / "tool.sh").unlink()
    with pytest.raises(podman.ImageError, match=r"COPY tool\.sh"):
        tag(context)


def test_selection_adds_what_an_image_is_built_on() -> None:
    assert [spec.name for spec in selected(["telemetra-spark-operator"])] == [
        "telemetra-spark",
        "telemetra-spark-operator",
    ]
    assert [spec.name for spec in selected(None)] == [spec.name for spec in IMAGES]
    with pytest.raises(podman.ImageError, match="unknown image telemetra-nope"):
        selected(["telemetra-nope"])


def test_every_image_has_its_dockerfile_and_a_known_base() -> None:
    for spec in IMAGES:
        text = (REPO / spec.dockerfile).read_text()
        for reference in base_references(text):
            stand_in_for(reference)  # raises for a base no registry-free build can provide
        if spec.base_arg is not None:
            assert f"FROM ${{{spec.base_arg[0]}}}" in text, spec.name


def test_the_debian_mirror_comes_from_apt(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb http://ignored.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] https://cloud.example/apt cloud-sdk-bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# http://snapshot.example/archive/debian/20250520T000000Z\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    (tmp_path / "sources.list.d" / "off.list.disabled").write_text(
        "deb http://off.example/debian bookworm main\n"
    )
    sources = list(apt_sources(tmp_path))
    assert ("https://cloud.example/apt", "cloud-sdk-bookworm") in sources
    assert all("ignored" not in uri and "off" not in uri for uri, _ in sources)
    assert debian_mirrors(tmp_path) == [
        "deb http://mirror.example/debian bookworm main",
        "deb http://mirror.example/debian bookworm-updates main",
        "deb http://mirror.example/debian-security bookworm-security main",
    ]
    assert debian_mirrors(tmp_path / "none")[0] == "deb http://deb.debian.org/debian bookworm main"


def test_stand_ins_exist_for_the_bases_the_dockerfiles_name() -> None:
    assert stand_in_for("docker.io/library/debian:12.12-slim").kind == "debian"
    assert stand_in_for("docker.io/library/python:3.11.14-slim-bookworm").kind == "python"
    node = stand_in_for("docker.io/library/node:20.19.4-bookworm-slim")
    assert (node.kind, node.version) == ("node", "20.19.4")
    for missing in ("docker.io/library/python:3.12.1-slim-bookworm", "docker.io/apache/spark:4.2.0"):
        with pytest.raises(podman.ImageError, match="no local stand-in"):
            stand_in_for(missing)


def test_builds_get_this_machines_index_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.mirror.example/simple")
    access = podman.build_access(tmp_path)
    pip_conf = access.secrets["pip.conf"].read_text()
    assert "index-url = https://pypi.mirror.example/simple" in pip_conf
    assert f"cert = {podman.CA_BUNDLE}" in pip_conf
    assert f"cafile={podman.CA_BUNDLE}" in access.secrets["npmrc"].read_text()
    assert access.secrets["pip.conf"].stat().st_mode & 0o077 == 0, "secrets are readable by their owner only"
    args = access.podman_args()
    assert "--network=host" in args
    assert any(a.startswith("--secret=id=pip.conf,src=") for a in args)


def test_the_host_state_is_restored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Sysctls written back, podman's new cgroups (deepest first) and directories removed, older ones kept."""
    cgroups, sysctls = tmp_path / "cgroup", tmp_path / "sys"
    (sysctls / "net" / "ipv4").mkdir(parents=True)
    (sysctls / "net" / "ipv4" / "ip_forward").write_text("0\n")
    for hierarchy in ("memory", "pids"):
        (cgroups / hierarchy).mkdir(parents=True)
    (cgroups / "pids" / "libpod_parent").mkdir()  # there before: kept
    monkeypatch.setattr(podman, "_CGROUP_ROOT", cgroups)
    monkeypatch.setattr(podman, "_SYSCTL_ROOT", sysctls)
    monkeypatch.setattr(
        podman, "_PODMAN_HOST_DIRS", (tmp_path / "run-containers", tmp_path / "lib-containers")
    )
    (tmp_path / "lib-containers").mkdir()  # there before: kept
    with podman.host_state_kept():
        (sysctls / "net" / "ipv4" / "ip_forward").write_text("1\n")
        (cgroups / "memory" / "libpod_parent" / "libpod-abc").mkdir(parents=True)
        (tmp_path / "run-containers" / "networks").mkdir(parents=True)
    assert (sysctls / "net" / "ipv4" / "ip_forward").read_text() == "0\n"
    assert not (cgroups / "memory" / "libpod_parent").exists()
    assert (cgroups / "pids" / "libpod_parent").is_dir()
    assert not (tmp_path / "run-containers").exists()
    assert (tmp_path / "lib-containers").is_dir()
