"""A real single-node Apache Kafka 4.x broker (KRaft, combined broker + controller) without Docker.

:func:`ensure_kafka_jars` resolves the broker's runtime classpath from Maven Central once per version into
``${XDG_CACHE_HOME:-~/.cache}/telemetra/kafka-<version>/libs``; :class:`KafkaBroker` formats a data dir
and runs ``kafka.Kafka`` on it with the local JVM (Java 17+). Used by the local stack, the pytest fixtures
``kafka_broker`` and ``secure_kafka_broker`` and the benchmarks. With ``sasl_users``, its one client listener
is SASL_SSL (SCRAM-SHA-512, a throwaway CA and certificate made with openssl). In the foreground::

    python -m telemetra.dev.localstack.kafka [--port N] [--data-dir D]    # prints KAFKA_BOOTSTRAP=127.0.0.1:N
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from telemetra.dev.localstack.maven import MavenError, is_resolved, resolve_libs
from telemetra.dev.localstack.process import (
    LocalServer,
    ServerError,
    cache_root,
    free_port,
    openssl,
    port_open,
    progress,
    serve_in_foreground,
    tail,
    terminate,
    track,
)
from telemetra.sinks.kafka_security import PLAINTEXT, KafkaSecurity

# Tried in order when no version is asked for: the first is the tested one, the others are served fallbacks.
CANDIDATE_VERSIONS = ("4.1.1", "4.1.2", "4.2.1")
VERSION_ENV = "TELEMETRA_KAFKA_VERSION"
DEFAULT_CLI_PORT = 9092

_RESOURCES = Path(__file__).resolve().parent
_POM = _RESOURCES / "kafka-pom.xml"
_LOG4J_CONFIG = _RESOURCES / "log4j2.properties"
_START_MARKER = "---- telemetra: starting Kafka"

# kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS; the heap is set per broker.
_JVM_OPTS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)

# Single node on a small machine: internal topics with one partition and replica (the default 50 partitions
# make the first consumer-group join take seconds), no initial rebalance delay, few threads.
TEST_TUNING: Mapping[str, str] = {
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "num.recovery.threads.per.data.dir": "1",
    "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
    "auto.create.topics.enable": "true",
}

T = TypeVar("T")


class KafkaSetupError(ServerError):
    """Java, Maven or the broker is not usable; the message says what went wrong and where to look."""


# ---------------------------------------------------------------------------------------------------- jars


def ensure_kafka_jars(version: str | None = None) -> Path:
    """The ``libs`` dir with the broker's classpath, resolved from Maven Central on first use.

    Without ``version`` (or ``$TELEMETRA_KAFKA_VERSION``), a cached candidate is used, else the candidates are
    resolved in order until one succeeds.
    """
    pinned = version or os.environ.get(VERSION_ENV)
    candidates = [pinned] if pinned else list(CANDIDATE_VERSIONS)
    for candidate in candidates:
        if is_resolved(_version_home(candidate)):
            return _version_home(candidate) / "libs"
    failures = []
    for candidate in candidates:
        try:
            return resolve_libs(
                _version_home(candidate),
                _POM,
                {"kafka.version": candidate},
                expected_jar=f"kafka_2.13-{candidate}.jar",
                what=f"Apache Kafka {candidate}",
            )
        except MavenError as error:
            failures.append(f"Kafka {candidate}: {error}")
            progress(f"Kafka {candidate} could not be resolved")
    raise KafkaSetupError("could not resolve the Kafka broker jars\n" + "\n".join(failures))


def _version_home(version: str) -> Path:
    return cache_root() / f"kafka-{version}"


# ---------------------------------------------------------------------------------------------------- broker


class KafkaBroker(LocalServer):
    """One broker + controller process on 127.0.0.1, with its data in ``data_dir``.

    ``start`` formats the data dir on first use and waits until clients get metadata; ``stop`` ends the
    process (SIGTERM, then SIGKILL); ``restart`` keeps the data and ports, so clients reconnect to the same
    address. The methods block: from async code, call them through ``asyncio.to_thread``.

    ``sasl_users`` (name → password, without ``,``, ``]`` or ``"``) makes the client listener SASL_SSL with
    SCRAM-SHA-512 for those users (created when the data dir is formatted); the first is the broker's own
    (inter-broker and readiness). :meth:`client_security` is how a user connects.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        version: str | None = None,
        heap: str = "512m",
        overrides: Mapping[str, str] | None = None,
        startup_timeout: float = 90.0,
        sasl_users: Mapping[str, str] | None = None,
    ):
        self.data_dir = self.root = Path(data_dir).resolve()  # the caller's: cleanup() only stops
        # A formatted quorum remembers its controller endpoint, so a reused data dir keeps its ports.
        saved = _saved_ports(self.data_dir)
        self.port = port or saved.get("port") or free_port()
        self.controller_port = controller_port or saved.get("controller_port") or free_port()
        self.version = version
        self.heap = heap
        self.overrides = dict(overrides or {})
        self.startup_timeout = startup_timeout
        self.sasl_users = dict(sasl_users or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The CA that issued the broker's certificate (SASL_SSL only)."""
        return self.data_dir / "tls" / "ca.crt"

    def client_security(self, user: str | None = None, password: str | None = None) -> KafkaSecurity:
        """How ``user`` (default: the broker's own) connects; ``password`` overrides theirs."""
        if not self.sasl_users:
            return PLAINTEXT
        user = user or next(iter(self.sasl_users))
        return KafkaSecurity(
            security_protocol="SASL_SSL",
            sasl_username=user,
            sasl_password=SecretStr(self.sasl_users[user] if password is None else password),
            ssl_ca_file=str(self.ca_file),
        )

    @property
    def log_file(self) -> Path:
        return self.data_dir / "kafka.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        libs = ensure_kafka_jars(self.version)
        java = _java()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.sasl_users:
            _issue_certificate(self.ca_file.parent)
        config = self._write_config()
        if not (self._log_dirs / "meta.properties").is_file():
            self._format(java, libs, config)
        self._launch(java, libs, config)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            terminate(process, timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_file, lines)

    def server_properties(self) -> dict[str, str]:
        listener = "SASL_SSL" if self.sasl_users else "PLAINTEXT"
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"{listener}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"{listener}://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": listener,
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
            "log.dirs": str(self._log_dirs),
            **(self._sasl_ssl_properties() if self.sasl_users else {}),
            **TEST_TUNING,
            **self.overrides,
        }

    def _sasl_ssl_properties(self) -> dict[str, str]:
        """SCRAM-SHA-512 over TLS; the broker's PEM key and certificate, and the CA it trusts as a client of
        itself (inter-broker)."""
        own = self.client_security().spark_options()
        tls = self.ca_file.parent
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": own["kafka.sasl.jaas.config"],
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls / "server.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
        }

    @property
    def _log_dirs(self) -> Path:
        return self.data_dir / "data"

    def _write_config(self) -> Path:
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in self.server_properties().items()))
        ports = {"port": self.port, "controller_port": self.controller_port}
        (self.data_dir / "ports.json").write_text(json.dumps(ports))
        return path

    def _format(self, java: str, libs: Path, config: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        command = [
            java, "-Xmx256m", *_classpath_opts(libs),
            "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config), "--standalone",
        ]  # fmt: skip
        for user, password in self.sasl_users.items():
            command += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
        result = subprocess.run(
            command, capture_output=True, text=True, env=_java_env(), timeout=120, check=False
        )
        if result.returncode != 0:
            output = _last_lines(result.stdout + result.stderr, 30)
            raise KafkaSetupError(f"formatting {self._log_dirs} failed ({result.returncode}):\n{output}")

    def _launch(self, java: str, libs: Path, config: Path) -> None:
        command = [
            java, f"-Xmx{self.heap}", *_JVM_OPTS, f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            *_classpath_opts(libs), "kafka.Kafka", str(config),
        ]  # fmt: skip
        self._log = self.log_file.open("ab")
        self._log.write(f"{_START_MARKER} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
        self._log.flush()
        # A session of its own: Ctrl-C in a terminal reaches us, and we stop the broker in order.
        self._process = subprocess.Popen(
            command,
            cwd=self.data_dir,
            env=_java_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        track(self._process)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = process.returncode if process is not None else None
                raise KafkaSetupError(
                    f"Kafka exited with code {code} while starting\n{self._startup_report()}"
                )
            if port_open(self.port) and _run_blocking(
                _has_live_broker(self.bootstrap, self.client_security())
            ):
                return
            if time.monotonic() > deadline:
                raise KafkaSetupError(
                    f"Kafka at {self.bootstrap} not ready after {self.startup_timeout:.0f} s\n"
                    f"{self._startup_report()}"
                )
            time.sleep(0.2)

    def _startup_report(self) -> str:
        """The latest start's first error (with the exception line under it), then the log's tail."""
        try:
            run = self.log_file.read_text(errors="replace").rsplit(_START_MARKER, 1)[-1].splitlines()
        except FileNotFoundError:
            run = []
        first = next((i for i, line in enumerate(run) if " ERROR " in line or " FATAL " in line), None)
        cause = "\n".join(run[first : first + 2]) if first is not None else "(no ERROR line)"
        return f"first error: {cause}\nlast lines of {self.log_file}:\n{self.log_tail()}"


def _saved_ports(data_dir: Path) -> dict[str, int]:
    try:
        saved = json.loads((data_dir / "ports.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {key: int(value) for key, value in saved.items() if key in ("port", "controller_port")}


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).is_file():
        raise KafkaSetupError("Java 17+ is needed to run the Kafka broker (openjdk-17-jre-headless)")
    return java


def _java_env() -> dict[str, str]:
    # KAFKA-15413: argparse4j in StorageTool breaks on some COLUMNS values (Homebrew unsets it too).
    return {key: value for key, value in os.environ.items() if key != "COLUMNS"}


def _classpath_opts(libs: Path) -> list[str]:
    return [f"-Dlog4j2.configurationFile={_LOG4J_CONFIG.as_uri()}", "-cp", f"{libs}/*"]


def _issue_certificate(tls: Path) -> None:
    """A throwaway CA, and the broker's certificate for 127.0.0.1 and localhost with its unencrypted key in
    ``server.pem`` (Kafka's PEM keystore); once per data dir."""
    if (tls / "server.pem").is_file():
        return
    tls.mkdir(parents=True, exist_ok=True)
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl(
        tls, "req", "-x509", *new_key, "-keyout", "ca.key", "-subj", "/CN=telemetra-test-kafka-ca",
        "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt",
    )  # fmt: skip
    (tls / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    openssl(
        tls, "req", "-new", *new_key, "-keyout", "server.key", "-subj", "/CN=localhost", "-out", "server.csr"
    )
    openssl(
        tls, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "30", "-sha256", "-extfile", "server.ext", "-out", "server.crt",
    )  # fmt: skip
    (tls / "server.pem").write_text((tls / "server.key").read_text() + (tls / "server.crt").read_text())


async def _has_live_broker(bootstrap: str, security: KafkaSecurity) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, **security.aiokafka_options()
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await admin.close()


def _run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _last_lines(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m telemetra.dev.localstack.kafka",
        description="Run a single-node Kafka broker (KRaft) in the foreground until Ctrl-C or SIGTERM.",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"client port, 0 = any free one (default: the data dir's or {DEFAULT_CLI_PORT})",
    )
    parser.add_argument("--controller-port", type=int, help="KRaft controller port (default: a free one)")
    parser.add_argument("--data-dir", type=Path, default=cache_root() / "kafka-data")
    parser.add_argument("--version", help=f"Kafka version (default: {CANDIDATE_VERSIONS[0]})")
    args = parser.parse_args(argv)
    saved_port = _saved_ports(args.data_dir.resolve()).get("port", DEFAULT_CLI_PORT)
    port = saved_port if args.port is None else args.port
    broker = KafkaBroker(args.data_dir, port=port, controller_port=args.controller_port, version=args.version)

    def announce() -> None:
        print(f"KAFKA_BOOTSTRAP={broker.bootstrap}", flush=True)
        progress(f"Kafka pid {broker.pid}, data in {broker.data_dir}, log {broker.log_file}; Ctrl-C stops it")

    return serve_in_foreground(
        broker,
        announce,
        lambda: f"Kafka exited on its own; last lines of {broker.log_file}:\n{broker.log_tail()}",
    )


if __name__ == "__main__":
    sys.exit(main())
