"""How a stream's pods connect to Kafka: the ``TELEMETRA_KAFKA_*`` environment that
:class:`~telemetra.sinks.kafka_security.KafkaSecurity` reads, with the password taken from the user's Secret
(a reference: the operator never reads it) and the brokers' CA mounted as a file from its Secret.

Only streams on the operator's default cluster are secured: its users and CA are the ones the operator knows.
Streams on another cluster connect in PLAINTEXT, like their bootstrap address follows Strimzi's ``:9092``.
"""

from __future__ import annotations

from typing import Any

from telemetra.operator.owner import Owner
from telemetra.sinks.kafka_security import PASSWORD_ENV, PLAINTEXT, KafkaSecurity

CA_DIR = "/etc/telemetra/kafka-ca"
CA_KEY = "ca.crt"  # Strimzi's cluster CA Secret
PASSWORD_KEY = "password"  # Strimzi's KafkaUser Secret
CA_VOLUME = "kafka-ca"


def client_security(stream: Owner, user: str) -> KafkaSecurity:
    """``user``'s settings, without the password; PLAINTEXT off the default cluster."""
    s = stream.settings
    if s.kafka_security_protocol == "PLAINTEXT" or not s.is_default_cluster(
        stream.kafka_cluster, stream.kafka_namespace
    ):
        return PLAINTEXT
    return KafkaSecurity(
        security_protocol=s.kafka_security_protocol,
        sasl_mechanism=s.kafka_sasl_mechanism,
        sasl_username=user,
        ssl_ca_file=f"{CA_DIR}/{CA_KEY}" if s.kafka_ca_secret else "",
    )


def password_ref(security: KafkaSecurity) -> tuple[str, str] | None:
    """(Secret, key) of the password, with SASL: the user's own Secret."""
    return (security.sasl_username, PASSWORD_KEY) if security.sasl else None


def password_env(security: KafkaSecurity) -> list[dict[str, Any]]:
    """A container's ``env`` entry for the password: a Secret reference."""
    ref = password_ref(security)
    if ref is None:
        return []
    return [{"name": PASSWORD_ENV, "valueFrom": {"secretKeyRef": {"name": ref[0], "key": ref[1]}}}]


def ca_secret(stream: Owner, security: KafkaSecurity) -> str | None:
    """The Secret to mount at :data:`CA_DIR`, when ``security`` reads a CA file."""
    return stream.settings.kafka_ca_secret if security.ssl_ca_file else None


def ca_volume(stream: Owner, security: KafkaSecurity) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The pod's volume of the CA Secret and the container's read-only mount of it at :data:`CA_DIR`."""
    secret = ca_secret(stream, security)
    if secret is None:
        return None
    items = [{"key": CA_KEY, "path": CA_KEY}]
    volume = {"name": CA_VOLUME, "secret": {"secretName": secret, "items": items}}
    return volume, {"name": CA_VOLUME, "mountPath": CA_DIR, "readOnly": True}
