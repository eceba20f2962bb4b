"""Run every layer builder into a new build folder and switch `published/current` to it.

The server reads `published/current/<collection>.gpkg`. A build writes beside the
served one (`published/builds/<id>.partial`), renames it when complete and then swaps the
`current` symlink with one atomic rename, so a server never sees half a build and a
failed or killed build leaves the previous layers served and intact.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import geopandas as gpd
import pandas as pd

from estgeo.config import Settings
from estgeo.layers.context import BuildContext
from estgeo.store import Store

KEEP_BUILDS = 3


@dataclass
class BuildResult:
    build_id: str
    folder: Path
    collections: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def current_build(settings: Settings) -> Path | None:
    link = settings.published_dir / "current"
    return link.resolve() if link.exists() else None


def build_layers(settings: Settings, store: Store, progress: Callable[[str], None] = lambda m: None,
                 only: list[str] | None = None) -> BuildResult:
    started = time.perf_counter()
    build_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"
    builds = settings.published_dir / "builds"
    partial = builds / f"{build_id}.partial"
    partial.mkdir(parents=True)

    @lru_cache(maxsize=None)
    def read(kind: str) -> pd.DataFrame:
        return store.read(kind)

    ctx = BuildContext(settings=settings, read=read, out_dir=partial, progress=progress)
    result = BuildResult(build_id=build_id, folder=builds / build_id)
    try:
        for layer in settings.layers:
            if only and layer["name"] not in only:
                continue
            progress(f"building {layer['name']}")
            module = importlib.import_module(f"estgeo.layers.{layer['builder']}")
            outputs: dict[str, gpd.GeoDataFrame] = module.build(ctx, dict(layer.get("params") or {}))
            for collection_id, frame in outputs.items():
                progress(f"writing {collection_id} ({len(frame):,} features)")
                write_collection(frame, partial / f"{collection_id}.gpkg", collection_id)
                result.collections[collection_id] = len(frame)
        (partial / "manifest.json").write_text(
            json.dumps({"build": build_id, "collections": result.collections}, indent=2), encoding="utf-8")
        partial.rename(result.folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    switch_current(settings, result.folder)
    prune_builds(settings)
    result.seconds = time.perf_counter() - started
    return result


def write_collection(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")


def switch_current(settings: Settings, folder: Path) -> None:
    link = settings.published_dir / "current"
    tmp = settings.published_dir / f".current-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(folder.relative_to(settings.published_dir), target_is_directory=True)
    os.replace(tmp, link)


def prune_builds(settings: Settings) -> None:
    """Keep the last few complete builds (a running request may still read one)."""
    builds = settings.published_dir / "builds"
    current = current_build(settings)
    done = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.endswith(".partial"))
    for old in done[:-KEEP_BUILDS]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
    # A .partial folder left by a killed build is never served; clear it.
    for stale in builds.glob("*.partial"):
        if not stale.name.startswith(time.strftime("%Y%m%d", time.gmtime())) or stale.stat().st_mtime < time.time() - 3600:
            shutil.rmtree(stale, ignore_errors=True)
