"""The Spark job's Kafka connection over SASL_SSL (SCRAM-SHA-512, PEM truststore), against the test tooling's
secured broker: the options the job builds from ``TELEMETRA_KAFKA_*`` read the topic; a wrong password fails
the read, and the password shows nowhere in the error."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from telemetra.dev.localstack.kafka import KafkaBroker
from telemetra.sinks.kafka import KafkaSink
from telemetra.sinks.kafka_security import PASSWORD_ENV, KafkaSecurity
from telemetra.spark.settings import parse_args

pytestmark = pytest.mark.kafka


def job_settings(broker: KafkaBroker, security: KafkaSecurity, stream_id: str) -> Any:
    env = {**security.env(), PASSWORD_ENV: security.sasl_password.get_secret_value()}
    argv = ["--stream-id", stream_id, "--kafka-bootstrap", broker.bootstrap, "--checkpoint-dir", "unused"]
    return parse_args([*argv, "--store-url", "unused"], env=env)


def read_count(spark: Any, settings: Any) -> int:
    frame = (
        spark.read.format("kafka")
        .options(**settings.kafka_connection)
        .option("subscribe", settings.events_topic)
        .option("startingOffsets", "earliest")
        .load()
    )
    count: int = frame.count()
    return count


async def test_the_job_reads_its_topic_over_sasl_ssl(secure_kafka_broker: KafkaBroker, spark: Any) -> None:
    security = secure_kafka_broker.client_security("client")
    settings = job_settings(secure_kafka_broker, security, f"s{uuid.uuid4().hex[:8]}")
    assert settings.kafka_security == security
    assert settings.kafka_connection["kafka.ssl.truststore.location"] == str(secure_kafka_broker.ca_file)
    sink = KafkaSink(secure_kafka_broker.bootstrap, security=security)
    await sink.start()
    await sink.send([{"stream_id": settings.stream_id, "n": n} for n in range(25)])
    await sink.close()
    assert read_count(spark, settings) == 25

    wrong = "wrong-" + secure_kafka_broker.sasl_users["client"]
    refused = job_settings(
        secure_kafka_broker, secure_kafka_broker.client_security("client", wrong), settings.stream_id
    )
    with pytest.raises(Exception, match=r"SaslAuthenticationException|Authentication failed") as raised:
        read_count(spark, refused)
    assert wrong not in str(raised.value)
