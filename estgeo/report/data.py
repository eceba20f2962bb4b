"""Where the report's numbers come from, one reader per privacy profile.

* `PublicCounts` reads the **published** density layers (``published/current/*.gpkg``)
  and nothing else: a total is the sum of the published counts of the cells in the area,
  a withheld (suppressed, null) count adds nothing and is itself counted, so the report
  can say how many cells were left out. Totals come from the coarsest resolution that fits
  the area (least suppression); maps and top cells from the default resolution. Every
  number is therefore something anyone can compute from the public layers; nothing can
  leak that the layers do not already show.
* `StoreCounts` (internal profile only) counts the incidents in the store itself: exact
  totals, unsuppressed cells, reports per organisation and the weekday × hour table,
  which needs the incidents' times and is not published as a layer.

Both give the same shapes — `totals`, `cells`, `series` — so the rest of the report does
not care which one it has. Gi* and hot spot classes always come from the layers: they are
computed from the full counts at build time and are published as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pyogrio
import pyproj

from estgeo.config import Settings
from estgeo.errors import EstgeoError
from estgeo.layers import density
from estgeo.layers.periods import PeriodScheme
from estgeo.layers.sun import LIGHT_CONDITIONS
from estgeo.report.area import Area
from estgeo.report.periods import Window, to_day

DENSITY_PREFIX = "incident-density"


class MissingLayerError(EstgeoError, LookupError):
    """A published layer the report needs is not there (no build yet, or not declared)."""


class PublishedLayers:
    """Read access to `published/current/<collection>.gpkg`."""

    def __init__(self, settings: Settings):
        self.folder = settings.published_dir / "current"
        self.public = {c["id"] for c in settings.collections if c.get("audience", "public") == "public"}

    def path(self, collection: str) -> Path:
        return self.folder / f"{collection}.gpkg"

    def exists(self, collection: str) -> bool:
        return self.path(collection).exists()

    def read(self, collection: str, columns: list[str] | None = None, where: str | None = None,
             geometry: bool = False) -> pd.DataFrame:
        if not self.exists(collection):
            raise MissingLayerError(f"layer {collection!r} is not published in {self.folder} (run `estgeo build`)")
        return pyogrio.read_dataframe(self.path(collection), layer=collection, columns=columns, where=where,
                                      read_geometry=geometry)

    def fields(self, collection: str) -> list[str]:
        if not self.exists(collection):
            raise MissingLayerError(f"layer {collection!r} is not published in {self.folder} (run `estgeo build`)")
        return [str(f) for f in pyogrio.read_info(self.path(collection), layer=collection)["fields"]]

    def manifest(self) -> dict[str, Any]:
        import json

        path = self.folder / "manifest.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


@dataclass(frozen=True)
class CountColumns:
    """The count columns of the density layer: total, groups, categories, light conditions."""

    groups: tuple[str, ...]
    categories: tuple[str, ...]
    category_group: dict[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> CountColumns:
        cols = density.Columns.from_settings(settings)
        cats = settings.taxonomy["categories"]
        return cls(cols.groups, cols.categories, {c: e["group"] for c, e in cats.items()})

    @property
    def summary(self) -> list[str]:
        """Columns of the summary table: total, category groups, light conditions."""
        return ["count", *(f"grp_{g}" for g in self.groups), *(f"light_{x}" for x in LIGHT_CONDITIONS)]

    @property
    def all(self) -> list[str]:
        return [*self.summary, *(f"cat_{c}" for c in self.categories)]


def _where(kind: str) -> str:
    return f"period_kind = '{kind}'"


class PublicCounts:
    """Totals, cells and series from the published density layers (see the module docstring)."""

    profile = "public"

    def __init__(self, settings: Settings, layers: PublishedLayers, area: Area | None):
        self.settings = settings
        self.layers = layers
        self.area = area
        self.columns = CountColumns.from_settings(settings)
        self.resolutions = [r for r in settings.h3_resolutions if layers.exists(f"{DENSITY_PREFIX}-r{r}")]
        if not self.resolutions:
            raise MissingLayerError(f"no incident density layer is published in {layers.folder} (run `estgeo build`)")
        default = int(settings.project["h3"].get("default_resolution", self.resolutions[-1]))
        self.default_res = default if default in self.resolutions else self.resolutions[-1]
        self._rows: dict[tuple[int, str, bool], pd.DataFrame] = {}
        if area is None:
            self.totals_res = self.resolutions[0]
        else:
            cells = {r: self._all_rows(r, "all")["h3"].to_numpy() for r in self.resolutions}
            self.totals_res = area.totals_resolution(self.resolutions, cells)
            if area.cell and self.default_res < area.resolution:
                self.default_res = self.totals_res

    def layer_id(self, res: int) -> str:
        return f"{DENSITY_PREFIX}-r{res}"

    def _all_rows(self, res: int, kind: str) -> pd.DataFrame:
        # Gi* is published at some resolutions only (the density builder's `gi_resolutions`).
        fields = set(self.layers.fields(self.layer_id(res)))
        wanted = ["h3", "period", "period_start", "complete", *self.columns.all, "gi_z", "gi_bin", "suppressed"]
        frame = self.layers.read(self.layer_id(res), columns=[c for c in wanted if c in fields], where=_where(kind))
        for missing in ("gi_z", "gi_bin"):
            if missing not in frame:
                frame[missing] = np.nan
        frame["start"] = frame["period_start"].dt.strftime("%Y-%m-%d")
        return frame

    def rows(self, res: int, kind: str, in_area: bool = True) -> pd.DataFrame:
        """Every published row of one resolution and period kind (inside the area unless `in_area` is False)."""
        key = (res, kind, in_area)
        if key not in self._rows:
            frame = self._all_rows(res, kind)
            if in_area and self.area is not None:
                frame = frame[self.area.select(frame["h3"].to_numpy(), res)]
            self._rows[key] = frame.reset_index(drop=True)
        return self._rows[key]

    def latest_complete(self, kind: str = "lagesbild") -> str | None:
        frame = self._all_rows(self.resolutions[0], kind)
        done = frame.loc[frame["complete"], "start"]
        return str(done.max()) if len(done) else None

    def available_starts(self, kind: str) -> set[str]:
        return set(self._all_rows(self.resolutions[0], kind)["start"])

    def window_rows(self, res: int, win: Window, in_area: bool = True) -> pd.DataFrame:
        frame = self.rows(res, win.kind, in_area)
        return frame[frame["start"].isin([s.isoformat() for s in win.starts])]

    def totals(self, win: Window) -> dict[str, dict[str, int]]:
        """Per summary column: the sum of published counts and how many cell values were withheld."""
        frame = self.window_rows(self.totals_res, win)
        out = {}
        for col in self.columns.all:
            values = frame[col]
            out[col] = {"value": int(values.sum(skipna=True)), "withheld": int(values.isna().sum())}
        return out

    def cells(self, win: Window, res: int | None = None, in_area: bool = True) -> pd.DataFrame:
        """One row per cell with incidents in the window: summed counts (NaN when any part was
        withheld), Gi* bin and z of a single-period window, and in how many periods it was hot."""
        res = res or self.default_res
        frame = self.window_rows(res, win, in_area)
        cols = self.columns.all
        grouped = frame[cols].fillna(0).groupby(frame["h3"])
        sums = grouped.sum()
        hidden = frame[cols].isna().groupby(frame["h3"]).sum()
        sums = sums.where(hidden == 0)
        sums["hot_periods"] = (frame["gi_bin"] > 0).groupby(frame["h3"]).sum()
        sums["n_periods"] = len(win.starts)
        if len(win.starts) == 1:
            sums["gi_bin"] = frame.set_index("h3")["gi_bin"]
            sums["gi_z"] = frame.set_index("h3")["gi_z"]
        else:
            sums["gi_bin"] = np.nan
            sums["gi_z"] = np.nan
        return sums

    def series(self, kind: str, first: str, last: str) -> pd.DataFrame:
        """Totals per period of `kind` whose start lies in [first, last], with withheld counts."""
        frame = self.rows(self.totals_res, kind)
        frame = frame[(frame["start"] >= first) & (frame["start"] <= last)]
        cols = ["count", *(f"grp_{g}" for g in self.columns.groups)]
        sums = frame[cols].groupby(frame["start"]).sum(min_count=0)
        sums["withheld"] = frame["count"].isna().groupby(frame["start"]).sum()
        return sums.sort_index()


class StoreCounts:
    """Exact counts from the store's incidents (internal profile only)."""

    profile = "internal"

    def __init__(self, settings: Settings, store, public: PublicCounts, area: Area | None):
        self.settings = settings
        self.public = public
        self.columns = public.columns
        self.default_res = public.default_res
        self.totals_res = None
        scheme = PeriodScheme.from_settings(settings)
        incidents = store.read("incidents", ["id", "source_org", "occurred_from", "occurred_to", "reported_at", "category", "x", "y"])
        window_s = _density_param(settings, "light_window_max_hours", 2.0) * 3600.0
        cols = density.Columns.from_settings(settings)
        if area is not None and len(incidents):
            lon, lat = pyproj.Transformer.from_crs("EPSG:3006", "OGC:CRS84", always_xy=True).transform(
                incidents["x"].to_numpy(), incidents["y"].to_numpy())
            incidents = incidents[area.contains(np.asarray(lon), np.asarray(lat))].reset_index(drop=True)
        # Indexed at the finest resolution and coarsened by H3 parent, exactly as the density
        # layer does: a point's parent cell is not always the cell it lies in at a coarser one.
        prepared = density.prepare_incidents(incidents, max(settings.h3_resolutions), cols, scheme, window_s)
        self.day = prepared.day
        self.category = prepared.category
        self.light = prepared.light
        self.cell = density.h3_parent(prepared.cell, self.default_res)
        self.source_org = incidents["source_org"].astype(str).to_numpy()
        start = density.to_unix_seconds(incidents["occurred_from"])
        end = density.to_unix_seconds(incidents["occurred_to"])
        end = np.where(np.isnan(end), start, end)
        middle = pd.to_datetime(((start + end) / 2.0 * 1000.0).astype(np.int64), unit="ms", utc=True)
        local = pd.DatetimeIndex(middle).tz_convert(settings.time_zone)
        # The hour of an incident is only known when its window is short.
        self.time_known = (end - start) <= window_s
        self.weekday = np.asarray(local.day_of_week, dtype=np.int64)
        self.hour = np.asarray(local.hour, dtype=np.int64)
        self._cols = cols

    def _in(self, win: Window) -> np.ndarray:
        return (self.day >= to_day(win.start)) & (self.day < to_day(win.end))

    def _matrix(self, mask: np.ndarray, key: np.ndarray, n_keys: int) -> pd.DataFrame:
        counts = self._cols.count(key[mask], n_keys, self.category[mask], self.light[mask])
        return pd.DataFrame(counts, columns=self._cols.names)

    def totals(self, win: Window) -> dict[str, dict[str, int]]:
        row = self._matrix(self._in(win), np.zeros(self.day.size, dtype=np.int64), 1).iloc[0]
        return {col: {"value": int(row[col]), "withheld": 0} for col in self.columns.all}

    def cells(self, win: Window, res: int | None = None) -> pd.DataFrame:
        mask = self._in(win)
        cells = np.unique(self.cell[mask])
        key = np.where(mask, np.minimum(np.searchsorted(cells, self.cell), max(cells.size - 1, 0)), 0)
        frame = self._matrix(mask, key, cells.size).astype(float)
        frame.index = pd.Index([h3i.int_to_str(int(c)) for c in cells], name="h3")
        gi = self.public.cells(win)[["hot_periods", "n_periods", "gi_bin", "gi_z"]]
        return frame.join(gi, how="left")

    def series(self, kind: str, first: str, last: str) -> pd.DataFrame:
        scheme = PeriodScheme.from_settings(self.settings)
        starts = scheme.start(kind, self.day)
        keep = (starts >= to_day(pd.Timestamp(first).date())) & (starts <= to_day(pd.Timestamp(last).date()))
        labels = np.unique(starts[keep])
        key = np.where(keep, np.minimum(np.searchsorted(labels, starts), max(labels.size - 1, 0)), 0)
        full = self._matrix(keep, key, labels.size)
        full.index = pd.Index([str(np.datetime64(int(s), "D")) for s in labels], name="start")
        out = full[["count", *(f"grp_{g}" for g in self.columns.groups)]].copy()
        out["withheld"] = 0
        return out

    def weekday_hour(self, win: Window) -> tuple[np.ndarray, int]:
        """7 × 24 counts (Monday first, local hour) of incidents with a known time, and how many had none."""
        mask = self._in(win)
        known = mask & self.time_known
        table = np.bincount(self.weekday[known] * 24 + self.hour[known], minlength=7 * 24).reshape(7, 24)
        return table, int((mask & ~self.time_known).sum())

    def by_organisation(self, win: Window) -> dict[str, int]:
        orgs, counts = np.unique(self.source_org[self._in(win)], return_counts=True)
        return {str(o): int(c) for o, c in zip(orgs, counts, strict=True)}


def _density_param(settings: Settings, name: str, default: float) -> float:
    for layer in settings.layers:
        if layer.get("builder") == "density":
            value = (layer.get("params") or {}).get(name)
            if value is not None:
                return float(value)
    return default
