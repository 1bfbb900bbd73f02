"""The deployment tooling around the chart: the pinned operator releases (and the CRDs vendored from them),
the kind cluster, the make-target scripts and skaffold.yaml, all consistent with the chart and the images."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from telemetra.dev.kube.cluster import UPSTREAM_CRDS_DIR

Chart = Any  # conftest.Chart
CHARTS = Path(__file__).resolve().parents[1]
REPO = CHARTS.parent
OPERATORS = yaml.safe_load((CHARTS / "operators" / "operators.yaml").read_text())["operators"]
SKAFFOLD = yaml.safe_load((REPO / "skaffold.yaml").read_text())
SCHEMA = json.loads((CHARTS / "telemetra" / "values.schema.json").read_text())
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def test_operators_are_pinned_to_exact_versions() -> None:
    assert {"strimzi", "spark-operator", "cloudnative-pg", "kube-prometheus-stack"} <= set(OPERATORS)
    for name, entry in OPERATORS.items():
        assert SEMVER.match(str(entry["version"])), f"{name}: {entry['version']} is not an exact version"
        assert entry["chart"].startswith("oci://") or entry["repository"].startswith("https://"), name
        assert (CHARTS / "operators" / entry["values"]).is_file(), name
        yaml.safe_load((CHARTS / "operators" / entry["values"]).read_text())
    assert OPERATORS["strimzi"]["required"] and OPERATORS["spark-operator"]["required"]


def test_chart_declares_no_helm_dependencies_and_names_the_pins() -> None:
    """helm refuses to render a chart whose declared dependencies are not vendored, even with their
    condition false, so the operators are separate releases (charts/README.md) and the chart says which."""
    chart = yaml.safe_load((CHARTS / "telemetra" / "Chart.yaml").read_text())
    assert "dependencies" not in chart
    required = chart["annotations"]["telemetra.io/requires"]
    for name in ("strimzi", "spark-operator", "cloudnative-pg", "kube-prometheus-stack"):
        entry = OPERATORS[name]
        assert f"{entry['chart'].rsplit('/', 1)[-1]} {entry['version']}" in required, name


def test_vendored_crds_come_from_the_pinned_releases() -> None:
    """The offline validation (test_render.py) is only as good as its CRDs: they are the pinned releases'."""
    readme = (UPSTREAM_CRDS_DIR / "README.md").read_text()
    strimzi = OPERATORS["strimzi"]["crdVersion"]
    assert (UPSTREAM_CRDS_DIR / "strimzi" / strimzi / "040-Crd-kafka.yaml").is_file()
    for name in ("spark-operator", "cloudnative-pg", "kube-prometheus-stack"):
        assert OPERATORS[name]["crdVersion"] in readme, f"{name}: CRDs of {OPERATORS[name]['crdVersion']}?"
    crd = yaml.safe_load((UPSTREAM_CRDS_DIR / "strimzi" / strimzi / "043-Crd-kafkatopic.yaml").read_text())
    assert [v["name"] for v in crd["spec"]["versions"] if v["served"]] == ["v1"]  # what the operator writes


def test_kind_cluster_maps_the_ingress_node_ports() -> None:
    cluster = yaml.safe_load((CHARTS / "kind" / "cluster.yaml").read_text())
    assert cluster["kind"] == "Cluster" and cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    (node,) = cluster["nodes"]
    mappings = {m["containerPort"]: m["hostPort"] for m in node["extraPortMappings"]}
    traefik = yaml.safe_load((CHARTS / "operators" / "traefik-kind.yaml").read_text())
    assert mappings[traefik["ports"]["web"]["nodePort"]] == 8080
    assert mappings[traefik["ports"]["websecure"]["nodePort"]] == 8443
    kind_values = yaml.safe_load((CHARTS / "telemetra" / "examples" / "values-kind.yaml").read_text())
    assert kind_values["api"]["ingress"]["className"] == "traefik"
    assert "http://localhost:8080/" in (CHARTS / "scripts" / "kind-demo.sh").read_text()


def test_scripts_are_valid_bash_and_read_the_pins() -> None:
    scripts = sorted((CHARTS / "scripts").glob("*.sh"))
    assert {p.name for p in scripts} >= {"kind-up.sh", "images.sh", "deploy.sh", "kind-demo.sh", "lib.sh"}
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True)
    lib = CHARTS / "scripts" / "lib.sh"
    result = subprocess.run(
        ["bash", "-c", f'source "{lib}"; pin strimzi version; pin spark-operator repository'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [
        OPERATORS["strimzi"]["version"],
        OPERATORS["spark-operator"]["repository"],
    ]


def test_images_script_builds_what_skaffold_builds() -> None:
    lib = (CHARTS / "scripts" / "lib.sh").read_text()
    scripted = dict(re.findall(r'"(telemetra-[a-z]+):([^"]+)"', lib))
    artifacts = {a["image"]: a["docker"]["dockerfile"] for a in SKAFFOLD["build"]["artifacts"]}
    assert scripted == artifacts
    for dockerfile in artifacts.values():
        assert (REPO / dockerfile).is_file()
    assert all(a["context"] == "." for a in SKAFFOLD["build"]["artifacts"])


def _schema_has(path: str) -> bool:
    node: dict[str, Any] | None = SCHEMA
    for key in path.split("."):
        node = (node or {}).get("properties", {}).get(key)
    return node is not None


def test_skaffold_deploys_the_same_chart_with_existing_values(
    chart: Chart, validate: Callable[[dict[str, Any]], None], tmp_path: Path
) -> None:
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    assert (REPO / release["chartPath"]).resolve() == chart.path
    templates = release["setValueTemplates"]
    for key in templates:
        assert _schema_has(key), f"skaffold sets {key}, which the chart does not have"
    # what skaffold passes, with its templates filled in as for a local build
    artifacts = [a["image"] for a in SKAFFOLD["build"]["artifacts"]]
    filled = {}
    for key, template in templates.items():
        value = template
        for image in artifacts:
            variable = image.replace("-", "_")
            value = value.replace(f"{{{{.IMAGE_REPO_{variable}}}}}", image)
            value = value.replace(f"{{{{.IMAGE_TAG_{variable}}}}}", f"{image}-digest")
        assert "{{" not in value, key
        filled[key] = value
    profiles = {p["name"]: p for p in SKAFFOLD["profiles"]}
    dev_files = next(p["value"] for p in profiles["dev"]["patches"] if p["path"].endswith("/valuesFiles"))
    for file in dev_files:
        assert (REPO / file).is_file(), file
    args = [*chart.template_args(), *[a for f in dev_files for a in ("--values", str(REPO / f))]]
    for key, value in filled.items():
        args += [
            "--set-string" if key.endswith(("imageName", "imageTag", "registry")) else "--set",
            f"{key}={value}",
        ]
    objects = [o for o in yaml.safe_load_all(chart.run(*args).stdout) if o]
    for obj in objects:
        validate(obj)
    api = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "telemetra-api")
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "telemetra-api:telemetra-api-digest"
    assert {"name": "TELEMETRA_DEV_RELOAD", "value": "1"} in container["env"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is False  # the dev profile only
    operator = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "telemetra-operator"
    )
    env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TELEMETRA_OPERATOR_SPARK_IMAGE"] == "telemetra-spark:telemetra-spark-digest"
    assert env["TELEMETRA_OPERATOR_PRODUCER_IMAGE"] == "telemetra-producer:telemetra-producer-digest"


def test_skaffold_sync_lands_in_the_installed_package() -> None:
    """Sync rules copy real source files to where the API image installs the package, for the API
    artifact that the dev profile builds with DEV_SYNC=true (the Dockerfile's ARG)."""
    dev = next(p for p in SKAFFOLD["profiles"] if p["name"] == "dev")
    patches = {p["path"]: p["value"] for p in dev["patches"]}
    assert patches["/build/artifacts/0/docker/buildArgs"] == {"DEV_SYNC": "true"}
    assert SKAFFOLD["build"]["artifacts"][0]["image"] == "telemetra-api"
    dockerfile = (REPO / "services" / "Dockerfile").read_text()
    assert "ARG DEV_SYNC=false" in dockerfile
    python = re.search(r"FROM python:(\d+\.\d+)\.\d+", dockerfile)
    assert python is not None
    for rule in patches["/build/artifacts/0/sync"]["manual"]:
        assert rule["dest"] == f"/opt/venv/lib/python{python[1]}/site-packages"
        assert "site-packages/telemetra" in dockerfile
        matches = list(REPO.glob(rule["src"]))
        assert matches, rule["src"]
        assert all(str(m.relative_to(REPO)).startswith(rule["strip"] + "telemetra/") for m in matches)


def test_helm_refuses_undownloaded_dependencies_even_when_disabled(chart: Chart, tmp_path: Path) -> None:
    """The reason the operators are separate releases (charts/README.md): a declared dependency that is not
    vendored stops `helm template` although its condition is false."""
    umbrella = tmp_path / "umbrella"
    (umbrella / "templates").mkdir(parents=True)
    entry = OPERATORS["strimzi"]
    (umbrella / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "umbrella",
                "version": "0.1.0",
                "dependencies": [
                    {
                        "name": "strimzi-kafka-operator",
                        "version": entry["version"],
                        "repository": entry["chart"].rsplit("/", 1)[0],
                        "condition": "strimzi.enabled",
                    }
                ],
            }
        )
    )
    (umbrella / "values.yaml").write_text("strimzi:\n  enabled: false\n")
    result = chart.run("template", "x", str(umbrella), check=False)
    assert result.returncode != 0
    assert "missing in charts/ directory: strimzi-kafka-operator" in result.stderr
    lint = chart.run("lint", str(umbrella), "--strict", check=False)
    assert lint.returncode != 0 and "missing these dependencies" in lint.stdout
