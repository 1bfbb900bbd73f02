"""The Secrets a child refers to, found in its rendered manifest (pure).

Read from what the builders render rather than from the spec, so every reference a builder adds is covered: in
a pod spec (``secretKeyRef``, ``envFrom[].secretRef``, ``secret`` volumes, projected ``secret`` sources, the
Spark operator's ``secrets`` lists) and in a SparkApplication's ``sparkConf``
(``spark.kubernetes.{driver,executor}.secretKeyRef.ENV = name:key`` and ``…secrets.NAME = path``). References
marked ``optional`` are left out: a pod starts without them. Only names; a value is never involved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

SPARK_SECRET_KEY_REF = re.compile(r"^spark\.kubernetes\.(driver|executor)\.secretKeyRef\.")
SPARK_SECRET_MOUNT = re.compile(r"^spark\.kubernetes\.(driver|executor)\.secrets\.(?P<name>.+)$")


def secret_names(manifest: Mapping[str, Any]) -> list[str]:
    """The Secrets ``manifest`` needs, each once, in order of appearance."""
    spec = manifest.get("spec") or {}
    found = [*_in_tree(spec), *_in_spark_conf(spec.get("sparkConf") or {})]
    return list(dict.fromkeys(name for name in found if name))


def _in_tree(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _in_tree(item)
        return
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        if isinstance(value, Mapping) and key in ("secretKeyRef", "secretRef", "secret"):
            if not value.get("optional"):
                yield str(value.get("secretName") or value.get("name") or "")
        elif key == "secrets" and isinstance(value, list):  # SparkPodSpec.secrets: [{name, path, secretType}]
            yield from (str(item.get("name") or "") for item in value if isinstance(item, Mapping))
        else:
            yield from _in_tree(value)


def _in_spark_conf(conf: Mapping[str, Any]) -> Iterator[str]:
    for key, value in conf.items():
        if SPARK_SECRET_KEY_REF.match(key):
            yield str(value).split(":", 1)[0]
        elif match := SPARK_SECRET_MOUNT.match(key):
            yield match["name"]
