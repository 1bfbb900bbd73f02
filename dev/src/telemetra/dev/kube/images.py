"""Every image the platform runs, built with podman on this machine — no Docker engine, no registry: ``make images``
(``python -m telemetra.dev.kube.images [--only NAME ...]``).

The upstream bases the Dockerfiles name (``debian``, ``python``, ``node``) are made here
(:mod:`~telemetra.dev.kube.bases`: a Debian minbase from ``mmdebstrap``, cached as a tarball by a
fingerprint of its recipe) and tagged with those names, so the Dockerfiles build unmodified (``--pull=never``;
with Docker they use the real ones). Each image is tagged by content
(:mod:`~telemetra.dev.kube.dockerfiles`): ``localhost/<name>:<hash>`` of the Dockerfile, the files it
copies, its bases and build arguments. An image whose tag exists is not built again; otherwise podman's layer
cache (``~/.cache/telemetra/containers``) keeps the steps whose inputs did not change, and the superseded tag is
removed. The Spark operator's binary is built on the host from the vendored source (Go module proxy; cached by
fingerprint like the Kubernetes binaries).

The tag map is printed and written to ``${XDG_CACHE_HOME:-~/.cache}/telemetra/images/tags.json``,
``{"telemetra-api": {"image": "localhost/telemetra-api:<hash>", "size": <bytes>}, ...}`` (:func:`built_images`
reads it); :func:`load_into_containerd` moves images into a containerd, e.g. a local node's. Builds run under
:func:`~telemetra.dev.kube.podman.host_state_kept`: the host's cgroups and sysctls stay as they were.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from telemetra.dev.kube.bases import (
    SUITE,
    make_debian_archive,
    mmdebstrap_command,
    node_containerfile,
    node_context,
    python_containerfile,
    stand_in_for,
)
from telemetra.dev.kube.binaries import _ensure, _fingerprint, _go, _locked, _Step
from telemetra.dev.kube.dockerfiles import TAG_LENGTH, base_references, input_tag
from telemetra.dev.kube.podman import (
    BuildAccess,
    ImageError,
    build_access,
    ensure_host_packages,
    host_state_kept,
    last_line,
    podman,
    podman_env,
)
from telemetra.dev.localstack.process import ServerError, cache_root, duration, progress, run_with_heartbeat

REPO = Path(__file__).resolve().parents[5]
SPARK_OPERATOR_VERSION = "v2.5.2"
SPARK_OPERATOR_SOURCE = (
    REPO / "charts" / "operators" / "vendor" / f"spark-operator-{SPARK_OPERATOR_VERSION}.tar.gz"
)


def images_dir() -> Path:
    return cache_root() / "images"


def tags_file() -> Path:
    return images_dir() / "tags.json"


# -- what to build -----------------------------------------------------------------------------------------


def _repository() -> Path:
    return REPO


@dataclass(frozen=True)
class ImageSpec:
    """One image: its Dockerfile (relative to the repository) and build context; ``base_arg`` names a build
    argument that receives the tag of another image of the list (the image it is built on)."""

    name: str
    dockerfile: str
    context: Callable[[], Path] = _repository
    base_arg: tuple[str, str] | None = None  # (build argument, image name)


def spark_operator_context() -> Path:
    """A directory with the Spark operator's binary (built from the vendored source) and its entrypoint.sh."""
    out = cache_root() / f"spark-operator-{SPARK_OPERATOR_VERSION}"
    _ensure(out, _spark_operator_step())
    return out


IMAGES = (
    ImageSpec("telemetra-api", "services/Dockerfile"),
    ImageSpec("telemetra-operator", "operator/Dockerfile"),
    ImageSpec("telemetra-producer", "pipeline/Dockerfile.producer"),
    ImageSpec("telemetra-spark", "pipeline/Dockerfile.spark"),
    ImageSpec("telemetra-kafka", "pipeline/Dockerfile.kafka"),
    ImageSpec("telemetra-postgresql", "services/Dockerfile.postgresql"),
    ImageSpec("telemetra-redis", "services/Dockerfile.redis"),
    ImageSpec(
        "telemetra-spark-operator",
        "charts/operators/vendor/Dockerfile.spark-operator",
        context=spark_operator_context,
        base_arg=("SPARK_IMAGE", "telemetra-spark"),
    ),
)


def selected(names: Sequence[str] | None) -> list[ImageSpec]:
    """The images named (all without names), with the images they are built on, in build order."""
    by_name = {spec.name: spec for spec in IMAGES}
    unknown = sorted(set(names or ()) - set(by_name))
    if unknown:
        raise ImageError(f"unknown image {', '.join(unknown)}; known: {', '.join(by_name)}")
    wanted = set(names or by_name)
    for spec in reversed(IMAGES):  # a base comes before the images built on it
        if spec.name in wanted and spec.base_arg is not None:
            wanted.add(spec.base_arg[1])
    return [spec for spec in IMAGES if spec.name in wanted]


@dataclass
class Builder:
    """Builds bases and images in one podman environment, remembering the bases it made in this run."""

    env: dict[str, str]
    access: BuildAccess
    bases: dict[str, str] = field(default_factory=dict)  # upstream reference -> local tag

    # -- bases ----------------------------------------------------------------------------------------------

    def base(self, reference: str) -> str:
        """The local tag standing in for an upstream base, made if needed and tagged with ``reference``."""
        if reference not in self.bases:
            local = self._make_base(reference)
            podman("tag", local, reference, env=self.env)
            self.bases[reference] = local
        return self.bases[reference]

    def _make_base(self, reference: str) -> str:
        stand_in = stand_in_for(reference)
        debian = self.debian()
        if stand_in.kind == "python":
            return self._stand_in(
                "python", python_containerfile(debian, reference), images_dir() / "bases" / "python"
            )
        if stand_in.kind == "node":
            context = node_context(stand_in.version, images_dir() / "bases")
            return self._stand_in("node", node_containerfile(debian, stand_in.version, reference), context)
        return debian

    def debian(self) -> str:
        """Debian bookworm minbase from mmdebstrap, cached as a tarball by the recipe's fingerprint."""
        command = mmdebstrap_command()
        local = f"localhost/telemetra-base-debian:{_fingerprint(*command)[:TAG_LENGTH]}"
        if not _exists(local, self.env):
            archive = images_dir() / f"{local.rpartition(':')[2]}-debian-{SUITE}.tar"
            if not archive.is_file():
                make_debian_archive(command, archive, images_dir() / "logs" / "base-debian.log")
            for stale in images_dir().glob(f"*-debian-{SUITE}.tar"):
                if stale != archive:
                    stale.unlink()
            podman("import", "--change", 'CMD ["bash"]', str(archive), local, env=self.env)
            self._remove_superseded(local)
        return local

    def _stand_in(self, kind: str, containerfile: str, context: Path) -> str:
        dockerfile = context.parent / f"{context.name}.Containerfile"
        context.mkdir(parents=True, exist_ok=True)
        dockerfile.write_text(containerfile)
        local = f"localhost/telemetra-base-{kind}:{input_tag(dockerfile, context, (), {})}"
        if not _exists(local, self.env):
            self._podman_build(f"base-{kind}", dockerfile, context, local, {})
            self._remove_superseded(local)
        return local

    # -- images ---------------------------------------------------------------------------------------------

    def image(self, spec: ImageSpec, built: Mapping[str, BuiltImage]) -> BuiltImage:
        """Build ``spec`` unless an image with its content tag exists."""
        dockerfile = REPO / spec.dockerfile
        context = spec.context()
        build_args = {spec.base_arg[0]: built[spec.base_arg[1]].image} if spec.base_arg else {}
        bases = [self.base(reference) for reference in base_references(dockerfile.read_text())]
        image = f"localhost/{spec.name}:{input_tag(dockerfile, context, bases, build_args)}"
        started = time.monotonic()
        fresh = not _exists(image, self.env)
        if fresh:
            self._podman_build(spec.name, dockerfile, context, image, build_args)
            self._remove_superseded(image)
        size = int(podman("image", "inspect", "--format", "{{.Size}}", image, env=self.env).strip())
        seconds = time.monotonic() - started
        progress(
            f"{spec.name}: {'built in ' + duration(seconds) if fresh else 'up to date'} ({_megabytes(size)})"
        )
        return BuiltImage(spec.name, image, size)

    def _remove_superseded(self, image: str) -> None:
        """Remove the older content tags of ``image``'s repository (their layers go unless still used). Not
        fatal: an image still in use, e.g. by a container, stays."""
        repository = image.rpartition(":")[0]
        listed = podman(
            "images", "--format", "{{.Repository}}:{{.Tag}}", f"--filter=reference={repository}", env=self.env
        )
        stale = [line for line in listed.split() if line.startswith(repository + ":") and line != image]
        if stale:
            try:
                podman("rmi", *stale, env=self.env)
            except ImageError as error:
                progress(f"kept {', '.join(stale)}: {error}")

    def _podman_build(
        self, name: str, dockerfile: Path, context: Path, tag: str, build_args: Mapping[str, str]
    ) -> None:
        log = images_dir() / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [
            "podman", "build", "--pull=never", "--format=docker", "--layers", *self.access.podman_args(),
            *(f"--build-arg={key}={value}" for key, value in build_args.items()),
            f"--file={dockerfile}", f"--tag={tag}", str(context),
        ]  # fmt: skip
        progress(f"building {tag} from {_shown(dockerfile)}; log: {log}")
        with log.open("w") as output:
            output.write(f"$ {' '.join(command)}\n")
            output.flush()
            returncode = run_with_heartbeat(command, output=output, what=f"building {name}", env=self.env)
        if returncode != 0:
            raise ImageError(f"building {name} failed ({returncode}): {_last_log_line(log)}; log: {log}")


@dataclass(frozen=True)
class BuiltImage:
    name: str
    image: str  # localhost/<name>:<content tag>
    size: int  # bytes, as podman reports it (uncompressed)


def _exists(image: str, env: Mapping[str, str]) -> bool:
    return subprocess.run(["podman", "image", "exists", image], env=env, check=False).returncode == 0


# -- the Spark operator's binary -----------------------------------------------------------------------------


def _spark_operator_step() -> _Step:
    source = hashlib.sha256(SPARK_OPERATOR_SOURCE.read_bytes()).hexdigest()
    version = "k8s.io/component-base/version"
    ldflags = f"-s -w -X {version}.gitVersion={SPARK_OPERATOR_VERSION} -X {version}.gitTreeState=clean"
    top = f"spark-operator-{SPARK_OPERATOR_VERSION}"

    def build(staging: Path, log: Path) -> None:
        with tarfile.open(SPARK_OPERATOR_SOURCE) as archive:
            archive.extractall(staging, filter="data")
        _go(
            ["build", "-mod=readonly", "-p", "2", "-trimpath", "-ldflags", ldflags,
             "-o", str(staging / "spark-operator"), "./cmd/operator"],
            cwd=staging / top, log=log,
        )  # fmt: skip
        shutil.copy2(staging / top / "entrypoint.sh", staging / "entrypoint.sh")

    return _Step(
        "spark-operator",
        ("spark-operator", "entrypoint.sh"),
        _fingerprint("spark-operator", SPARK_OPERATOR_VERSION, source, ldflags),
        build,
        "2-4 min on 2 cores",
    )


# -- running and reporting -----------------------------------------------------------------------------------


def build_images(names: Sequence[str] | None = None) -> dict[str, BuiltImage]:
    """Build the named images (all by default) and what they need; record their tags in :func:`tags_file`."""
    specs = selected(names)
    ensure_host_packages()
    env = podman_env()
    images_dir().mkdir(parents=True, exist_ok=True)
    with _locked(images_dir() / ".lock", "images"), host_state_kept():
        builder = Builder(env, build_access(images_dir() / "access"))
        built: dict[str, BuiltImage] = {}
        for spec in specs:
            built[spec.name] = builder.image(spec, built)
    _record(built.values())
    return built


def _record(built: Iterable[BuiltImage]) -> None:
    recorded = _read_tags()
    for image in built:
        recorded[image.name] = {"image": image.image, "size": image.size}
    partial = tags_file().with_suffix(".tmp")
    partial.write_text(json.dumps(dict(sorted(recorded.items())), indent=2) + "\n")
    os.replace(partial, tags_file())


def _read_tags() -> dict[str, dict[str, str | int]]:
    try:
        recorded: dict[str, dict[str, str | int]] = json.loads(tags_file().read_text())
    except FileNotFoundError:
        return {}
    return recorded


def built_images() -> dict[str, str]:
    """Image name -> reference (``localhost/<name>:<content tag>``) of the images ``make images`` built last."""
    recorded = _read_tags()
    if not recorded:
        raise ImageError(f"no images recorded in {tags_file()}: run `make images` first")
    return {name: str(entry["image"]) for name, entry in recorded.items()}


def load_into_containerd(tags: Sequence[str], address: Path | str, namespace: str = "k8s.io") -> None:
    """Import images from podman's store into the containerd at ``address`` (its socket), in ``namespace``
    (the kubelet's is ``k8s.io``): one ``podman save --multi-image-archive`` of them all streamed into ``ctr
    images import``, nothing written to disk; a layer the images share (the Spark operator's image is the Spark
    image and a binary; most are on one Python base) travels once. The names stay ``localhost/<name>:<tag>``, so
    pods that use them with ``imagePullPolicy: Never`` or ``IfNotPresent`` start without a registry."""
    if not tags:
        return
    started = time.monotonic()
    with host_state_kept(), tempfile.TemporaryFile() as save_errors:
        save = subprocess.Popen(
            ["podman", "save", "--multi-image-archive", "--format", "docker-archive", *tags],
            env=podman_env(), stdout=subprocess.PIPE, stderr=save_errors,
        )  # fmt: skip
        assert save.stdout is not None
        imported = subprocess.run(
            ["ctr", "--address", str(address), "--namespace", namespace, "images", "import", "-"],
            stdin=save.stdout, capture_output=True, text=True, check=False,
        )  # fmt: skip
        save.stdout.close()
        save.wait()
        save_errors.seek(0)
        failure = save_errors.read().decode(errors="replace") if save.returncode else imported.stderr
    if save.returncode != 0 or imported.returncode != 0:
        raise ImageError(
            f"loading {', '.join(tags)} into containerd at {address} failed: {last_line(failure)}"
        )
    progress(f"loaded {len(tags)} images into containerd in {duration(time.monotonic() - started)}")


def _last_log_line(log: Path) -> str:
    return last_line(log.read_text(errors="replace"))


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m telemetra.dev.kube.images",
        description="Build the platform's images with podman (no registry), tagged by content; print the tags "
        f"and record them in {tags_file()}.",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="build these images (and what they need)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        built = build_images(args.only)
    except ServerError as error:  # ImageError, or a failed Go build (its log is named on the first line)
        progress(str(error).splitlines()[0])
        return 1
    for image in built.values():
        print(f"{image.name:<26} {image.image:<48} {_megabytes(image.size):>8}")
    progress(f"{len(built)} images in {duration(time.monotonic() - started)}; tags in {tags_file()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
