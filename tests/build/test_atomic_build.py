"""Atomic publishing: a build that fails or is killed leaves the previous layers
served and intact, and the running server answers from them all the while.

The kill test runs `estgeo build` as a separate process and sends it SIGKILL at three
points — before it has written anything, in the middle of writing GeoPackages, and while
it writes vector tiles — and with the PostGIS store at a fourth, while it loads the
collections into its staging schema, while a thread keeps asking a live server for items
and tiles.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyogrio
import pytest
import requests
from demo_workspace import SIZES
from live_server import live_server

from estgeo.build.postgis_layers import staging_prefix
from estgeo.build.run import BuildBusy, build_layers, current_build
from estgeo.config import Settings, load_settings
from estgeo.ingest.pipeline import ingest_file
from estgeo.store import Store, is_postgis_url, open_store, split_url

#: These tests rebuild, so each makes its own workspace, of the small demo's size.
SMALL = SIZES["small"]

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"
#: The layers the kill test builds: density, lights and unsafe places (with their tiles).
KILL_TEST_LAYERS = ("incident-density.yml", "street-lights.yml", "unsafe-places.yml")


def _staging_schemas(settings: Settings) -> list[str]:
    """The PostGIS schemas a build loads into before switching (estgeo.build.postgis_layers)."""
    import psycopg

    url, schema = split_url(settings.store_url)
    with psycopg.connect(url) as con:
        return [n for (n,) in con.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
                                          (staging_prefix(schema),)).fetchall()]


def fingerprint(folder: Path) -> dict[str, str]:
    """sha256 of every file of a build folder, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def lock_is_free(settings: Settings) -> bool:
    with open(settings.published_dir / ".build.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(lock, fcntl.LOCK_UN)
        return True


def small_workspace(settings: Settings) -> Store:
    store = open_store(settings)
    for name in ("trygghetsvandring_test.csv", "belysning_test.gpkg", "polisen_blandat.csv"):
        ingest_file(settings, store, DATA / name)
    return store


def test_a_failing_build_leaves_the_previous_layers(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    shutil.copy(REPO / "layers" / "street-lights.yml", layers)
    settings = load_settings(workspace=tmp_path / "ws", layers_dir=layers)
    settings.ensure_workspace()
    store = small_workspace(settings)
    first = build_layers(settings, store)
    before = fingerprint(first.folder)
    # A layer whose builder fails after street-lights has been written into the new build.
    (layers / "zz-broken.yml").write_text(
        "builder: points\nparams: {kind: lights, collection: broken, properties: [no_such_field]}\ncollections: []\n",
        encoding="utf-8")
    broken = load_settings(workspace=tmp_path / "ws", layers_dir=layers)
    with pytest.raises(ValueError, match="no_such_field"):
        build_layers(broken, store)
    assert current_build(broken) == first.folder.resolve()
    assert fingerprint(first.folder) == before
    assert not list((settings.published_dir / "builds").glob("*.partial"))
    assert lock_is_free(settings)


def test_a_second_build_at_the_same_time_is_refused(settings: Settings, store: Store) -> None:
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.published_dir / ".build.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BuildBusy, match="another build"):
            build_layers(settings, store)
    assert not (settings.published_dir / "builds").exists() or not list((settings.published_dir / "builds").iterdir())


def test_leftovers_of_a_killed_build_are_removed_by_the_next(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    shutil.copy(REPO / "layers" / "street-lights.yml", layers)
    settings = load_settings(workspace=tmp_path / "ws", layers_dir=layers)
    settings.ensure_workspace()
    store = small_workspace(settings)
    stale = settings.published_dir / "builds" / "20200101T000000-1.partial"
    stale.mkdir(parents=True)
    (stale / "street-lights.gpkg").write_bytes(b"half a file")
    result = build_layers(settings, store)
    assert not stale.exists() and current_build(settings) == result.folder.resolve()


def _tile_url(base: str, collection: str, lon: float = 13.1433, lat: float = 59.8366, zoom: int = 13) -> str:
    n = 2 ** zoom
    col = int((lon + 180.0) / 360.0 * n)
    row = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return f"{base}/collections/{collection}/tiles/WebMercatorQuad/{zoom}/{row}/{col}?f=mvt"


@pytest.mark.slow
def test_sigkill_during_build_keeps_the_previous_layers_served(tmp_path: Path) -> None:
    layers = tmp_path / "layers"
    layers.mkdir()
    for name in KILL_TEST_LAYERS:
        shutil.copy(REPO / "layers" / name, layers)
    workspace = tmp_path / "ws"
    env = {**os.environ, "ESTGEO_HOME": str(workspace), "ESTGEO_LAYERS": str(layers), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "estgeo.cli", "demo", "--incidents", str(SMALL[0]), "--seed", str(SMALL[1])], cwd=REPO, env=env,
                   check=True, capture_output=True, timeout=600)
    subprocess.run([sys.executable, "-m", "estgeo.cli", "build"], cwd=REPO, env=env, check=True, capture_output=True,
                   timeout=600)
    settings = load_settings(workspace=workspace, layers_dir=layers)
    served = current_build(settings)
    assert served is not None
    before = fingerprint(served)

    with live_server(workspace, layers_dir=layers, workers=2) as (base, _):
        urls = [f"{base}/collections/street-lights/items?f=json&limit=1",
                f"{base}/collections/incident-density/items?f=json&limit=1&period_kind=all",
                _tile_url(base, "street-lights")]
        expected = {}
        for url in urls:
            response = requests.get(url, timeout=30)
            assert response.status_code == 200, (url, response.text[:200])
            expected[url] = response.json()["numberMatched"] if "f=json" in url else response.content
        answers: list[tuple[str, int, bool]] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                for url in urls:
                    try:
                        response = requests.get(url, timeout=30)
                    except requests.RequestException as exc:
                        answers.append((url, -1, False))
                        print(exc)
                        continue
                    same = response.status_code == 200 and (
                        response.json()["numberMatched"] if "f=json" in url else response.content) == expected[url]
                    answers.append((url, response.status_code, same))

        poller = threading.Thread(target=keep_asking, daemon=True)
        poller.start()
        builds = settings.published_dir / "builds"
        phases = {
            "before writing": lambda p: p is not None,
            "writing GeoPackages": lambda p: p is not None and len(list(p.glob("*.gpkg"))) >= 3,
            "writing tiles": lambda p: p is not None and (p / "tiles").exists(),
        }
        if is_postgis_url(settings.store_url):
            # The build's folder is complete (no longer .partial) and its collections are
            # loading into a staging schema, before the one-transaction switch.
            phases["loading into PostGIS"] = lambda p: bool(_staging_schemas(settings))
        killed = []
        try:
            for phase, ready in phases.items():
                build = subprocess.Popen([sys.executable, "-m", "estgeo.cli", "build"], cwd=REPO, env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.monotonic() + 300
                while True:
                    partial = [p for p in builds.glob("*.partial") if p.name.endswith(f"-{build.pid}.partial")]
                    if ready(partial[0] if partial else None):
                        break
                    assert build.poll() is None, f"the build ended before '{phase}'"
                    assert time.monotonic() < deadline, f"never reached '{phase}'"
                    time.sleep(0.01)
                os.kill(build.pid, signal.SIGKILL)
                build.wait(timeout=30)
                killed.append(phase)
                time.sleep(1.0)  # the server keeps answering after the kill, too
                assert current_build(settings) == served, phase
                assert fingerprint(served) == before, phase
                assert lock_is_free(settings), phase
            # The next build clears the killed builds' leftovers and is served.
            subprocess.run([sys.executable, "-m", "estgeo.cli", "build"], cwd=REPO, env=env, check=True,
                           capture_output=True, timeout=600)
        finally:
            stop.set()
            poller.join(timeout=60)
        assert not list(builds.glob("*.partial"))
        if is_postgis_url(settings.store_url):
            assert not _staging_schemas(settings), "the next build drops the killed builds' staging schemas"
        new = current_build(settings)
        assert new != served
        for name in ("street-lights", "incident-density", "unsafe-places"):
            assert len(pyogrio.read_dataframe(new / f"{name}.gpkg")) > 0
        for url in urls:
            assert requests.get(url, timeout=30).status_code == 200
    failed = [a for a in answers if not a[2]]
    print(f"kill-during-build: {len(killed)} builds killed ({', '.join(killed)}); "
          f"{len(answers)} requests during the builds, {len(failed)} failed or changed")
    assert len(killed) == len(phases) and len(answers) > 30
    assert not failed, failed[:5]
