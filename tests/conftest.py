"""Shared fixtures: a fresh workspace per test, with the repository's config and layers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from estgeo.config import Settings, load_settings
from estgeo.store import PostgisStore, Store, is_postgis_url, open_store

DATA = Path(__file__).parent / "data"
#: The suite runs once per store backend: `./dev test` sets ESTGEO_TEST_STORE to a
#: throwaway PostGIS cluster for the second run. Each workspace gets its own schema.
TEST_STORE = os.environ.get("ESTGEO_TEST_STORE", "embedded")
if is_postgis_url(TEST_STORE):
    os.environ["ESTGEO_STORE"] = TEST_STORE + ("&" if "?" in TEST_STORE else "?") + "schema={workspace}"


def pytest_report_header(config: pytest.Config) -> str:
    return f"estgeo store backend: {'postgis' if is_postgis_url(TEST_STORE) else 'embedded'}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = load_settings(workspace=tmp_path / "ws")
    s.ensure_workspace()
    return s


@pytest.fixture
def store(settings: Settings) -> Store | PostgisStore:
    return open_store(settings)


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
