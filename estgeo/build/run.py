"""Run every layer builder into a new build folder and switch `published/current` to it.

The server reads `published/current/<collection>.gpkg`. A build writes beside the
served one (`published/builds/<id>.partial`), renames it when complete and then swaps the
`current` symlink with one atomic rename, so a server never sees half a build and a
failed or killed build leaves the previous layers served and intact.

Only one build runs at a time per workspace: it holds an exclusive lock on
`published/.build.lock` (released by the kernel even when the build is killed), so a
second `estgeo build` stops with a message instead of racing the switch, and any
`.partial` folder found while holding the lock is a killed build's and is removed. The
files of a build are flushed to disk before the rename and the folder entries after it,
so a power cut cannot leave `current` pointing at empty files.
"""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from estgeo.config import ConfigError, Settings
from estgeo.errors import EstgeoError
from estgeo.layers.context import BuildContext
from estgeo.store import Store

KEEP_BUILDS = 3


@dataclass
class BuildResult:
    build_id: str
    folder: Path
    collections: dict[str, int] = field(default_factory=dict)
    #: Vector tiles written per collection (estgeo.build.tiles).
    tiles: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: The privacy audit of the public collections (estgeo.build.audit.AuditReport), if it ran.
    audit: Any = None
    audit_file: Path | None = None


def current_build(settings: Settings) -> Path | None:
    link = settings.published_dir / "current"
    return link.resolve() if link.exists() else None


class LayerOrderError(ConfigError):
    """layers/*.yml: layers need each other (`needs:`), so none can be built first."""


class BuilderOutputError(EstgeoError, RuntimeError):
    """A builder returned collections its layers/*.yml does not declare."""


def build_order(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The layers in dependency order: each after the configured layers its `needs:`
    names (and, among those free to go, in the order of layers/*.yml). The order was the
    alphabetical order of the file names, which a renamed file silently changed.

    A needed layer that is not configured at all (an installation without street lights,
    a test with three layers) is no error: every builder works with what the build has
    (`ctx.built.get`), the needs only order it after what is there."""
    by_name = {layer["name"]: layer for layer in layers}
    needs = {layer["name"]: {n for n in layer.get("needs") or [] if n in by_name} for layer in layers}
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    waiting = list(layers)
    while waiting:
        ready = [layer for layer in waiting if needs[layer["name"]] <= done]
        if not ready:
            raise LayerOrderError("layers/*.yml: these layers need each other: "
                                  + ", ".join(f"{layer['name']} (needs {', '.join(layer['needs'])})" for layer in waiting))
        ordered.append(ready[0])
        done.add(ready[0]["name"])
        waiting.remove(ready[0])
    return ordered


def check_outputs(layer: dict[str, Any], outputs: dict[str, Any], folder: Path) -> None:
    """A builder's results against its declaration: every collection it returns (and
    every coverage it writes) is declared in its layers/*.yml, so nothing is published
    that the configuration, the audit and the access rules do not know of. A declared
    collection may be absent: a builder makes none when its input is missing (the base
    map of a municipality without a street export)."""
    declared = {c["id"] for c in layer.get("collections") or []}
    extra = sorted(set(outputs) - declared)
    if extra:
        where = layer.get("_path", layer["name"])
        raise BuilderOutputError(f"builder '{layer['builder']}' ({where}): returned undeclared collection(s) "
                                 f"{', '.join(extra)}; declare them under collections:")


class BuildBusy(EstgeoError, RuntimeError):
    """Another build of the same workspace is running."""


def build_layers(settings: Settings, store: Store, progress: Callable[[str], None] = lambda m: None,
                 only: list[str] | None = None) -> BuildResult:
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    lock_path = settings.published_dir / ".build.lock"
    with open(lock_path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise BuildBusy(f"another build of {settings.workspace} is running (pid {holder}); try again when it is done") from exc
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        remove_killed_builds(settings)
        return _build_locked(settings, store, progress, only)


def remove_killed_builds(settings: Settings) -> list[Path]:
    """Remove `.partial` folders; only call while holding the build lock (then no build is running)."""
    builds = settings.published_dir / "builds"
    stale = sorted(builds.glob("*.partial")) if builds.exists() else []
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


def _build_locked(settings: Settings, store: Store, progress: Callable[[str], None],
                  only: list[str] | None) -> BuildResult:
    started = time.perf_counter()
    # Microseconds keep ids unique and in order when builds follow each other quickly.
    now = time.time()
    build_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1e6) % 1_000_000:06d}-{os.getpid()}"
    builds = settings.published_dir / "builds"
    partial = builds / f"{build_id}.partial"
    partial.mkdir(parents=True)

    @cache
    def read(kind: str) -> pd.DataFrame:
        return store.read(kind)

    ctx = BuildContext(settings=settings, read=read, out_dir=partial, progress=progress)
    result = BuildResult(build_id=build_id, folder=builds / build_id)
    try:
        if only:
            # The layers not rebuilt keep their collections: hard links to the current
            # build's files (nothing is copied), and their frames are there for the
            # builders that use them (lighting withholds what the density withholds).
            carried = carry_collections(settings, partial, only)
            result.collections.update(carried)
            ctx.built = _Built(partial, carried)
        for layer in build_order(settings.layers):
            if only and layer["name"] not in only:
                continue
            progress(f"building {layer['name']}")
            module = importlib.import_module(f"estgeo.layers.{layer['builder']}")
            outputs: dict[str, gpd.GeoDataFrame] = module.build(ctx, dict(layer.get("params") or {}))
            check_outputs(layer, outputs, partial)
            for collection_id, frame in outputs.items():
                progress(f"writing {collection_id} ({len(frame):,} features)")
                write_collection(frame, partial / f"{collection_id}.gpkg", collection_id)
                result.collections[collection_id] = len(frame)
        # Vector tiles of the collections just written, so serving a tile reads one file.
        from estgeo.build.tiles import write_tiles

        result.tiles = write_tiles(settings, partial, progress).tiles
        # The attacker's audit of what the public profile would serve, before anything is
        # switched: with privacy.enforce, a leak stops the build here.
        privacy_state = ctx.built.get("density:privacy") or {}
        proof = privacy_state.pop("proof", None)
        # The audit reads the files, as a reader would; the layers' frames are written and
        # let go first (5.7 GB at 10 million incidents, benchmarks/privacy.py).
        ctx.built = {}
        read.cache_clear()
        result.audit, result.audit_file = _audit(settings, store, partial, build_id, progress, proof)
        (partial / "manifest.json").write_text(
            json.dumps({"build": build_id, "collections": result.collections, "tiles": result.tiles}, indent=2),
            encoding="utf-8")
        _fsync_tree(partial)
        partial.rename(result.folder)
        _fsync_dir(builds)
        if store.backend == "postgis":
            from estgeo.build.postgis_layers import publish_build

            progress("publishing the collections in PostGIS")
            publish_build(store, result.folder, list(result.collections), build_id)  # type: ignore[arg-type]  # a PostgisStore: its backend says so
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    switch_current(settings, result.folder)
    prune_builds(settings)
    result.seconds = time.perf_counter() - started
    return result


def _audit(settings: Settings, store: Store, folder: Path, build_id: str, progress: Callable[[str], None],
           proof=None):
    """Run `estgeo.build.audit.audit_folder` on the new build (with the density's `proof`,
    `estgeo.audit.density.Proof`, when its protect rounds left one); the full report (it
    names the exposed cells, so it is as sensitive as the store) goes to <workspace>/audit/,
    readable by the service's user only. Raises `PrivacyLeak` under privacy.enforce."""
    cfg = settings.project.get("privacy") or {}
    if not cfg.get("audit", True):
        return None, None
    from estgeo.build.audit import PrivacyLeak, audit_folder

    progress("privacy audit of the public collections")
    report = audit_folder(settings, folder, truth_store=store, lp_max_vars=int(cfg.get("audit_lp_max_vars", 60)), proof=proof)
    audits = settings.workspace / "audit"
    audits.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = audits / f"{build_id}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(report.to_json())
    if cfg.get("enforce") and not report.ok:
        raise PrivacyLeak(f"privacy audit: the build is not published — {report.first_leak()}; "
                          f"the full report is {path} (`estgeo privacy audit`)")
    return report, path


def carry_collections(settings: Settings, folder: Path, only: list[str]) -> dict[str, int]:
    """Hard-link into `folder` every collection file of the current build that the layers
    in `only` do not rebuild; returns collection → features (from the current manifest)."""
    previous = current_build(settings)
    if previous is None:
        return {}
    rebuilt = {c["id"] for layer in settings.layers if layer["name"] in only for c in layer.get("collections", [])}
    try:
        counts = json.loads((previous / "manifest.json").read_text(encoding="utf-8")).get("collections", {})
    except (OSError, ValueError):
        counts = {}
    carried: dict[str, int] = {}
    for layer in settings.layers:
        for collection in layer.get("collections", []):
            cid = collection["id"]
            if cid in rebuilt:
                continue
            for path in previous.glob(f"{cid}.*"):
                if not path.is_file():
                    continue
                try:
                    os.link(path, folder / path.name)
                except OSError:  # another file system, or links not allowed: copy
                    shutil.copy2(path, folder / path.name)
                if cid in counts:
                    carried[cid] = int(counts[cid])
    return carried


class _Built(dict):
    """`BuildContext.built` of a partial build: a carried collection's frame is read from
    its file the first time a builder asks for it."""

    def __init__(self, folder: Path, carried: dict[str, int]):
        super().__init__()
        self._folder = folder
        self._carried = set(carried)

    def get(self, key, default=None):  # type: ignore[override]
        if key not in self and key in self._carried and (self._folder / f"{key}.gpkg").exists():
            self[key] = gpd.read_file(self._folder / f"{key}.gpkg", engine="pyogrio")
        return super().get(key, default)


def write_collection(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    if path.exists():  # a carried hard link: never write into the served build's file
        path.unlink()
    frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")


def switch_current(settings: Settings, folder: Path) -> None:
    link = settings.published_dir / "current"
    tmp = settings.published_dir / f".current-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(folder.relative_to(settings.published_dir), target_is_directory=True)
    os.replace(tmp, link)
    _fsync_dir(settings.published_dir)


def _fsync_tree(folder: Path) -> None:
    """Flush every file of a finished build to disk (before it can become `current`)."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for sub in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        _fsync_dir(sub)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune_builds(settings: Settings) -> None:
    """Keep the last few complete builds (a running request may still read one)."""
    builds = settings.published_dir / "builds"
    current = current_build(settings)
    done = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.endswith(".partial"))
    for old in done[:-KEEP_BUILDS]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
