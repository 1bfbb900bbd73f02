"""Smoke tests of the images `make images` built (skipped until it ran): each starts as its non-root user with a
read-only root filesystem and does its job — the API serves /health and the dashboard, the Spark image runs a
local job through its Kubernetes entrypoint with the Kafka source on the classpath, Kafka formats its log
directory and serves clients on 127.0.0.1, PostgreSQL initialises and accepts password logins, Redis answers —
and the host is left as it was. Containers run with --network none, except Kafka (host network, loopback only)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from telemetra.dev.kube.images import tags_file
from telemetra.dev.kube.podman import HostState, podman_env
from telemetra.dev.localstack.process import free_port

pytestmark = pytest.mark.slow

RECORDED = json.loads(tags_file().read_text()) if tags_file().is_file() else {}
ENV = podman_env() if RECORDED else {}


def image(name: str) -> str:
    reference = RECORDED.get(name, {}).get("image")
    exists = reference and subprocess.run(["podman", "image", "exists", reference], env=ENV).returncode == 0
    if not exists:
        pytest.skip(f"{name} is not built: run `make images`")
    return str(reference)


def run(name: str, *args: str, options: tuple[str, ...] = (), timeout: float = 180) -> str:
    """``podman run --rm`` of the image (no network, read-only root, a /tmp); its output, or a failure."""
    command = [
        "podman", "run", "--rm", "--no-healthcheck", "--read-only", "--tmpfs=/tmp",
        *options, *(("--network=none",) if "--network=host" not in options else ()), image(name), *args,
    ]  # fmt: skip
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result.stdout


def owned_dir(tmp_path: Path, name: str, uid: int) -> Path:
    directory = tmp_path / name
    directory.mkdir(mode=0o700)
    os.chown(directory, uid, uid)
    return directory


@pytest.fixture(autouse=True)
def host_kept() -> Iterator[None]:
    """Restore what podman changed. (Cgroups and podman's directories are not compared afterwards: another
    podman user on this machine, e.g. a node loading images, may hold them at the same time.)"""
    state = HostState.capture()
    yield
    state.restore()
    assert HostState.capture().sysctls == state.sysctls


def test_api_serves_health_and_the_dashboard() -> None:
    script = """
import os, subprocess, time, urllib.request
env = dict(os.environ, TELEMETRA_STORE_URL="sqlite:////tmp/t.db", TELEMETRA_CACHE_URL="memory://",
           TELEMETRA_HOST="127.0.0.1")
server = subprocess.Popen(["python", "-m", "telemetra.services"], env=env)
try:
    for _ in range(100):
        try:
            health = urllib.request.urlopen("http://127.0.0.1:8000/health").read()
            break
        except OSError:
            time.sleep(0.2)
    page = urllib.request.urlopen("http://127.0.0.1:8000/").read()
    print(health.decode(), b"<div id=\\"root\\">" in page, os.getuid())
finally:
    server.terminate()
"""
    assert run("telemetra-api", "python", "-c", script).split() == ['{"status":"ok"}', "True", "10001"]


@pytest.mark.parametrize(
    ("name", "command", "expected"),
    [
        ("telemetra-operator", ("python", "-m", "telemetra.operator", "run", "--help"), "usage:"),
        ("telemetra-producer", ("--help",), "usage: telemetra"),
    ],
)
def test_entry_points_start(name: str, command: tuple[str, ...], expected: str) -> None:
    assert expected in run(name, *command)


@pytest.mark.parametrize(
    "name", ["telemetra-api", "telemetra-operator", "telemetra-producer", "telemetra-spark"]
)
def test_python_images_carry_the_product_without_test_tooling(name: str) -> None:
    """The product imports; the development tooling (telemetra.dev: local servers, the local Kubernetes
    tooling and its upstream CRDs, test helpers, pytest plugins) is nowhere in site-packages."""
    script = """
import importlib.util, pathlib, shutil, sysconfig
import telemetra.services.server, telemetra.spark.jars, telemetra.apps.cli
package = pathlib.Path(sysconfig.get_path("purelib")) / "telemetra"
dev = [str(p.relative_to(package)) for p in package.rglob("*") if p.name in ("dev", "testing.py", "upstream-crds")
       or "localstack" in p.name or p.name.startswith("pytest_plugin")]
gone = ["telemetra.dev", "pytest", "hypothesis", "mypy"]
tools = [t for t in ("gcc", "make", "mvn", "npm") if shutil.which(t)]
print(dev, [m for m in gone if importlib.util.find_spec(m)], tools)
"""
    assert run(name, "python", "-c", script, options=("--entrypoint=",)).strip() == "[] [] []"


def test_spark_runs_a_local_job_through_its_entrypoint(tmp_path: Path) -> None:
    job = tmp_path / "job.py"
    job.write_text(
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.getOrCreate()\n"
        "kafka = spark.readStream.format('kafka').option('kafka.bootstrap.servers', '127.0.0.1:1')"
        ".option('subscribe', 'x').load()\n"
        "print('result', spark.range(5).count(), kafka.isStreaming)\n"
        "spark.stop()\n"
    )
    tmp_path.chmod(0o755)  # readable by the image's user
    output = run(
        "telemetra-spark", "driver", "--master", "local[1]", "--conf", "spark.ui.enabled=false", "/job/job.py",
        options=(f"--volume={tmp_path}:/job:ro", "--env=SPARK_DRIVER_BIND_ADDRESS=127.0.0.1"),
    )  # fmt: skip
    assert "result 5 True" in output
    assert "version 4.2.0" in run("telemetra-spark", "bash", "-c", "spark-submit --version 2>&1")


def test_spark_operator_runs_upstreams_entrypoint() -> None:
    assert "Spark operator" in run("telemetra-spark-operator", "--help")
    assert "v2.5.2" in run("telemetra-spark-operator", "version")


def test_kafka_formats_once_and_serves_clients(tmp_path: Path) -> None:
    data = owned_dir(tmp_path, "data", 10001)
    port, controller = free_port(), free_port()
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    name = f"telemetra-kafka-smoke-{uuid.uuid4().hex[:8]}"
    options = (
        "--network=host", f"--volume={data}:/var/lib/kafka/data", f"--name={name}",
        f"--env=KAFKA_CLUSTER_ID={cluster_id}",
        f"--env=KAFKA_CFG_LISTENERS=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"--env=KAFKA_CONTROLLER_QUORUM_VOTERS=0@127.0.0.1:{controller}",
        f"--env=KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:{port}", "--env=KAFKA_HEAP_OPTS=-Xmx256m",
    )  # fmt: skip
    for attempt in ("format", "restart"):
        command = ["podman", "run", "-d", "--no-healthcheck", "--read-only", "--tmpfs=/tmp", *options]
        subprocess.run([*command, image("telemetra-kafka")], env=ENV, capture_output=True, check=True)
        try:
            received = asyncio.run(_round_trip(f"127.0.0.1:{port}", attempt))
            logs = subprocess.run(["podman", "logs", name], env=ENV, capture_output=True, text=True).stdout
            assert received == attempt.encode(), logs[-3000:]
        finally:  # stop (SIGTERM: a clean shutdown), then remove: `rm` waits for podman's cleanup
            subprocess.run(["podman", "stop", "-t", "30", name], env=ENV, capture_output=True, check=False)
            subprocess.run(["podman", "rm", "-f", name], env=ENV, capture_output=True, check=False)
    assert (data / "meta.properties").read_text().count(cluster_id) == 1


async def _round_trip(bootstrap: str, value: str) -> bytes | None:
    """Produce ``value`` once the broker listens (None if it never does), then consume up to it."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, request_timeout_ms=10000
    )
    for _ in range(90):  # the broker takes a few seconds to start
        try:
            await producer.start()
            break
        except KafkaConnectionError:
            await asyncio.sleep(1.0)
    else:
        return None
    try:
        await producer.send_and_wait("smoke", value.encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer("smoke", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        async for record in consumer:
            if record.value == value.encode():
                return record.value
    finally:
        await consumer.stop()
    return None


def test_postgresql_initialises_on_first_start(tmp_path: Path) -> None:
    data, socket = owned_dir(tmp_path, "data", 999), owned_dir(tmp_path, "run", 999)
    script = """
(docker-entrypoint.sh postgres >/tmp/postgres.log 2>&1 &)
for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -U telemetra -d telemetra && break; sleep 0.2; done
PGPASSWORD=s3cret psql -h 127.0.0.1 -U telemetra -d telemetra -Atc 'select current_user, current_database()'
psql -h 127.0.0.1 -U telemetra -d telemetra -w -c 'select 1' 2>&1 | grep -o 'no password supplied'
pg_ctl stop -m fast >/dev/null
"""
    output = run(
        "telemetra-postgresql", "bash", "-c", script,
        options=(
            f"--volume={data}:/var/lib/postgresql/data", f"--volume={socket}:/var/run/postgresql",
            "--env=POSTGRES_USER=telemetra", "--env=POSTGRES_DB=telemetra", "--env=POSTGRES_PASSWORD=s3cret",
            "--env=PGDATA=/var/lib/postgresql/data/pgdata",
        ),
    )  # fmt: skip
    assert output.split() == ["telemetra|telemetra", "no", "password", "supplied"]
    assert (data / "pgdata" / "PG_VERSION").read_text().strip() == "15"


def test_redis_answers_with_its_password(tmp_path: Path) -> None:
    data = owned_dir(tmp_path, "data", 999)
    script = """
(redis-server --requirepass pw --dir /data --appendonly yes --save '' --port 6390 >/tmp/redis.log &)
for _ in $(seq 50); do REDISCLI_AUTH=pw redis-cli -p 6390 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
REDISCLI_AUTH=pw redis-cli -p 6390 set key value; redis-cli -p 6390 get key; REDISCLI_AUTH=pw redis-cli -p 6390 shutdown
id -u
"""
    output = run("telemetra-redis", "bash", "-c", script, options=(f"--volume={data}:/data",))
    assert output.split() == ["OK", "NOAUTH", "Authentication", "required.", "999"]
