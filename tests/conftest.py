"""Shared fixtures: a fresh workspace per test, with the repository's config and layers."""

from __future__ import annotations

from pathlib import Path

import pytest

from estgeo.config import Settings, load_settings
from estgeo.store import Store

DATA = Path(__file__).parent / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = load_settings(workspace=tmp_path / "ws")
    s.ensure_workspace()
    return s


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings.store_path, settings.model)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A skipped test is a failed test here.

    `./dev test` installs every client and library the suite uses (pyproject's dev extra,
    tests/system-packages.txt), so a test that would skip for a missing dependency means
    a broken set-up — and that must turn CI red, not hide behind a skip.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped ({reason}), but ./dev test installs every dependency: the set-up is broken"
