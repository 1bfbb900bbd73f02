"""The operator's Kafka Admin API client over SASL_SSL (SCRAM-SHA-512), against the test tooling's secured
broker: with the operator's credentials from the environment it manages topics; a wrong password is the
condition reason ``KafkaAuthenticationFailed`` at once, with a message that never holds the password."""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.operator.builders.topics import TopicSpec
from telemetra.operator.kafka_admin import KafkaAdmin, KafkaAdminError
from telemetra.sinks.kafka_security import PASSWORD_ENV

pytestmark = pytest.mark.kafka


def a_topic() -> TopicSpec:
    return TopicSpec(f"telemetra.s{uuid.uuid4().hex[:8]}.events", 2, 1, {"retention.ms": 3_600_000})


async def test_the_admin_client_manages_topics_with_the_environments_credentials(
    secure_kafka_broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    security = secure_kafka_broker.client_security("client")
    for name, value in {**security.env(), PASSWORD_ENV: security.sasl_password.get_secret_value()}.items():
        monkeypatch.setenv(name, value)
    admin = KafkaAdmin(secure_kafka_broker.bootstrap, 10)
    assert admin.security == security
    topic = a_topic()
    try:
        await admin.ensure([topic])
        (observation,) = await admin.ensure([topic])
        assert observation.check.status == "True", observation.check.message
        assert await admin.delete([topic.name]) == [topic.name]
    finally:
        await admin.close()


async def test_a_wrong_password_is_a_condition_reason_without_the_password(
    secure_kafka_broker: KafkaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + secure_kafka_broker.sasl_users["client"]
    admin = KafkaAdmin(
        secure_kafka_broker.bootstrap, 10, secure_kafka_broker.client_security("client", password=wrong)
    )
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(KafkaAdminError) as raised:
        await admin.ensure([a_topic()])
    await admin.close()
    assert time.monotonic() - started < 10
    assert raised.value.reason == "KafkaAuthenticationFailed"
    message = str(raised.value)
    assert "refused SASL_SSL (SCRAM-SHA-512 as client)" in message and "invalid credentials" in message
    for secret in (wrong, secure_kafka_broker.sasl_users["client"]):
        assert secret not in message and secret not in caplog.text
