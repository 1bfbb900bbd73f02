"""Pytest fixtures for a real Kafka broker.

Register them with ``pytest_plugins = ["telemetra.dev.localstack.pytest_kafka"]`` in the root ``conftest.py``.

``kafka_broker`` is one broker for the whole session (startup costs a JVM and a few seconds). Tests may
``stop``/``restart`` it; ``kafka_bootstrap`` gives the address and first starts the broker again if an earlier
test left it stopped. ``secure_kafka_broker`` is another, started on first use, whose one client listener is
SASL_SSL (SCRAM-SHA-512) with users ``admin`` (the broker's own) and ``client``, random passwords:
``secure_kafka_broker.client_security("client")`` is how a client connects.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from telemetra.dev.localstack.kafka import KafkaBroker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    if not kafka_broker.running:
        kafka_broker.start()
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def secure_kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    users = {"admin": secrets.token_hex(16), "client": secrets.token_hex(16)}
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka-sasl"), sasl_users=users, heap="384m")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
