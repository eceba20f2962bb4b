"""The rooms of the package and their allowed imports (pyproject.toml [tool.importlinter],
docs/architecture.md) are enforced: import-linter passes on the package and fails on a
deliberate breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_rooms_keep_their_contract() -> None:
    result = _lint(REPO, REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_store_importing_the_command_line_breaks_it(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(REPO / "estgeo", copy / "estgeo", ignore=shutil.ignore_patterns("__pycache__"))
    base = copy / "estgeo" / "store" / "base.py"
    base.write_text(base.read_text(encoding="utf-8") + "\nimport estgeo.cli  # noqa: the breach under test\n",
                    encoding="utf-8")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    result = _lint(copy, copy)
    assert result.returncode == 1
    assert "BROKEN" in result.stdout and "estgeo.store.base -> estgeo.cli" in result.stdout
