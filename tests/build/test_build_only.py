"""`estgeo build --only LAYER` rebuilds that layer and keeps every other collection served."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from demo_workspace import SIZES

from estgeo.config import Settings

#: These tests rebuild, so each makes its own workspace, of the small demo's size.
SMALL = SIZES["small"]

REPO = Path(__file__).resolve().parents[2]


def _estgeo(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ESTGEO_HOME": str(workspace)}
    return subprocess.run([sys.executable, "-m", "estgeo.cli", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
def test_only_one_layer_keeps_every_other_collection(tmp_path):
    workspace = tmp_path / "ws"
    for args in (["demo", "--incidents", str(SMALL[0]), "--seed", str(SMALL[1])], ["build"]):
        done = _estgeo(workspace, *args)
        assert done.returncode == 0, done.stderr
    current = workspace / "published" / "current"
    before = current.resolve()
    manifest = json.loads((before / "manifest.json").read_text(encoding="utf-8"))
    files = {p.name for p in before.iterdir() if p.is_file() and p.name != "manifest.json"}
    done = _estgeo(workspace, "build", "--only", "street-lights")
    assert done.returncode == 0, done.stderr
    after = current.resolve()
    assert after != before
    again = json.loads((after / "manifest.json").read_text(encoding="utf-8"))
    assert set(again["collections"]) == set(manifest["collections"])
    assert again["collections"] == manifest["collections"]
    assert {p.name for p in after.iterdir() if p.is_file() and p.name != "manifest.json"} == files
    # The carried files are the previous build's (hard links), the rebuilt one is new.
    assert (after / "incident-density-r9.gpkg").stat().st_ino == (before / "incident-density-r9.gpkg").stat().st_ino
    assert (after / "street-lights.gpkg").stat().st_ino != (before / "street-lights.gpkg").stat().st_ino
    assert set(again["tiles"]) == set(manifest["tiles"])
    # Lighting rebuilt alone still withholds what the density withholds (it reads the carried frames).
    done = _estgeo(workspace, "build", "--only", "lighting")
    assert done.returncode == 0, done.stderr
    import geopandas as gpd

    lit = gpd.read_file(current.resolve() / "lighting-insecurity.gpkg", engine="pyogrio")
    old = gpd.read_file(before / "lighting-insecurity.gpkg", engine="pyogrio")
    assert lit["dark_incidents"].isna().sum() == old["dark_incidents"].isna().sum()


def test_layers_are_built_in_the_order_their_needs_say() -> None:
    from estgeo.build.run import LayerOrderError, build_order

    layers = [{"name": "c", "needs": ["b"]}, {"name": "a"}, {"name": "b", "needs": ["a"]}]
    assert [layer["name"] for layer in build_order(layers)] == ["a", "b", "c"]
    with pytest.raises(LayerOrderError, match="need each other"):
        build_order([{"name": "a", "needs": ["b"]}, {"name": "b", "needs": ["a"]}])
    # A needed layer that is not configured only does not order anything.
    assert [layer["name"] for layer in build_order([{"name": "a", "needs": ["x"]}, {"name": "x2"}])] == ["a", "x2"]


def test_the_repository_layers_need_what_they_use(settings: Settings) -> None:
    from estgeo.build.run import build_order

    order = [layer["name"] for layer in build_order(settings.layers)]
    assert order.index("incident-density") < order.index("lighting") < order.index("unsafe-places")


def test_a_builder_publishes_only_what_it_declares(tmp_path: Path) -> None:
    from estgeo.build.run import BuilderOutputError, check_outputs

    layer = {"name": "x", "builder": "x", "collections": [{"id": "a"}, {"id": "r", "type": "coverage"}]}
    check_outputs(layer, {"a": None}, tmp_path)
    check_outputs(layer, {}, tmp_path)  # no input, nothing made: allowed
    with pytest.raises(BuilderOutputError, match="undeclared collection"):
        check_outputs(layer, {"a": None, "b": None}, tmp_path)
