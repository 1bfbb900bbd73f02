"""What a TelemetraStream may ask of the cluster: the Spark settings it may set and the images it may run.

A stream is written by whoever may create TelemetraStreams, but its Spark job runs with the job's Secrets and
the Spark driver's ServiceAccount (which creates pods). ``spec.spark.sparkConf`` reaches ``spark-submit``
unchanged, and Spark's ``spark.kubernetes.*`` settings alone could mount the node's root filesystem
(``…volumes.hostPath.*``), switch ServiceAccounts (``…authenticate.*.serviceAccountName``), replace the pods
(``…podTemplateFile``) or change the image; ``spark.jars*``/``spark.files*``/``spark.submit.*`` download and run
code, ``*.extraJavaOptions`` runs commands (``-XX:OnOutOfMemoryError``), ``spark.hadoop.*`` redirects storage and
its credentials, ``spark.executorEnv.*`` sets ``LD_PRELOAD``. So the stream's settings are an *allowlist*
(:data:`SPARK_CONF_KEYS`, :data:`SPARK_CONF_PREFIXES`): performance tuning only, nothing that names a path, a
class outside :data:`SPARK_CONF_VALUES`, an identity, an image or a pod. Everything under ``spark.kubernetes.``
is the operator's alone.

Enforced twice, from this one list: at admission by the CRD's CEL rules (:func:`spark_conf_rules`, rendered
into the CRD by ``crd.py``), and by the operator (:func:`violations`) for objects the API server admitted
under an older CRD. Images: the CRD checks the reference's syntax (a tag or a digest, never an implicit
``latest``), the chart's ValidatingAdmissionPolicy and the operator (``TELEMETRA_OPERATOR_ALLOWED_REGISTRIES``)
check that it comes from an allowed registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telemetra.operator.spec import Spark

# -- sparkConf ---------------------------------------------------------------------------------------------
SPARK_CONF_KEYS: tuple[str, ...] = (
    "spark.default.parallelism",
    "spark.driver.maxResultSize",
    "spark.executor.cores",
    "spark.executor.heartbeatInterval",
    "spark.locality.wait",
    "spark.network.timeout",
    "spark.python.worker.faulthandler.enabled",
    "spark.python.worker.memory",
    "spark.python.worker.reuse",
    "spark.sql.session.timeZone",
    "spark.sql.shuffle.partitions",
    "spark.sql.streaming.metricsEnabled",
    "spark.sql.streaming.minBatchesToRetain",
    "spark.sql.streaming.noDataMicroBatches.enabled",
    "spark.sql.streaming.numRecentProgressUpdates",
    "spark.sql.streaming.pollingDelay",
    "spark.sql.streaming.stateStore.maintenanceInterval",
    "spark.sql.streaming.stateStore.minDeltasForSnapshot",
    "spark.sql.streaming.stateStore.providerClass",
    "spark.task.cpus",
    "spark.task.maxFailures",
)
"""Keys a stream may set, exactly. (Not ``spark.python.worker.*`` as a whole: ``spark.python.worker.module``
chooses the Python module the workers run.)"""

SPARK_CONF_PREFIXES: tuple[str, ...] = (
    "spark.driver.memory",  # memory, memoryOverhead, memoryOverheadFactor
    "spark.executor.memory",  # the same for executors
    "spark.memory.",  # fraction, storageFraction, offHeap.enabled, offHeap.size
    "spark.sql.execution.arrow.",  # Arrow batches between the JVM and Python
    "spark.sql.streaming.stateStore.rocksdb.",  # RocksDB state store tuning (sizes, compaction, changelog)
)
"""Key prefixes a stream may set: families of sizes, fractions and switches, with no path, class or identity."""

SPARK_CONF_VALUES: Mapping[str, tuple[str, ...]] = {
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider",
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    ),
}
"""Allowed keys whose value names a class: only these values."""

FIELD_SPARK_CONF = "spec.spark.sparkConf"
FIELD_SPARK_IMAGE = "spec.spark.image"


def spark_conf_key_allowed(key: str) -> bool:
    return key in SPARK_CONF_KEYS or key.startswith(SPARK_CONF_PREFIXES)


def allowed_spark_conf() -> str:
    """The allowlist for humans: exact keys, then ``prefix*``."""
    return ", ".join([*SPARK_CONF_KEYS, *(f"{prefix}*" for prefix in SPARK_CONF_PREFIXES)])


def key_message(key: str) -> str:
    return f"{FIELD_SPARK_CONF}: key {key} is not allowed; allowed: {allowed_spark_conf()}"


def value_message(key: str) -> str:
    return f"{FIELD_SPARK_CONF}: {key} must be one of {', '.join(SPARK_CONF_VALUES[key])}"


def spark_conf_violations(conf: Mapping[str, str]) -> list[str]:
    refused = [key_message(key) for key in sorted(conf) if not spark_conf_key_allowed(key)]
    refused += [
        value_message(key)
        for key, values in SPARK_CONF_VALUES.items()
        if key in conf and conf[key] not in values
    ]
    return refused


def _cel_string(text: str) -> str:
    if "'" in text or "\\" in text:
        raise ValueError(f"not a plain CEL string: {text!r}")
    return f"'{text}'"


def _cel_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(_cel_string(item) for item in items) + "]"


def spark_conf_rules() -> list[dict[str, str]]:
    """The CRD's ``x-kubernetes-validations`` of ``spec.spark.sparkConf`` (a map: ``self.all`` ranges over its
    keys); the message names the first refused key and the allowlist."""
    allowed = f"k in {_cel_list(SPARK_CONF_KEYS)} || " + " || ".join(
        f"k.startsWith({_cel_string(p)})" for p in SPARK_CONF_PREFIXES
    )
    prefix = f"{FIELD_SPARK_CONF}: key "
    suffix = f" is not allowed; allowed: {allowed_spark_conf()}"
    rules = [
        {
            "rule": f"self.all(k, {allowed})",
            "message": f"{FIELD_SPARK_CONF}: a key is not allowed; allowed: {allowed_spark_conf()}",
            "messageExpression": (
                f"{_cel_string(prefix)} + self.filter(k, !({allowed}))[0] + {_cel_string(suffix)}"
            ),
        }
    ]
    for key, values in SPARK_CONF_VALUES.items():
        rules.append(
            {
                "rule": f"!({_cel_string(key)} in self) || self[{_cel_string(key)}] in {_cel_list(values)}",
                "message": value_message(key),
            }
        )
    return rules


# -- images ------------------------------------------------------------------------------------------------
_COMPONENT = r"[a-z0-9]+([._-]+[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
IMAGE_PATTERN = (
    rf"^([A-Za-z0-9.-]+(:[0-9]+)?/)?{_COMPONENT}(/{_COMPONENT})*(:{_TAG}(@{_DIGEST})?|@{_DIGEST})$"
)
"""An image reference with a tag or a digest (``REGISTRY/PATH/NAME:TAG``, ``…@sha256:…``): never an implicit
``latest``. Which registries are allowed is the operator's setting (and the chart's admission policy)."""


def registry_of(image: str) -> str:
    """The default allowed prefix for an image: the path its repository lives under (``ghcr.io/telemetra``
    for ``ghcr.io/telemetra/telemetra-spark:0.1.0``), or the repository itself when it has no path
    (``telemetra-spark`` for ``telemetra-spark:dev``)."""
    repository = image.split("@", 1)[0]
    last = repository.rsplit("/", 1)
    name = last[-1].split(":", 1)[0]
    return last[0] if len(last) == 2 else name


def image_allowed(image: str, allowed: Sequence[str]) -> bool:
    """``image`` is one of ``allowed``'s repositories or lies below one of its paths: a prefix matches at a
    path boundary only (``ghcr.io/telemetra`` allows ``ghcr.io/telemetra/x:1``, not ``ghcr.io/telemetra-x/y:1``)."""
    for prefix in allowed:
        prefix = prefix.rstrip("/")
        if not prefix or not image.startswith(prefix):
            continue
        rest = image[len(prefix) :]
        if rest.startswith(("/", "@")) or (rest.startswith(":") and "/" not in rest):  # ":" starts a tag,
            return True  # not a port (``localhost`` does not allow ``localhost:5000/x:1``)
    return False


def image_message(image: str, allowed: Sequence[str]) -> str:
    return (
        f"{FIELD_SPARK_IMAGE}: {image} is not from an allowed registry; allowed: "
        f"{', '.join(allowed) or '(none)'}"
    )


def violations(spark: Spark, allowed_registries: Sequence[str]) -> list[str]:
    """Why the operator refuses a Spark job, a stream's or a pool's (empty: it may run)."""
    refused = spark_conf_violations(spark.spark_conf)
    image = spark.image
    if image is not None and not image_allowed(image, allowed_registries):
        refused.append(image_message(image, allowed_registries))
    return refused
