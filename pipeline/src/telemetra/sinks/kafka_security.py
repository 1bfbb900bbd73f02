"""How every Telemetra Kafka client connects: :class:`KafkaSecurity`, one setting for the producer's sink, the
Spark job's reader and dead-letter writer, and the operator's Admin API client.

It comes from the environment (Kubernetes passes the password from a Secret)::

    TELEMETRA_KAFKA_SECURITY_PROTOCOL   PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    TELEMETRA_KAFKA_SASL_MECHANISM      SCRAM-SHA-512 (default), SCRAM-SHA-256 or PLAIN
    TELEMETRA_KAFKA_SASL_USERNAME
    TELEMETRA_KAFKA_SASL_PASSWORD       never logged, never in an error message
    TELEMETRA_KAFKA_SSL_CA_FILE         PEM file of the CA(s) the brokers' certificates are checked against;
                                        empty: the system's trust store

and becomes aiokafka's arguments (:meth:`KafkaSecurity.aiokafka_options`) or the Spark Kafka connector's
``kafka.*`` options (:meth:`KafkaSecurity.spark_options`, with a PEM truststore). :func:`refusal` tells a
client that Kafka turned it away (credentials, TLS) rather than being unreachable, which aiokafka reports alike.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from typing import Any, Final, Literal

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

ENV_PREFIX: Final = "TELEMETRA_KAFKA_"
PASSWORD_ENV: Final = f"{ENV_PREFIX}SASL_PASSWORD"
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

_LOGIN_MODULE = "org.apache.kafka.common.security.{}.{}LoginModule required username={} password={};"
_REFUSED = (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError)


class KafkaRefusedError(ConnectionError):
    """Kafka refused the client: its credentials, its SASL mechanism or the TLS handshake."""


class KafkaSecurity(BaseModel):
    """Connection security of a Kafka client; the default is PLAINTEXT without authentication."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_ca_file: str = ""

    @model_validator(mode="after")
    def _check(self) -> KafkaSecurity:
        if self.sasl and not self.sasl_username:
            raise ValueError(f"{self.security_protocol} needs a SASL username ({ENV_PREFIX}SASL_USERNAME)")
        if self.ssl_ca_file and not self.tls:
            raise ValueError(f"a CA file is for SSL or SASL_SSL, not {self.security_protocol}")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        """``TELEMETRA_KAFKA_*`` of ``env`` (default: this process's); ``ValueError`` when incomplete."""
        env = os.environ if env is None else env
        values = {name: env[_env_name(name)] for name in cls.model_fields if _env_name(name) in env}
        security = cls.model_validate(values)
        if security.sasl and not security.sasl_password.get_secret_value():
            raise ValueError(f"{security.security_protocol} needs a SASL password (${PASSWORD_ENV} is empty)")
        return security

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def __str__(self) -> str:
        """For messages: ``SASL_SSL (SCRAM-SHA-512 as producer)``; never the password."""
        who = f" ({self.sasl_mechanism} as {self.sasl_username})" if self.sasl else ""
        return f"{self.security_protocol}{who}"

    def env(self) -> dict[str, str]:
        """The environment :meth:`from_env` reads these settings back from (none for PLAINTEXT), but the
        password, which is passed by reference (``PASSWORD_ENV`` from a Secret)."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        values = self.model_dump(exclude={"sasl_password"})
        return {
            _env_name(name): value
            for name, value in values.items()
            if value and (self.sasl or not name.startswith("sasl_"))
        }

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments of aiokafka's producer, consumer and admin client."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.tls:
            try:
                options["ssl_context"] = create_ssl_context(cafile=self.ssl_ca_file or None)
            except OSError as error:  # ssl.SSLError too
                name = _env_name("ssl_ca_file")
                raise ValueError(
                    f"cannot load the Kafka CA file {self.ssl_ca_file!r} ({name}): {error}"
                ) from None
        if self.sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return options

    def spark_options(self) -> dict[str, str]:
        """Options of Spark's Kafka source and sink (Kafka client settings prefixed with ``kafka.``); none for
        PLAINTEXT. The JAAS config holds the password: Spark redacts it in logs and plans."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        options: dict[str, str] = {"kafka.security.protocol": self.security_protocol}
        if self.tls and self.ssl_ca_file:
            options["kafka.ssl.truststore.type"] = "PEM"  # Kafka clients ≥ 2.7
            options["kafka.ssl.truststore.location"] = self.ssl_ca_file
        if self.sasl:
            module = ("plain", "Plain") if self.sasl_mechanism == "PLAIN" else ("scram", "Scram")
            username, password = self.sasl_username, self.sasl_password.get_secret_value()
            options["kafka.sasl.mechanism"] = self.sasl_mechanism
            options["kafka.sasl.jaas.config"] = _LOGIN_MODULE.format(
                *module, _quoted(username), _quoted(password)
            )
        return options


PLAINTEXT: Final = KafkaSecurity()


async def refusal(bootstrap: str, security: KafkaSecurity, seconds: float = 10.0) -> KafkaRefusedError | None:
    """Why Kafka at ``bootstrap`` turns a client with ``security`` away (asked within ``seconds``), or None when
    it does not (it may be unreachable, or fine). aiokafka reports a refusal as "Unable to bootstrap", like an
    unreachable Kafka, so a client that cannot bootstrap asks this, to fail at once and say why instead of
    retrying."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        async with asyncio.timeout(seconds):
            connection = await create_conn(
                host, int(port), request_timeout_ms=int(seconds * 1000), **security.aiokafka_options()
            )
    except _REFUSED as error:
        return KafkaRefusedError(f"Kafka at {bootstrap} refused {security}: {error}")
    except ssl.SSLError as error:
        return KafkaRefusedError(f"TLS with Kafka at {bootstrap} failed ({security}): {error}")
    except (OSError, KafkaError, TimeoutError, ValueError):
        return None
    connection.close()
    return None


def _env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _quoted(value: str) -> str:
    """A JAAS option value: double-quoted, with backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
