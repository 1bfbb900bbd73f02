"""The import contracts of `make lint` (``[tool.importlinter]`` in pyproject.toml) hold on this tree and catch
a layering violation: each case copies the source roots, adds one offending import and runs lint-imports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("pipeline/src", "services/src", "operator/src", "apps/src", "dev/src")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(roots: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, roots))}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", "--config", str(REPO / "pyproject.toml")],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def copy_roots(tmp_path: Path) -> list[Path]:
    copies = []
    for root in ROOTS:
        copy = tmp_path / root.replace("/", "-")
        shutil.copytree(REPO / root, copy, ignore=shutil.ignore_patterns("__pycache__", "go", "*.yaml"))
        copies.append(copy)
    return copies


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports([REPO / root for root in ROOTS], REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        # the analytics core is below the engine
        (
            "pipeline-src/telemetra/analytics/leak.py",
            "from telemetra.engine.core import Engine\n",
            "> engine",
        ),
        # the Spark job may reach the services only through a composition root
        (
            "pipeline-src/telemetra/spark/leak.py",
            "from telemetra.services.output import ServiceOutput\n",
            "the pipeline never imports the services",
        ),
        # the product never depends on the dev tooling
        ("services-src/telemetra/services/leak.py", "import telemetra.dev.stack\n", "dev > apps"),
    ],
)
def test_a_layering_violation_fails_lint(tmp_path: Path, module: str, source: str, broken: str) -> None:
    roots = copy_roots(tmp_path)
    (tmp_path / module).write_text(source)
    result = lint_imports(roots, tmp_path)
    assert result.returncode != 0
    assert "0 broken" not in result.stdout
    assert (
        f"{module.split('/', 1)[1].removesuffix('.py').replace('/', '.')} ->" in result.stdout
    )  # the import
    assert broken in result.stdout.replace("\n", " ")
