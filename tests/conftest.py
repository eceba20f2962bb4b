"""Shared fixtures: a fresh workspace per test, with the repository's config and layers."""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path

import pytest

from estgeo.config import Settings, load_settings
from estgeo.store import PostgisStore, SqliteStore, Store, is_postgis_url, open_store

DATA = Path(__file__).parent / "data"
#: The suite runs once per store backend: `./dev test` sets ESTGEO_TEST_STORE to a
#: throwaway PostGIS cluster for the second run. Each workspace gets its own schema.
TEST_STORE = os.environ.get("ESTGEO_TEST_STORE", "embedded")
if is_postgis_url(TEST_STORE):
    os.environ["ESTGEO_STORE"] = TEST_STORE + ("&" if "?" in TEST_STORE else "?") + "schema={workspace}"


def pytest_report_header(config: pytest.Config) -> str:
    return f"estgeo store backend: {'postgis' if is_postgis_url(TEST_STORE) else 'embedded'}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "store_independent: never opens a store (pure computation, lint, types); "
                                       "run in the embedded pass only")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostGIS pass leaves out the tests marked `store_independent`: they never open a
    store, so a second run over another backend would repeat the same assertions on the
    same code. The embedded pass runs them with every store constructor made to fail
    (`_no_store_in_store_independent_tests`), so the marker cannot hide a test that does
    use a store. They are reported as deselected."""
    if not is_postgis_url(TEST_STORE):
        return
    kept = [item for item in items if item.get_closest_marker("store_independent") is None]
    deselected = [item for item in items if item.get_closest_marker("store_independent") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(autouse=True)
def _no_store_in_store_independent_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("store_independent") is None:
        return

    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} is marked store_independent but opens a store: remove the marker")

    monkeypatch.setattr(SqliteStore, "__init__", refuse)
    monkeypatch.setattr(PostgisStore, "__init__", refuse)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = load_settings(workspace=tmp_path / "ws")
    s.ensure_workspace()
    return s


def with_privacy(settings: Settings, **privacy) -> Settings:
    """`settings` with config/estgeo.yml's privacy section changed (method, rows, …)."""
    project = copy.deepcopy(settings.project)
    project["privacy"].update(privacy)
    return dataclasses.replace(settings, project=project)


@pytest.fixture
def suppression_settings(settings: Settings) -> Settings:
    """`settings` with privacy.method suppression (the default is cell-key)."""
    return with_privacy(settings, method="suppression")


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
