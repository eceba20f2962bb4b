"""The package is type-checked and linted: mypy over estgeo/ (settings in pyproject.toml) finds no error, ruff finds nothing.

Run as a test so that `./dev test`, and so CI, fails on a type error like on any other
defect; `.venv/bin/mypy` alone gives the same answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

#: Pure computation: runs in the embedded pass only (tests/conftest.py).
pytestmark = pytest.mark.store_independent

REPO = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")], cwd=REPO,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout


def test_mypy_catches_a_type_error(tmp_path: Path) -> None:
    """The check is not vacuous: the same configuration rejects a wrong type."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x: int) -> str:\n    return x\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), str(bad)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Incompatible return value type" in result.stdout


def test_ruff_finds_nothing() -> None:
    """The lint settings of pyproject.toml ([tool.ruff]) hold over the package, the tests and
    the benchmarks: an unused import or an undefined name turns CI red like a failing test."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "estgeo", "tests", "benchmarks"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_catches_an_undefined_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f() -> int:\n    return undefined_name\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(bad)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "F821" in result.stdout
