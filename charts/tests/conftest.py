"""Chart and image tests, offline. What is real: helm v3.22.0 (built from the Go module proxy by
``telemetra.dev.kube``; it assumes Kubernetes 1.35), the Kubernetes 1.35 JSON schemas bundled by
kubernetes-validate, the upstream CRDs vendored for the test API server (their openAPIV3Schemas validate the
Strimzi, CloudNativePG and Prometheus-operator objects), and, in ``test_install.py``, a real API server with
controller manager, scheduler and kwok (pods become Ready without running; no images are pulled).

Fixtures: ``chart`` renders the chart (``chart.template(profile)`` → parsed objects), ``validate`` checks one
rendered object against its schema. ``UPDATE_GOLDEN=1`` rewrites the golden snapshots instead of comparing.
"""

from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from telemetra.dev.kube.cluster import upstream_crds
from telemetra.dev.testing.kube import selects

pytest_plugins = ["telemetra.dev.kube.pytest_plugin"]

CHARTS = Path(__file__).resolve().parents[1]
REPO = CHARTS.parent
CHART = CHARTS / "telemetra"
KUBE_VERSION = "1.35.0"
RELEASE = "telemetra"
NAMESPACE = "telemetra"

# Value files rendered, validated and snapshotted; "default" is values.yaml alone.
PROFILES: dict[str, tuple[str, ...]] = {
    "default": (),
    "minimal": ("ci/minimal-values.yaml",),
    "production": ("ci/production-values.yaml",),
    "ha": ("examples/values-ha.yaml",),
    "kind": ("examples/values-kind.yaml",),
    "statefulset": ("ci/kafka-statefulset-values.yaml",),
}

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Chart:
    """The chart at ``charts/telemetra`` and the helm that renders it."""

    helm: Path
    path: Path = CHART
    namespace: str = NAMESPACE
    release: str = RELEASE
    kube_version: str = KUBE_VERSION
    profiles: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(PROFILES))

    def run(
        self, *args: str, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.helm), *args], capture_output=True, text=True, timeout=120, env=env, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def template_args(self, profile: str = "default", sets: Iterable[str] = ()) -> list[str]:
        args = ["template", RELEASE, str(self.path), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
        for name in PROFILES[profile]:
            args += ["--values", str(self.path / name)]
        for item in sets:
            args += ["--set", item]
        return args

    def render_text(self, profile: str = "default", sets: Iterable[str] = ()) -> str:
        return self.run(*self.template_args(profile, sets=sets)).stdout

    def template(self, profile: str = "default", sets: Iterable[str] = ()) -> list[Manifest]:
        return [doc for doc in yaml.safe_load_all(self.render_text(profile, sets)) if doc]

    def template_error(self, profile: str = "default", sets: Iterable[str] = ()) -> str:
        """helm's error output for values it must refuse (fails the test if helm renders them)."""
        result = self.run(*self.template_args(profile, sets=sets), check=False)
        assert result.returncode != 0, f"helm rendered {list(sets)} without complaint"
        return result.stderr


@pytest.fixture(scope="session")
def chart(helm_binary: Path) -> Chart:
    return Chart(helm_binary)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that take ``profile_name`` run once per entry of PROFILES."""
    if "profile_name" in metafunc.fixturenames:
        metafunc.parametrize("profile_name", sorted(PROFILES), scope="module")


@pytest.fixture(scope="module")
def profile(profile_name: str, chart: Chart) -> tuple[str, list[Manifest]]:
    """(name, rendered objects) of one profile."""
    return profile_name, chart.template(profile_name)


# -- schema validation --------------------------------------------------------------------------------------


def _strict(node: Any) -> Any:
    """A CRD's openAPIV3Schema as a strict JSON Schema: objects with declared properties reject unknown
    fields (the API server would silently prune them, hiding a typo), unless the CRD preserves them."""
    if isinstance(node, dict):
        out = {key: _strict(value) for key, value in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(item) for item in node]
    return node


def load_crd_schemas(paths: Iterable[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → strict JSON Schema of every served version of the CRDs in ``paths``."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        for crd in yaml.load_all(path.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served"):
                    continue
                schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                # metadata is validated by the API server itself; apiVersion/kind are checked by the lookup.
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


@pytest.fixture(scope="session")
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The vendored upstream CRDs and the chart's own (TelemetraStream)."""
    return load_crd_schemas([*upstream_crds(), *sorted((CHART / "crds").glob("*.yaml"))])


@pytest.fixture(scope="session")
def validate(crd_schemas: dict[tuple[str, str], dict[str, Any]]) -> Callable[[Manifest], None]:
    """Built-in kinds: kubernetes-validate's Kubernetes 1.35 schemas, strict (unknown fields are errors).
    Custom resources: the upstream CRD's openAPIV3Schema (the Strimzi/CNPG/Prometheus-operator releases
    pinned in charts/operators/operators.yaml)."""

    def check(obj: Manifest) -> None:
        key = (obj["apiVersion"], obj["kind"])
        where = f"{obj['kind']} {obj['metadata'].get('name')}"
        if key in crd_schemas:
            try:
                jsonschema.Draft7Validator(crd_schemas[key]).validate(obj)
            except jsonschema.ValidationError as error:
                raise AssertionError(f"{where}: {error.message} at {list(error.absolute_path)}") from None
            return
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            raise AssertionError(
                f"{where}: no schema for {key} (neither built in nor a vendored CRD)"
            ) from None
        except kubernetes_validate.ValidationError as error:
            raise AssertionError(f"{where}: {error.message} at {list(error.path)}") from None

    return check


# -- manifest helpers (fixtures so test modules need no sys.path tricks) --------------------------------------


def find(objects: Iterable[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: Iterable[Manifest], kind: str, name: str) -> Manifest:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container_env(container: Mapping[str, Any]) -> dict[str, Any]:
    """name → value (a string) or valueFrom (a dict)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.fixture(scope="session")
def m() -> SimpleNamespace:
    """``m.find(objects, kind, name=None)``, ``m.one(objects, kind, name)``, ``m.pod_spec(workload)``,
    ``m.env(container)``, ``m.selects(selector, labels)``, ``m.operator_env(objects)``."""
    return SimpleNamespace(
        find=find, one=one, pod_spec=pod_spec, env=container_env, selects=selects, operator_env=operator_env
    )


def operator_env(objects: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    """The process environment as the chart's operator container has it (its TELEMETRA_OPERATOR_* only), so
    ``OperatorSettings()`` reads what the operator would."""
    env = container_env(pod_spec(one(objects, "Deployment", "telemetra-operator"))["containers"][0])
    for key in [k for k in os.environ if k.startswith("TELEMETRA_OPERATOR_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(key, value)
