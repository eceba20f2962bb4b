"""The rooms of the package and their allowed imports (pyproject.toml [tool.importlinter],
docs/architecture.md) are enforced: import-linter passes on the package and fails on a
deliberate breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_a_cycle_inside_a_room_breaks_it(tmp_path: Path) -> None:
    """The second contract: two modules of one room that import each other (here a lazy
    import inside a function, the shape the CRS constants once had) are refused."""
    copy = tmp_path / "src"
    shutil.copytree(REPO / "estgeo", copy / "estgeo", ignore=shutil.ignore_patterns("__pycache__"))
    crs = copy / "estgeo" / "publish" / "crs.py"
    crs.write_text(crs.read_text(encoding="utf-8") + "\n\ndef _breach():\n    from estgeo.publish import pygeoapi_config  # noqa\n",
                   encoding="utf-8")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    result = _lint(copy, copy)
    assert result.returncode == 1
    assert "No import cycles among the modules of a room BROKEN" in result.stdout
    assert "estgeo.publish" in result.stdout


def test_requests_to_the_store_collection_run_no_ddl(settings, store, monkeypatch) -> None:
    """pygeoapi makes a provider per request; the store collection's provider opened a
    store per request, which ran the schema statements (13 on PostGIS) each time. Now the
    server opens its store once, without DDL: counted here over reads and a write, on the
    backend under test."""
    import json

    from estgeo.ingest.pipeline import ingest_file
    from estgeo.publish import transactions
    from estgeo.publish.access import editable_collections
    from estgeo.store import PostgisStore, SqliteStore

    data = Path(__file__).parent / "data"
    assert ingest_file(settings, store, data / "trygghetsvandring_test.csv").ingested > 0
    calls: list[str] = []
    for cls in (SqliteStore, PostgisStore):
        original = cls.create_schema

        def counted(self, original=original, name=cls.__name__):
            calls.append(name)
            return original(self)

        monkeypatch.setattr(cls, "create_schema", counted)
    monkeypatch.setattr(transactions, "_stores", {})
    monkeypatch.setattr(transactions, "_layers", {})
    collection = editable_collections(settings)[0]
    definition = transactions.store_resource(settings, collection)
    for _ in range(3):  # three requests, each with its own provider, as pygeoapi does
        provider = transactions.StoreProvider(definition)
        found = provider.query(limit=5)
        assert found["numberMatched"] > 0
        provider.get(found["features"][0]["id"])
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [13.1433, 59.8366]},
               "properties": {"walk_id": "V-DDL", "walk_date": "2026-10-01", "light_condition": "mörker",
                              "problems": ["belysning_saknas"], "participants": 3}}
    created = transactions.StoreProvider(definition).create(json.dumps(feature))
    assert not store.read_one("walks", created).empty
    assert calls == []
    # And the count is real: opening a store the way ingest and build do runs it.
    from estgeo.store import open_store

    open_store(settings)
    assert len(calls) == 1


@pytest.mark.store_independent
def test_a_store_independent_test_cannot_open_a_store(tmp_path: Path) -> None:
    """The marker that keeps a test out of the PostGIS pass (tests/conftest.py) is checked:
    under it, opening a store fails the test."""
    from estgeo.config import load_settings
    from estgeo.store import open_store

    with pytest.raises(AssertionError, match="marked store_independent but opens a store"):
        open_store(load_settings(workspace=tmp_path / "ws"))
