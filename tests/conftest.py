"""Shared fixtures: a fresh workspace per test, with the repository's config and layers."""

from __future__ import annotations

import copy
import dataclasses
import fcntl
import os
import time
from pathlib import Path
from typing import IO

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
    config.addinivalue_line("markers", "serial: its assertions need the machine to itself (load, request limits, "
                                       "fuzzers that count 5xx); runs last, one at a time across the passes")


# The passes side by side --------------------------------------------------------------------
#: `./dev test` runs the embedded and the PostGIS pass at the same time (each keeps about one
#: of the two cores busy; one after the other they took 16 + 18 minutes). ESTGEO_TEST_SYNC is
#: a folder the passes share; ESTGEO_TEST_PASSES names them all, ESTGEO_TEST_PASS this one.
SYNC = os.environ.get("ESTGEO_TEST_SYNC")
PASS = os.environ.get("ESTGEO_TEST_PASS", "")
PASSES = os.environ.get("ESTGEO_TEST_PASSES", "").split()
_serial_lock: IO[str] | None = None
_reached_serial = False


def _terminal(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # a test's setup runs with output captured
            reporter.write_line(line)


def _arrive(name: str) -> None:
    """Say that pass `name` has finished everything but its serial tests (or has ended)."""
    if SYNC:
        Path(SYNC, f"{name}.ready").touch()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A `serial` test waits until every pass has reached its serial tests (they are sorted
    last), then holds the one lock the passes share until its teardown: so it runs while
    nothing else does. `./dev test` marks a pass as arrived when it ends, whatever the
    reason, so a pass that stops early never leaves the other waiting."""
    global _serial_lock, _reached_serial
    if not SYNC or item.get_closest_marker("serial") is None:
        return
    if not _reached_serial:
        _reached_serial = True
        _arrive(PASS)
        waiting = [p for p in PASSES if not Path(SYNC, f"{p}.ready").exists()]
        if waiting:
            _terminal(item.config, f"\n[{PASS}] serial tests wait for the {', '.join(waiting)} pass …")
        while not all(Path(SYNC, f"{p}.ready").exists() for p in PASSES):
            time.sleep(1)
    _serial_lock = open(Path(SYNC, "serial.lock"), "a")
    fcntl.flock(_serial_lock, fcntl.LOCK_EX)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    global _serial_lock
    if _serial_lock is not None:
        fcntl.flock(_serial_lock, fcntl.LOCK_UN)
        _serial_lock.close()
        _serial_lock = None


def pytest_sessionfinish(session: pytest.Session) -> None:
    _arrive(PASS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The `serial` tests go last (stable order otherwise). The PostGIS pass leaves out the tests marked `store_independent`: they never open a
    store, so a second run over another backend would repeat the same assertions on the
    same code. The embedded pass runs them with every store constructor made to fail
    (`_no_store_in_store_independent_tests`), so the marker cannot hide a test that does
    use a store. They are reported as deselected."""
    items.sort(key=lambda item: item.get_closest_marker("serial") is not None)
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
