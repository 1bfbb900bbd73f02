"""The scripts the images start, run here with stand-ins for the programs they exec (tini, java, initdb,
postgres) that record their arguments: the Spark entrypoint's driver and executor commands, the Kafka start
script's server.properties and storage formatting, the PostgreSQL entrypoint's first-start initialisation.
`make images` and the end-to-end journey run them for real."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPARK_ENTRYPOINT = REPO / "pipeline" / "docker" / "spark-entrypoint.sh"
KAFKA_START = REPO / "pipeline" / "docker" / "kafka-start.sh"
POSTGRES_ENTRYPOINT = REPO / "services" / "docker" / "postgresql-entrypoint.sh"

RECORDER = """#!/bin/bash
# records its name and arguments, one per line, then a blank line; reads stdin when told to
{{ echo "$(basename "$0")"; if [ $# -gt 0 ]; then printf '%s\\n' "$@"; fi; echo; }} >>"{log}"
{body}
"""


class Fakes:
    """A directory of stand-in programs put first on PATH; ``calls()`` returns what each was run with."""

    def __init__(self, root: Path):
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.log"

    def add(self, name: str, body: str = "") -> None:
        path = self.bin / name
        path.write_text(RECORDER.format(log=self.log, body=body))
        path.chmod(0o755)

    def calls(self) -> list[list[str]]:
        text = self.log.read_text() if self.log.exists() else ""
        return [block.split("\n") for block in text.split("\n\n") if block]

    def run(
        self, script: Path, *args: str, env: Mapping[str, str], cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        base = {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.bin.parent), "HOSTNAME": "pod-0"}
        return subprocess.run(
            ["bash", str(script), *args],
            env={**base, **env},
            cwd=cwd or self.bin.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return Fakes(tmp_path)


# -- Spark -------------------------------------------------------------------------------------------------

EXECUTOR_ENV = {
    "SPARK_HOME": "/opt/spark",
    "SPARK_EXECUTOR_MEMORY": "1g",
    "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@driver-svc:7078",
    "SPARK_EXECUTOR_ID": "3",
    "SPARK_EXECUTOR_CORES": "2",
    "SPARK_APPLICATION_ID": "spark-app-1",
    "SPARK_EXECUTOR_POD_IP": "10.1.0.7",
    "SPARK_EXECUTOR_POD_NAME": "demo-exec-3",
    "SPARK_RESOURCE_PROFILE_ID": "0",
    "SPARK_JAVA_OPT_0": "-Dspark.driver.port=7078",
    "SPARK_JAVA_OPT_1": "-Dspark.app.name=with spaces",
    "SPARK_JAVA_OPT_3": "-Dnot.contiguous=ignored",
}


def test_driver_runs_spark_submit_in_client_mode_under_tini(fakes: Fakes) -> None:
    fakes.add("tini")
    env = {"SPARK_HOME": "/opt/spark", "SPARK_DRIVER_BIND_ADDRESS": "10.1.0.5"}
    args = ["--properties-file", "/opt/spark/conf/spark.properties", "local:///opt/telemetra/spark_main.py"]
    result = fakes.run(SPARK_ENTRYPOINT, "driver", *args, env=env)
    assert result.returncode == 0, result.stderr
    ((tini, *command),) = fakes.calls()
    assert tini == "tini"
    assert command == [
        "-s", "--", "/opt/spark/bin/spark-submit", "--deploy-mode", "client",
        "--conf", "spark.driver.bindAddress=10.1.0.5",
        "--conf", "spark.executorEnv.SPARK_DRIVER_POD_IP=10.1.0.5", *args,
    ]  # fmt: skip


def test_executor_runs_the_kubernetes_executor_backend(fakes: Fakes, tmp_path: Path) -> None:
    fakes.add("tini")
    result = fakes.run(SPARK_ENTRYPOINT, "executor", env=EXECUTOR_ENV, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ((_, *command),) = fakes.calls()
    assert command[:3] == ["-s", "--", "java"]
    java = command[3:]
    # the JVM options in index order, each one argument, up to the first gap
    assert java[:4] == ["-Dspark.driver.port=7078", "-Dspark.app.name=with spaces", "-Xms1g", "-Xmx1g"]
    assert java[4:7] == [
        "-cp",
        f"/opt/spark/conf:/opt/spark/jars/*:{tmp_path}",
        "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
    ]
    options = dict(zip(java[7::2], java[8::2], strict=True))
    assert options == {
        "--driver-url": "spark://CoarseGrainedScheduler@driver-svc:7078",
        "--executor-id": "3",
        "--cores": "2",
        "--app-id": "spark-app-1",
        "--hostname": "10.1.0.7",
        "--resourceProfileId": "0",
        "--podName": "demo-exec-3",
    }


def test_executor_without_its_environment_fails_clearly(fakes: Fakes) -> None:
    fakes.add("tini")
    env = {k: v for k, v in EXECUTOR_ENV.items() if k != "SPARK_DRIVER_URL"}
    result = fakes.run(SPARK_ENTRYPOINT, "executor", env=env)
    assert result.returncode != 0 and "SPARK_DRIVER_URL" in result.stderr
    assert fakes.calls() == []


def test_other_commands_run_as_given_and_no_command_is_a_usage_error(fakes: Fakes) -> None:
    fakes.add("tini")
    assert fakes.run(SPARK_ENTRYPOINT, "spark-submit", "--version", env={"SPARK_HOME": "/x"}).returncode == 0
    assert fakes.calls() == [["tini", "-s", "--", "spark-submit", "--version"]]
    result = fakes.run(SPARK_ENTRYPOINT, env={"SPARK_HOME": "/x"})
    assert result.returncode == 2 and "usage:" in result.stderr


# -- Kafka -------------------------------------------------------------------------------------------------


def properties(path: Path) -> dict[str, str]:
    """A server.properties as Kafka reads it: the last line of a key wins."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return dict(pairs)


def run_kafka(fakes: Fakes, tmp_path: Path, env: Mapping[str, str]) -> tuple[dict[str, str], list[list[str]]]:
    fakes.add("java")
    result = fakes.run(KAFKA_START, env={"TMPDIR": str(tmp_path), "COLUMNS": "80", **env})
    assert result.returncode == 0, result.stderr
    return properties(tmp_path / "kafka" / "server.properties"), fakes.calls()


def test_kafka_single_node_defaults(fakes: Fakes, tmp_path: Path) -> None:
    config, (format_call, broker) = run_kafka(fakes, tmp_path, {})
    assert config["process.roles"] == "broker,controller"
    assert config["node.id"] == "0"
    assert config["controller.quorum.voters"] == "0@127.0.0.1:9093"
    assert config["listeners"] == "PLAINTEXT://:9092,CONTROLLER://:9093"
    assert config["advertised.listeners"] == "PLAINTEXT://pod-0:9092"
    assert config["log.dirs"] == "/var/lib/kafka/data"
    assert config["offsets.topic.replication.factor"] == "1"  # one voter: internal topics with one replica
    # formatting: idempotent, with a generated cluster id (22 characters of base64url)
    assert "kafka.tools.StorageTool" in format_call and "--ignore-formatted" in format_call
    cluster_id = format_call[format_call.index("--cluster-id") + 1]
    assert len(cluster_id) == 22 and set(cluster_id) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert broker[-2:] == ["kafka.Kafka", str(tmp_path / "kafka" / "server.properties")]
    assert "-Xmx512m" in broker


def test_kafka_settings_from_the_environment(fakes: Fakes, tmp_path: Path) -> None:
    voters = "0@kafka-0.kafka:9093,1@kafka-1.kafka:9093,2@kafka-2.kafka:9093,3@kafka-3.kafka:9093"
    config, (format_call, broker) = run_kafka(
        fakes,
        tmp_path,
        {
            "KAFKA_NODE_ID": "2",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": voters,
            "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka-2.kafka:9092",
            "KAFKA_CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qg",
            "KAFKA_LOG_DIRS": "/data/a,/data/b",
            "KAFKA_CFG_LOG_RETENTION_HOURS": "24",
            "KAFKA_CFG_OFFSETS_TOPIC_REPLICATION_FACTOR": "2",
            "KAFKA_HEAP_OPTS": "-Xms1g -Xmx1g",
        },
    )
    assert config["node.id"] == "2"
    assert config["controller.quorum.voters"] == voters
    assert config["advertised.listeners"] == "PLAINTEXT://kafka-2.kafka:9092"
    assert config["log.dirs"] == "/data/a,/data/b"
    assert config["log.retention.hours"] == "24"
    assert config["offsets.topic.replication.factor"] == "2"  # KAFKA_CFG_* wins over the default (3 here)
    assert config["transaction.state.log.replication.factor"] == "3"
    assert config["transaction.state.log.min.isr"] == "2"
    assert format_call[format_call.index("--cluster-id") + 1] == "MkU3OEVBNTcwNTJENDM2Qg"
    assert broker[1:3] == ["-Xms1g", "-Xmx1g"]


# -- PostgreSQL --------------------------------------------------------------------------------------------

INITDB = """
for argument in "$@"; do case "$argument" in --pwfile=*) cp "${argument#--pwfile=}" "$PGDATA/.password";; esac; done
echo 15 >"$PGDATA/PG_VERSION"; : >"$PGDATA/postgresql.conf"; : >"$PGDATA/pg_hba.conf"
"""
POSTGRES = """
if [ "$1" = --single ]; then cat >"$PGDATA/.single-user-input"; fi
"""


@pytest.fixture
def postgres_fakes(fakes: Fakes) -> Fakes:
    fakes.add("initdb", INITDB)
    fakes.add("postgres", POSTGRES)
    return fakes


def test_postgres_first_start_initialises_then_runs_the_server(postgres_fakes: Fakes, tmp_path: Path) -> None:
    pgdata = tmp_path / "data" / "pgdata"
    env = {
        "PGDATA": str(pgdata),
        "POSTGRES_USER": "telemetra",
        "POSTGRES_DB": 'tele"metra',
        "POSTGRES_PASSWORD": "s3cret",
        "POSTGRES_INITDB_ARGS": "--data-checksums",
    }
    result = postgres_fakes.run(POSTGRES_ENTRYPOINT, "postgres", env=env)
    assert result.returncode == 0, result.stderr
    initdb, single, server = postgres_fakes.calls()
    assert initdb[0] == "initdb" and "--username=telemetra" in initdb and "--data-checksums" in initdb
    assert "--auth-host=scram-sha-256" in initdb
    assert (pgdata / ".password").read_text() == "s3cret\n"
    assert oct(pgdata.stat().st_mode & 0o777) == "0o700"
    assert (pgdata / "postgresql.conf").read_text() == "listen_addresses = '*'\n"
    assert (pgdata / "pg_hba.conf").read_text() == "host all all all scram-sha-256\n"
    assert single[:2] == ["postgres", "--single"]
    assert (pgdata / ".single-user-input").read_text() == 'CREATE DATABASE "tele""metra"\n'
    assert server == ["postgres"]
    # a second start finds the cluster and only runs the server
    postgres_fakes.log.unlink()
    assert postgres_fakes.run(POSTGRES_ENTRYPOINT, "postgres", env=env).returncode == 0
    assert postgres_fakes.calls() == [["postgres"]]


def test_postgres_needs_a_password_to_initialise(postgres_fakes: Fakes, tmp_path: Path) -> None:
    result = postgres_fakes.run(POSTGRES_ENTRYPOINT, "postgres", env={"PGDATA": str(tmp_path / "pgdata")})
    assert result.returncode == 1 and "POSTGRES_PASSWORD" in result.stderr
    assert postgres_fakes.calls() == []


def test_postgres_runs_other_commands_as_given(postgres_fakes: Fakes, tmp_path: Path) -> None:
    postgres_fakes.add("pg_isready")
    result = postgres_fakes.run(
        POSTGRES_ENTRYPOINT, "pg_isready", "-h", "127.0.0.1", env={"PGDATA": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert postgres_fakes.calls() == [["pg_isready", "-h", "127.0.0.1"]]
