"""The wheel carries the product only: the development tooling (``dev/src``, ``telemetra.dev``: local servers,
the local Kubernetes tooling and its upstream CRD copies, test helpers, pytest plugins, the ``make stack``
launcher) is on the path of the editable install and nowhere in the built distribution, so neither in the
images, which install it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = [
    "telemetra/contract/",
    "telemetra/analytics/",
    "telemetra/engine/",
    "telemetra/services/api/",
    "telemetra/operator/",
    "telemetra/spark/",
]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    # Without build isolation when the backend is installed (offline, fast); else pip fetches hatchling.
    flags = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *flags, "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = list(out.glob("telemetra-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as wheel:
        return wheel.namelist()


def test_the_wheel_holds_no_dev_tooling(wheel_files: list[str]) -> None:
    def is_dev(name: str) -> bool:
        base = name.rsplit("/", 1)[-1]
        return (
            name.startswith("telemetra/dev/")
            or base == "testing.py"
            or base.startswith("pytest_plugin")
            or "localstack" in name
            or "upstream-crds" in name
        )

    assert [name for name in wheel_files if is_dev(name)] == []


def test_the_wheel_holds_the_product(wheel_files: list[str]) -> None:
    missing = [p for p in PRODUCT_PACKAGES if not any(name.startswith(p) for name in wheel_files)]
    assert missing == []
    # the console script's module (pyproject.toml's [project.scripts])
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for target in scripts.values():
        assert target.split(":")[0].replace(".", "/") + ".py" in wheel_files, target
    assert "telemetra/spark/jars.py" in wheel_files  # the product side of the connector jars
