"""The import contracts hold, and each would fail if the boundary it guards were crossed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for name in ("kit", "services", "gateway", "effekt", "bench"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_import_contracts_hold(tree_copy: Path) -> None:
    result = _lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "offending_import", "contract"),
    [
        (
            "services/outcomes/sneaky.py",
            "import services.contracts.models",
            "Services never import one another",
        ),
        ("kit/sneaky.py", "import services.identity", "kit is a leaf"),
        ("gateway/sneaky.py", "import sqlalchemy", "The gateway imports no service and no database library"),
        ("gateway/sneaky2.py", "from services.outcomes import db", "The gateway imports no service"),
        ("services/identity/sneaky.py", "import gateway.policy", "Services never import the gateway"),
        ("services/outcomes/sneaky.py", "import bench.seed", "Services never import the gateway, the"),
        (
            "services/outcomes/claims/service.py",
            "from services.outcomes.claims import routes",
            "Layers inside each aggregate",
        ),
        (
            "services/identity/directory/service.py",
            "from services.identity.directory import routes",
            "Layers inside each aggregate",
        ),
        (
            "services/outcomes/statements/tallies.py",
            "from services.outcomes.ledger import routes",
            "Rules never import the HTTP layer",
        ),
        (
            "services/outcomes/participants/service.py",
            "from services.outcomes.dependencies import RuleDeps",
            "Rules never import the HTTP layer",
        ),
        ("services/outcomes/chain.py", "from services.outcomes import models", "The pure outcome modules"),
        ("services/outcomes/pricing/caps.py", "import kit.problems", "The pure outcome modules"),
        ("services/outcomes/states.py", "from services.outcomes import cpr", "The pure outcome modules"),
        ("bench/sneaky.py", "import services.outcomes.ledger.service", "The bench imports no service"),
        ("bench/sneaky2.py", "import services.identity.models", "The bench imports no service internals"),
        (
            "bench/scenarios.py",
            "from tests.actors import make_cast",
            "The launcher and the bench never import",
        ),
        ("effekt/seed.py", "from tests.outcomes import support", "The launcher and the bench never import"),
    ],
)
def test_a_forbidden_import_breaks_the_build(
    tree_copy: Path, module: str, offending_import: str, contract: str
) -> None:
    path = tree_copy / module
    if path.exists():  # an existing module of that layer gains the import
        path.write_text(path.read_text() + f"\n{offending_import}\n")
    else:
        path.write_text(f'"""A module that crosses a boundary."""\n\n{offending_import}\n')
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout
    assert "BROKEN" in result.stdout
    assert re.search(rf"^{re.escape(contract)}.* BROKEN\b", result.stdout, re.M), result.stdout
