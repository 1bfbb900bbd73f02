"""The four Dockerfiles, checked statically with dockerfile-parse (no Docker engine here; hadolint is not
installable): multi-stage builds on pinned bases, a non-root final user, no credentials, a build context that
holds what they copy, entry points that exist, and a Spark image whose connector is resolved at build time
for the same Spark version everywhere."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from telemetra.operator.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[2]
POM = REPO / "pipeline" / "src" / "telemetra" / "spark" / "spark-kafka-pom.xml"  # shared with local mode
MAVEN = "{http://maven.apache.org/POM/4.0.0}"
SECRETISH = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL", re.IGNORECASE)

IMAGES = {
    "api": ("services/Dockerfile", True),
    "operator": ("operator/Dockerfile", True),
    "producer": ("pipeline/Dockerfile.producer", False),
    "spark": ("pipeline/Dockerfile.spark", False),
}


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
        else:
            stages[-1].instructions.append((name, value))
    return Dockerfile(path, stages, comments)


@pytest.fixture(params=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> tuple[str, Dockerfile]:
    name: str = request.param
    return name, parse(IMAGES[name][0])


def test_multi_stage_on_pinned_bases(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    assert len(dockerfile.stages) >= 2, f"{name}: not a multi-stage build"
    aliases = {s.alias for s in dockerfile.stages if s.alias}
    for stage in dockerfile.stages:
        if stage.image in aliases:
            continue
        assert "$" not in stage.image, f"{name}: base {stage.image} depends on a build argument"
        repository, _, tag = stage.image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {stage.image} has no explicit tag"
        assert tag != "latest", f"{name}: {stage.image} uses latest"
        assert re.match(r"^\d+\.\d+\.\d+", tag), f"{name}: {stage.image} is not pinned to an exact version"
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
    if IMAGES[name][1]:
        assert has_port and checks, f"{name}: a server image needs a HEALTHCHECK"
        assert "/health" in checks[0], checks
    else:
        assert not has_port and not checks, name
        assert any(c.startswith("No HEALTHCHECK:") for c in dockerfile.comments), f"{name}: say why not"


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: a path is excluded when it or one of its parents matches a pattern."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = re.escape(pattern.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        return re.compile("^" + out.replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "$")

    parts = Path(relative).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(regex(p).match(c) for p in patterns for c in candidates)


def test_ignore_rules_work_as_intended() -> None:
    patterns = dockerignore_patterns()
    for path in (".venv/bin/python", "frontend/node_modules/x/y.js", "pipeline/tests/test_x.py", ".git/HEAD"):
        assert ignored(path, patterns), path
    for path in ("pipeline/src/telemetra/cli.py", "frontend/src/App.tsx", "pyproject.toml", "README.md"):
        assert not ignored(path, patterns), path


def test_what_the_build_copies_is_in_the_context(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    patterns = dockerignore_patterns()
    for stage in dockerfile.stages:
        for source in (v for n, v in stage.instructions if n == "COPY" and not v.startswith("--from")):
            *sources, _ = source.split()
            for relative in sources:
                assert (REPO / relative).exists(), f"{name}: COPY {relative} does not exist"
                assert not ignored(relative.rstrip("/"), patterns), f"{name}: {relative} is in .dockerignore"


def test_entry_points_exist(image: tuple[str, Dockerfile]) -> None:
    name, dockerfile = image
    final = dockerfile.final
    command = (final.values("ENTRYPOINT") or final.values("CMD"))[-1]
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
        assert scripts["telemetra"] == "telemetra.cli:main"
    else:
        assert command == '["/opt/entrypoint.sh"]'  # Spark's Kubernetes entrypoint (driver/executor modes)
        copies = final.values("COPY")
        assert any("--from=spark" in c and "/opt/entrypoint.sh" in c for c in copies)
        assert "pipeline/docker/spark_main.py /opt/telemetra/spark_main.py" in copies


def test_python_images_match_the_project_interpreter() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in requires.removeprefix(">=").split("."))
    for relative, _ in IMAGES.values():
        for stage in parse(relative).stages:
            if stage.image.startswith("python:"):
                version = tuple(int(x) for x in stage.image.split(":")[1].split("-")[0].split("."))
                assert version[:2] >= minimum, f"{relative}: {stage.image} is older than {requires}"
                assert version[:2] == sys.version_info[:2], f"{relative}: tests run on another Python minor"


def test_dockerignore_keeps_local_state_and_credentials_out() -> None:
    patterns = dockerignore_patterns()
    for path in (
        ".venv/lib",
        "frontend/dist/index.html",
        ".telemetra/telemetra.db",
        "deploy/.env",
        "tls/x.key",
    ):
        assert ignored(path, patterns), path


# -- the Spark image --------------------------------------------------------------------------------------


def pom_spark_version() -> str:
    root = ET.parse(POM).getroot()
    version = root.findtext(f"{MAVEN}properties/{MAVEN}spark.version")
    assert version, f"{POM} has no spark.version"
    return version


def test_spark_connector_is_resolved_in_a_build_stage() -> None:
    dockerfile = parse(IMAGES["spark"][0])
    connector = next(s for s in dockerfile.stages if s.alias == "connector")
    assert connector.image.startswith("maven:")
    # the POM telemetra.spark.jars resolves for local mode: one definition of the connector's jars
    assert f"{POM.relative_to(REPO)} pom.xml" in connector.values("COPY")
    (run,) = connector.values("RUN")
    assert "dependency:copy-dependencies" in run and "-DincludeScope=runtime" in run
    assert "--from=connector /build/jars/ /opt/spark/jars/" in dockerfile.final.values("COPY")
    root = ET.parse(POM).getroot()
    artifacts = [d.findtext(f"{MAVEN}artifactId") for d in root.iter(f"{MAVEN}dependency")]
    assert artifacts == ["spark-sql-kafka-0-10_2.13"]


def test_the_job_uses_the_baked_connector_without_maven() -> None:
    """telemetra.spark.jars resolves jars with Maven unless TELEMETRA_SPARK_JARS names them: the image names
    the connector it copied into /opt/spark/jars, so a job start downloads nothing."""
    from telemetra.spark.jars import JARS_ENV

    env = dict(
        line.split("=", 1)
        for value in parse(IMAGES["spark"][0]).final.values("ENV")
        for line in value.split()
        if "=" in line
    )
    assert env[JARS_ENV] == f"/opt/spark/jars/spark-sql-kafka-0-10_2.13-{pom_spark_version()}.jar"
    assert env["SPARK_HOME"] == "/opt/spark"
    assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == "/usr/local/bin/python3"


def test_one_spark_version_everywhere() -> None:
    """Base image, connector, pyspark (local mode and tests), the chart's default and the operator's."""
    version = pom_spark_version()
    spark_stage = next(s for s in parse(IMAGES["spark"][0]).stages if s.alias == "spark")
    assert spark_stage.image.startswith(f"apache/spark:{version}-scala2.13-")
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
    assert any(i.module == "telemetra.spark.job" and [a.name for a in i.names] == ["main"] for i in imports)
    assert "raise SystemExit(main())" in source
    assert importlib.util.find_spec("telemetra.spark.job") is not None, "telemetra.spark.job is missing"
