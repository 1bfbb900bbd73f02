"""The Dockerfiles, checked statically with dockerfile-parse (no Docker engine here; hadolint is not
installable): pinned bases, multi-stage builds where something is built, a non-root final user, no credentials
and no build tools in the final image, a build context that holds what they copy, entry points that exist, and a
Spark image whose connector is resolved at build time for the same Spark version everywhere. The scripts the
images run are exercised in test_image_scripts.py; `make images` builds them all (the tooling's own tests are in
dev/tests/kube/test_images.py)."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import tarfile
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from telemetra.dev.kube.dockerfiles import ignore_rules, is_ignored
from telemetra.dev.kube.images import IMAGES as BUILT_IMAGES
from telemetra.dev.kube.images import SPARK_OPERATOR_SOURCE, SPARK_OPERATOR_VERSION
from telemetra.dev.localstack.kafka import CANDIDATE_VERSIONS
from telemetra.operator.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[2]
DEV_TOOLING = REPO / "dev" / "src" / "telemetra" / "dev"
POM = REPO / "pipeline" / "docker" / "spark-kafka-pom.xml"  # shared with local mode (dev tooling)
KAFKA_POM = DEV_TOOLING / "localstack" / "kafka-pom.xml"
MAVEN = "{http://maven.apache.org/POM/4.0.0}"
SECRETISH = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL", re.IGNORECASE)
BUILD_TOOLS = {
    "maven",
    "gcc",
    "g++",
    "make",
    "build-essential",
    "npm",
    "nodejs",
    "git",
    "curl",
    "wget",
    "golang",
}
SPARK_OPERATOR_DOCKERFILE = "charts/operators/vendor/Dockerfile.spark-operator"


@dataclass(frozen=True)
class Expected:
    dockerfile: str
    healthcheck: str | None  # what the HEALTHCHECK runs; None: none, and a comment says why
    builds: bool = True  # compiles or resolves something in a build stage, so it is a multi-stage build


IMAGES = {
    "api": Expected("services/Dockerfile", "/health"),
    "operator": Expected("operator/Dockerfile", "/healthz"),
    "producer": Expected("pipeline/Dockerfile.producer", None),
    "spark": Expected("pipeline/Dockerfile.spark", None),
    "kafka": Expected("pipeline/Dockerfile.kafka", "/dev/tcp/127.0.0.1/9092"),
    "postgresql": Expected("services/Dockerfile.postgresql", "pg_isready", builds=False),
    "redis": Expected("services/Dockerfile.redis", None, builds=False),
}
PYTHON_IMAGES = ("api", "operator", "producer", "spark")


@dataclass
class Stage:
    image: str
    alias: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, value)

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]


@dataclass
class Dockerfile:
    path: Path
    stages: list[Stage]
    comments: list[str]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse(relative: str) -> Dockerfile:
    path = REPO / relative
    with path.open("rb") as handle:
        structure = DockerfileParser(fileobj=handle).structure
    stages: list[Stage] = []
    comments = []
    for item in structure:
        name, value = item["instruction"], item["value"]
        if name == "COMMENT":
            comments.append(value)
        elif name == "FROM":
            words = value.split()
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], alias))
        elif stages:  # (an ARG before the first FROM only parameterises FROM lines)
            stages[-1].instructions.append((name, value))
    return Dockerfile(path, stages, comments)


@pytest.fixture(params=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> tuple[str, Dockerfile]:
    name: str = request.param
    return name, parse(IMAGES[name].dockerfile)


def test_the_build_tooling_builds_these_dockerfiles() -> None:
    built = {spec.dockerfile for spec in BUILT_IMAGES}
    assert built == {e.dockerfile for e in IMAGES.values()} | {SPARK_OPERATOR_DOCKERFILE}


def test_stages_on_pinned_bases(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    if IMAGES[name].builds:
        assert len(dockerfile.stages) >= 2, f"{name}: not a multi-stage build"
    else:
        assert any(c.startswith("Single stage:") for c in dockerfile.comments), f"{name}: say why one stage"
    aliases = {s.alias for s in dockerfile.stages if s.alias}
    for stage in dockerfile.stages:
        if stage.image in aliases:
            continue
        assert "$" not in stage.image, f"{name}: base {stage.image} depends on a build argument"
        repository, _, tag = stage.image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {stage.image} has no explicit tag"
        assert tag != "latest", f"{name}: {stage.image} uses latest"
        # a patch release (python:3.11.14-…, node:20.19.4-…) or a Debian point release (debian:12.12-slim)
        exact = r"^\d+\.\d+\.\d+-" if repository != "debian" else r"^\d+\.\d+-slim$"
        assert re.match(exact, tag), f"{name}: {stage.image} is not pinned to an exact version"
    assert any("not digest" in c or "not by digest" in c for c in dockerfile.comments), (
        f"{name}: say why the bases are pinned by tag and not by digest"
    )


def test_final_stage_runs_as_a_non_root_user(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    users = dockerfile.final.values("USER")
    assert users, f"{name}: the final stage never sets USER (it would run as root)"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 100, f"{name}: USER {users[-1]} is not a numeric non-root uid"
    assert not gid or (gid.isdigit() and int(gid) > 0), name
    after_user = dockerfile.final.instructions[
        max(i for i, (n, _) in enumerate(dockerfile.final.instructions) if n == "USER") :
    ]
    assert not any(n == "RUN" for n, _ in after_user), f"{name}: RUN after USER ({after_user})"
    # runAsNonRoot needs a numeric USER: the kubelet cannot check a user name.
    assert all(v.split(":")[0].isdigit() for v in users), name


def test_no_credentials_in_the_image(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    for stage in dockerfile.stages:
        for instruction, value in stage.instructions:
            if instruction in {"ENV", "ARG", "LABEL"}:
                assert not SECRETISH.search(value), f"{name}: {instruction} {value}"
            if instruction == "ADD":
                assert "://" not in value, f"{name}: ADD of a URL (unverified download): {value}"
            if instruction == "RUN":
                assert not re.search(r"(curl|wget)[^|]*\|\s*(ba)?sh", value), (
                    f"{name}: pipes a download into sh"
                )


def test_healthcheck_where_it_means_something(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    has_port = bool(dockerfile.final.values("EXPOSE"))
    checks = dockerfile.final.values("HEALTHCHECK")
    expected = IMAGES[name].healthcheck
    if expected is not None:
        assert has_port and checks, f"{name}: a server image needs a HEALTHCHECK"
        assert expected in checks[0], checks
    else:
        assert not checks, name
        assert any(c.startswith("No HEALTHCHECK:") for c in dockerfile.comments), f"{name}: say why not"


def ignored(relative: str) -> bool:
    return is_ignored(relative, ignore_rules(REPO))


def test_ignore_rules_work_as_intended() -> None:
    for path in (".venv/bin/python", "frontend/node_modules/x/y.js", "pipeline/tests/test_x.py", ".git/HEAD"):
        assert ignored(path), path
    for path in ("pipeline/src/telemetra/cli.py", "frontend/src/App.tsx", "pyproject.toml", "README.md"):
        assert not ignored(path), path


def copied_files(dockerfile: Dockerfile) -> list[str]:
    """The context paths the Dockerfile's COPY instructions read (not those copying from a stage)."""
    copies = [v for stage in dockerfile.stages for n, v in stage.instructions if n == "COPY"]
    return [source for value in copies if "--from" not in value for source in value.split()[:-1]]


def test_what_the_build_copies_is_in_the_context(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    for relative in copied_files(dockerfile):
        assert (REPO / relative).exists(), f"{name}: COPY {relative} does not exist"
        assert not ignored(relative.rstrip("/")), f"{name}: {relative} is in .dockerignore"


def test_the_scripts_images_run_are_executable_and_valid(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    for relative in copied_files(dockerfile):
        if relative.endswith(".sh"):
            shell = "bash" if (REPO / relative).read_text().startswith("#!/bin/bash") else "sh"
            subprocess.run([shell, "-n", str(REPO / relative)], check=True)
            assert (REPO / relative).stat().st_mode & 0o111, f"{name}: {relative} is not executable"


def test_entry_points_exist(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    final = dockerfile.final
    command = (final.values("ENTRYPOINT") or final.values("CMD"))[-1]
    copies = final.values("COPY")
    if name == "api":
        assert '"-m", "telemetra.services"' in command
    elif name == "operator":
        assert '"-m", "telemetra.operator", "run"' in command
        run = subprocess.run(
            [sys.executable, "-m", "telemetra.operator", "run", "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
    elif name == "producer":
        assert command == '["telemetra"]'
        scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
        assert scripts["telemetra"] == "telemetra.apps.cli:main"
    elif name == "spark":
        assert command == '["/opt/entrypoint.sh"]'  # driver/executor modes of Spark on Kubernetes
        assert "pipeline/docker/spark-entrypoint.sh /opt/entrypoint.sh" in copies
        assert "pipeline/docker/spark_main.py /opt/telemetra/spark_main.py" in copies
    elif name == "kafka":  # the chart's contract
        assert command == '["/opt/kafka/bin/telemetra-kafka-start"]'
        assert "pipeline/docker/kafka-start.sh /opt/kafka/bin/telemetra-kafka-start" in copies
    elif name == "postgresql":  # the official image's: the entrypoint initialises, then runs the command
        assert command == '["docker-entrypoint.sh"]' and final.values("CMD") == ['["postgres"]']
        assert "services/docker/postgresql-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" in copies
    else:
        assert name == "redis" and command == '["redis-server"]'


def test_final_images_carry_no_build_tools(image: tuple[str, Dockerfile]) -> None:
    """Nothing in the final stage, or the stages it is built on, installs compilers, Maven or npm; pip's
    cache is off; the Python images install the runtime extras only (no dev/test tooling)."""
    name, dockerfile = image
    by_alias = {s.alias: s for s in dockerfile.stages if s.alias}
    stage: Stage | None = dockerfile.final
    while stage is not None:
        for run in stage.values("RUN"):
            for packages in re.findall(r"apt-get install ([^&]*)", run):
                installed = {word for word in packages.split() if not word.startswith("-")}
                assert not installed & BUILD_TOOLS, (
                    f"{name}: the final image installs {installed & BUILD_TOOLS}"
                )
            assert "pip install" not in run or "--no-cache-dir" in run, f"{name}: pip keeps a cache: {run}"
        stage = by_alias.get(stage.image)
    for stage in dockerfile.stages:
        for run in stage.values("RUN"):
            if "pip install" in run and stage is not dockerfile.final:
                env = " ".join(stage.values("ENV"))
                assert "PIP_NO_CACHE_DIR=1" in env, f"{name}: a pip cache in stage {stage.alias}"
            for extras in re.findall(r"requirements\.py pyproject\.toml([^>]*)>", run):
                assert set(extras.split()) <= {"spark", "operator"}, f"{name}: installs {extras}"
    if name in PYTHON_IMAGES:
        # the package comes from the product source roots: the development tooling (dev/) is not copied
        sources = [s for s in copied_files(dockerfile) if s.rstrip("/").endswith("/src")]
        assert sorted(sources) == sorted(f"{part}/src" for part in PRODUCT_PARTS), f"{name}: copies {sources}"


def test_python_images_match_the_project_interpreter() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in requires.removeprefix(">=").split("."))
    for expected in IMAGES.values():
        for stage in parse(expected.dockerfile).stages:
            if stage.image.startswith("python:"):
                version = tuple(int(x) for x in stage.image.split(":")[1].split("-")[0].split("."))
                assert version[:2] >= minimum, (
                    f"{expected.dockerfile}: {stage.image} is older than {requires}"
                )
                assert version[:2] == sys.version_info[:2], (
                    f"{expected.dockerfile}: tests run on another Python"
                )


def test_dockerignore_keeps_local_state_and_credentials_out() -> None:
    for path in (
        ".venv/lib",
        "frontend/dist/index.html",
        ".telemetra/telemetra.db",
        "deploy/.env",
        "tls/x.key",
    ):
        assert ignored(path), path


# -- what the images leave out --------------------------------------------------------------------------------

# The wheel (and so every image) holds the product source roots only (pyproject.toml's only-include); the
# development tooling lives in dev/src (telemetra.dev) and dev/tests/test_wheel.py checks the built wheel.
WHEEL = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
PRODUCT_PARTS = tuple(path.split("/")[0] for path in WHEEL["only-include"])
SOURCE_ROOTS = [REPO / part / "src" for part in PRODUCT_PARTS]
DEV_PACKAGE = "telemetra.dev"


def test_the_wheel_is_built_from_the_product_roots_only() -> None:
    assert all(
        path == f"{part}/src/telemetra"
        for path, part in zip(WHEEL["only-include"], PRODUCT_PARTS, strict=True)
    )
    assert "dev" not in PRODUCT_PARTS
    assert importlib.util.find_spec(DEV_PACKAGE) is not None  # the editable install has it (dev-mode-dirs)


def test_the_product_holds_no_dev_tooling() -> None:
    for root in SOURCE_ROOTS:
        for path in root.rglob("*"):
            relative = path.relative_to(REPO)
            assert not (path.is_dir() and path.name in {"localstack", "dev", "upstream-crds"}), relative
            assert not path.name.startswith("pytest_plugin") and path.name != "testing.py", relative


def test_the_product_never_imports_the_dev_tooling() -> None:
    def is_dev(module: str) -> bool:
        return module == DEV_PACKAGE or module.startswith(DEV_PACKAGE + ".")

    for root in SOURCE_ROOTS:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                assert not any(is_dev(n) for n in names), f"{path.relative_to(REPO)} imports {names}"


# -- the Spark image --------------------------------------------------------------------------------------


def pom_spark_version() -> str:
    root = ET.parse(POM).getroot()
    version = root.findtext(f"{MAVEN}properties/{MAVEN}spark.version")
    assert version, f"{POM} has no spark.version"
    return version


def test_spark_connector_is_resolved_in_a_build_stage() -> None:
    dockerfile = parse(IMAGES["spark"].dockerfile)
    connector = next(s for s in dockerfile.stages if s.alias == "connector")
    assert connector.image == "jre"  # Debian's Maven on the same Java runtime (no maven:* base)
    # the POM telemetra.dev.localstack.spark_jars resolves for local mode: one definition of the connector's jars
    assert f"{POM.relative_to(REPO)} pom.xml" in connector.values("COPY")
    assert any("resolve-jars.sh pom.xml /build/jars" in run for run in connector.values("RUN"))
    resolve = (REPO / "pipeline" / "docker" / "resolve-jars.sh").read_text()
    assert "dependency:copy-dependencies" in resolve and "-DincludeScope=runtime" in resolve
    assert (
        "--from=connector /build/jars/ /opt/venv/lib/python3.11/site-packages/pyspark/jars/"
        in dockerfile.final.values("COPY")
    )
    root = ET.parse(POM).getroot()
    artifacts = [d.findtext(f"{MAVEN}artifactId") for d in root.iter(f"{MAVEN}dependency")]
    assert artifacts == ["spark-sql-kafka-0-10_2.13"]


def test_spark_home_is_the_pyspark_wheel() -> None:
    """SPARK_HOME=/opt/spark links to the installed pyspark, whose jars/ and bin/spark-submit are Spark's."""
    dockerfile = parse(IMAGES["spark"].dockerfile)
    assert dockerfile.final.image == "jre"
    assert not any(s.image.startswith("apache/spark") for s in dockerfile.stages)
    links = " ".join(dockerfile.final.values("RUN"))
    assert "ln -s /opt/venv/lib/python3.11/site-packages/pyspark /opt/spark" in links
    jre = next(s for s in dockerfile.stages if s.alias == "jre")
    installed = " ".join(jre.values("RUN"))
    for package in ("openjdk-17-jre-headless", "tini", "libnss-wrapper"):
        assert package in installed, package
    spec = importlib.util.find_spec("pyspark")
    assert spec is not None and spec.origin is not None
    home = Path(spec.origin).parent
    assert (home / "bin" / "spark-submit").is_file() and (home / "jars").is_dir()


def test_the_job_uses_the_baked_connector_without_maven() -> None:
    """A job outside spark-submit takes the connector from TELEMETRA_SPARK_JARS (telemetra.spark.jars): the image
    names the one it copied into /opt/spark/jars, so a job start resolves and downloads nothing."""
    from telemetra.spark.jars import JARS_ENV

    env = dict(
        line.split("=", 1)
        for value in parse(IMAGES["spark"].dockerfile).final.values("ENV")
        for line in value.split()
        if "=" in line
    )
    assert env[JARS_ENV] == f"/opt/spark/jars/spark-sql-kafka-0-10_2.13-{pom_spark_version()}.jar"
    assert env["SPARK_HOME"] == "/opt/spark"
    assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == "/opt/venv/bin/python"


def test_one_spark_version_everywhere() -> None:
    """pyspark (the image's Spark, local mode and tests), the connector, the chart's default and the operator's."""
    version = pom_spark_version()
    venv = next(s for s in parse(IMAGES["spark"].dockerfile).stages if s.alias == "venv")
    assert any("requirements.py pyproject.toml spark" in run for run in venv.values("RUN"))
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["spark"]
    assert f"pyspark=={version}" in extras
    chart_values = yaml.safe_load((REPO / "charts" / "telemetra" / "values.yaml").read_text())
    assert chart_values["spark"]["version"] == version
    assert OperatorSettings.model_fields["spark_version"].default == version
    import pyspark

    assert pyspark.__version__ == version


def test_the_connector_is_not_part_of_spark() -> None:
    """What the image must add: Spark's distribution (the pyspark jars are the same) lacks the connector."""
    spec = importlib.util.find_spec("pyspark")
    assert spec is not None and spec.origin is not None
    shipped = {
        re.sub(r"-\d[^-]*\.jar$", "", jar.name) for jar in (Path(spec.origin).parent / "jars").glob("*.jar")
    }
    assert "spark-core_2.13" in shipped
    for needed in ("spark-sql-kafka-0-10_2.13", "spark-token-provider-kafka-0-10_2.13", "kafka-clients"):
        assert needed not in shipped, needed


def test_spark_main_calls_the_job() -> None:
    source = (REPO / "pipeline" / "docker" / "spark_main.py").read_text()
    tree = ast.parse(source)
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert any(
        i.module == "telemetra.apps.spark_job" and [a.name for a in i.names] == ["main"] for i in imports
    )
    assert "raise SystemExit(main())" in source
    assert importlib.util.find_spec("telemetra.apps.spark_job") is not None, (
        "telemetra.apps.spark_job is missing"
    )


# -- Kafka and the Spark operator ---------------------------------------------------------------------------


def test_kafka_is_the_local_brokers_version() -> None:
    dockerfile = parse(IMAGES["kafka"].dockerfile)
    jars = next(s for s in dockerfile.stages if s.alias == "jars")
    assert f"KAFKA_VERSION={CANDIDATE_VERSIONS[0]}" in jars.values("ARG")
    assert f"{KAFKA_POM.relative_to(REPO)} pom.xml" in jars.values("COPY")
    assert dockerfile.final.values("USER") == ["10001:10001"]
    assert dockerfile.final.values("EXPOSE") == ["9092 9093"]


def test_the_spark_operator_runs_the_way_upstreams_chart_starts_it() -> None:
    """Upstream's chart gives only args (`controller start`, `webhook start`) to the image's entrypoint.sh,
    which runs /usr/bin/spark-operator under tini; our image keeps that layout on the Spark image."""
    dockerfile = parse(SPARK_OPERATOR_DOCKERFILE)
    (stage,) = dockerfile.stages
    assert stage.image == "${SPARK_IMAGE}"  # the telemetra-spark image's content tag, from `make images`
    assert stage.values("USER")[-1] == "185:185"
    assert stage.values("ENTRYPOINT") == ['["/usr/bin/entrypoint.sh"]']
    assert {"spark-operator /usr/bin/spark-operator", "entrypoint.sh /usr/bin/entrypoint.sh"} <= set(
        stage.values("COPY")
    )
    top = f"spark-operator-{SPARK_OPERATOR_VERSION}"
    with tarfile.open(SPARK_OPERATOR_SOURCE) as archive:
        entrypoint = archive.extractfile(f"{top}/entrypoint.sh")
        chart = archive.extractfile(f"{top}/charts/spark-operator-chart/templates/controller/deployment.yaml")
        assert entrypoint is not None and chart is not None
        assert "/usr/bin/tini -s -- /usr/bin/spark-operator" in entrypoint.read().decode()
        template = chart.read().decode()
    assert "command:" not in template and "- controller\n        - start" in template
    operators = yaml.safe_load((REPO / "charts" / "operators" / "operators.yaml").read_text())["operators"]
    assert f"v{operators['spark-operator']['version']}" == SPARK_OPERATOR_VERSION
