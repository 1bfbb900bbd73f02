"""Kafka connection security: the settings from the environment, and what they make of aiokafka's and Spark's
options. The sink against a real SASL_SSL broker is in test_kafka_sink.py."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from telemetra.sinks.kafka_security import PASSWORD_ENV, PLAINTEXT, KafkaSecurity

PASSWORD = 'pa"ss\\word-7f3e'  # a quote and a backslash: JAAS needs both escaped
SECURED = KafkaSecurity(
    security_protocol="SASL_SSL",
    sasl_username="producer",
    sasl_password=SecretStr(PASSWORD),
    ssl_ca_file="/etc/telemetra/kafka-ca/ca.crt",
)


def test_the_environment_gives_the_settings_back_with_the_password_by_reference() -> None:
    env = {**SECURED.env(), PASSWORD_ENV: PASSWORD, "TELEMETRA_KAFKA_VERSION": "4.1.1"}  # not ours: ignored
    assert SECURED.env() == {
        "TELEMETRA_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TELEMETRA_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TELEMETRA_KAFKA_SASL_USERNAME": "producer",
        "TELEMETRA_KAFKA_SSL_CA_FILE": "/etc/telemetra/kafka-ca/ca.crt",
    }
    assert KafkaSecurity.from_env(env) == SECURED
    assert KafkaSecurity.from_env({}) == PLAINTEXT and PLAINTEXT.env() == {}
    assert PASSWORD not in repr(SECURED) and PASSWORD not in str(SECURED)
    assert str(SECURED) == "SASL_SSL (SCRAM-SHA-512 as producer)"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELEMETRA_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", PASSWORD_ENV: PASSWORD}, "needs a SASL username"),
        (
            {"TELEMETRA_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "TELEMETRA_KAFKA_SASL_USERNAME": "u"},
            "needs a SASL password",
        ),
        ({"TELEMETRA_KAFKA_SECURITY_PROTOCOL": "TLS", PASSWORD_ENV: PASSWORD}, "security_protocol"),
        ({"TELEMETRA_KAFKA_SSL_CA_FILE": "/ca.crt"}, "not PLAINTEXT"),
    ],
)
def test_incomplete_settings_say_what_is_missing_without_the_password(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        KafkaSecurity.from_env(env)
    assert PASSWORD not in str(raised.value)


def test_spark_gets_a_pem_truststore_and_an_escaped_jaas_config() -> None:
    assert PLAINTEXT.spark_options() == {}
    assert SECURED.spark_options() == {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": "/etc/telemetra/kafka-ca/ca.crt",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="producer" password="pa\\"ss\\\\word-7f3e";',
    }
    plain = KafkaSecurity(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password=SecretStr("p"),
    )
    assert plain.spark_options()["kafka.sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required"
    )
    assert "kafka.ssl.truststore.location" not in plain.spark_options()


def test_an_unreadable_ca_file_is_named() -> None:
    with pytest.raises(ValueError, match=r"cannot load the Kafka CA file '/etc/telemetra/kafka-ca/ca.crt'"):
        SECURED.aiokafka_options()
