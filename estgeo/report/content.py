"""What the report says: every section's numbers, figures and sentences, from one data source.

`compose` returns a `Report`: `data` is the machine-readable record of every number shown
(embedded in the HTML as JSON, so a reader — or a test — can check each figure against
the layer it came from), `sections` is the view the HTML template renders. A number in a
table carries a `ref`, the path of its value in `data`, written into the HTML as
``data-ref``/``data-value`` attributes.

The public profile reads published layers only (see `estgeo.report.data`); the internal
profile adds exact counts from the store, the weekday × hour table, reports per
organisation, and the free-text fields of unsafe places and interventions.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from estgeo import styles
from estgeo.config import Settings
from estgeo.layers.periods import PeriodScheme
from estgeo.report import figures, stats
from estgeo.report.area import Area, parse_area
from estgeo.report.data import MissingLayerError, PublicCounts, PublishedLayers, StoreCounts
from estgeo.report.periods import PeriodError, ReportWindows, Window, resolve
from estgeo.report.texts import Texts

PROFILES = ("public", "internal")
#: Lamps out farther than this from every hot spot cell are not listed.
LAMPS_MAX_DISTANCE_M = 250.0
LAMPS_LISTED = 15
PLACES_LISTED = 15
TOP_CELLS = 10
#: A group is mentioned as "moved but not significantly" from this relative change on.
MOVED_PCT = 20.0
OPEN_STATUSES_CLOSED = ("atgardad", "avslagen")


@dataclass(frozen=True)
class ReportOptions:
    period: str = "latest"
    area: str | None = None
    profile: str = "public"
    lang: str = "sv"


@dataclass
class Report:
    options: ReportOptions
    data: dict[str, Any]
    sections: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    subtitle: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def file_stem(self) -> str:
        period = self.data["meta"]["period"]["current"]
        area = self.data["meta"]["area"]
        where = ""
        if area:
            where = "-" + (area["cell"] or hashlib.sha1(area["wkt"].encode("utf-8")).hexdigest()[:8])
        return f"lagesbild-{period['start']}-{period['last_day']}{where}-{self.options.profile}-{self.options.lang}"


# Small helpers ---------------------------------------------------------------------------
def num(value: Any) -> int | float | None:
    """A JSON number (int when whole), None for missing."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else round(as_float, 6)


def plain(value: Any) -> Any:
    """`value` with NaN as None and numpy scalars as Python ones, all the way down (JSON-ready)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating) or value is pd.NA:
        return num(value)
    return str(value)


def cell(text: str, ref: str | None = None, value: Any = None, numeric: bool = False) -> dict[str, Any]:
    return {"text": text, "ref": ref, "value": plain(value), "numeric": numeric}


def pct_change(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(100.0 * (a - b) / b, 1)


def _read_frame(layers: PublishedLayers, collection: str, geometry: bool = False) -> pd.DataFrame | None:
    try:
        return layers.read(collection, geometry=geometry)
    except MissingLayerError:
        return None


def load_basemap(settings: Settings, layers: PublishedLayers) -> figures.Basemap:
    """Boundary and streets: the published reference layers, else the workspace's basemap files."""
    found: dict[str, Any] = {}
    for key, collection, fallback in (("outline", "municipality", "municipality.gpkg"), ("streets", "basemap-streets", "streets.gpkg")):
        path = layers.path(collection)
        if not path.exists():
            path = settings.workspace / "basemap" / fallback
        if path.exists():
            frame = pyogrio.read_dataframe(path)
            found[key] = frame.to_crs(figures.STORAGE_CRS) if frame.crs else frame.set_crs(figures.STORAGE_CRS)
    outline = found.get("outline")
    return figures.Basemap(outline.geometry if outline is not None else None, found.get("streets"))


# Compose -------------------------------------------------------------------------------
def compose(settings: Settings, options: ReportOptions, store=None, now: datetime | None = None) -> Report:
    """Everything the report shows, for `options`; `store` is needed for the internal profile."""
    if options.profile not in PROFILES:
        raise ValueError(f"profile {options.profile!r}: expected one of {', '.join(PROFILES)}")
    t = Texts(options.lang, settings)
    layers = PublishedLayers(settings)
    area = parse_area(options.area)
    public = PublicCounts(settings, layers, area)
    scheme = PeriodScheme.from_settings(settings)
    latest = public.latest_complete("lagesbild")
    windows = resolve(options.period, scheme, date.fromisoformat(latest) if latest else None)
    available = public.available_starts(windows.current.kind)
    missing = [s.isoformat() for s in windows.current.starts if s.isoformat() not in available]
    if missing:
        raise PeriodError(f"the published layers hold no data for {', '.join(missing[:3])} (data: "
                          f"{min(available) if available else '–'} to {max(available) if available else '–'})")
    has = {name: all(s.isoformat() in available for s in win.starts) for name, win in windows.items()}
    if options.profile == "internal":
        if store is None:
            raise ValueError("the internal report needs the store")
        counts: PublicCounts | StoreCounts = StoreCounts(settings, store, public, area)
    else:
        counts = public
    min_count = settings.privacy_min_count
    now = now or datetime.now(UTC)
    manifest = layers.manifest()
    composer = _Composer(settings, options, t, layers, public, counts, windows, has, area, min_count)
    report = Report(options, {"meta": composer.meta(now, manifest)})
    report.title = t("title")
    report.subtitle = t("subtitle", municipality=settings.municipality.get("name", ""), period=composer.period_label(windows.current))
    report.notes = [t(f"profile_{options.profile}"),
                    t("area", area=area.label) if area else t("area_all"),
                    t("generated", when=now.astimezone(ZoneInfo(settings.time_zone)).strftime("%Y-%m-%d %H:%M"),
                      built=_build_time(manifest.get("build"), settings.time_zone))]
    composer.build(report, store, manifest)
    report.notes.append(t("law_note", **_law_sections(report.sections)))
    report.data = plain(report.data)
    return report


class _Composer:
    def __init__(self, settings, options, t, layers, public, counts, windows: ReportWindows, has, area: Area | None, min_count):
        self.settings = settings
        self.options = options
        self.t = t
        self.layers = layers
        self.public = public
        self.counts = counts
        self.windows = windows
        self.has = has
        self.area = area
        self.min_count = min_count
        self.internal = options.profile == "internal"
        self.basemap = load_basemap(settings, layers)
        self.styles = styles.styles(settings)
        self.bounds: tuple[float, float, float, float] | None = None
        self._kind_frames: dict[int, pd.DataFrame] = {}

    # Meta -------------------------------------------------------------------------------
    def period_label(self, win: Window) -> str:
        kind = self.t(f"period_kind_{win.kind}")
        span = self.t("period_range", first=win.start.isoformat(), last=win.last_day.isoformat())
        return f"{span} ({len(win.starts)} × {kind})" if len(win.starts) > 1 else f"{span} ({kind})"

    def meta(self, now: datetime, manifest: dict[str, Any]) -> dict[str, Any]:
        return {
            "profile": self.options.profile,
            "lang": self.options.lang,
            "municipality": self.settings.municipality.get("name"),
            "kommunkod": self.settings.municipality.get("kommunkod"),
            "generated": now.isoformat(timespec="seconds"),
            "build": manifest.get("build"),
            "area": None if self.area is None else {"label": self.area.label, "cell": self.area.cell,
                                                    "wkt": shapely.to_wkt(self.area.geometry, rounding_precision=6)},
            "period": {name: {**win.to_json(), "available": self.has[name]} for name, win in self.windows.items()},
            "privacy_min_count": self.min_count,
            "totals_layer": self.public.layer_id(self.public.totals_res),
            "totals_resolution": self.public.totals_res,
            "cells_layer": self.public.layer_id(self.public.default_res),
            "cells_resolution": self.public.default_res,
            "source": "store" if self.internal else "published layers",
        }

    # Sections ---------------------------------------------------------------------------
    def build(self, report: Report, store, manifest: dict[str, Any]) -> None:
        self.cells_now = self.counts.cells(self.windows.current)
        self.cells_prev = self.counts.cells(self.windows.previous) if self.has["previous"] else None
        report.sections.append(self.summary(report.data))
        report.sections.append(self.maps(report.data))
        if self.internal:  # the weekday × hour table needs single incidents' times: not in the public layers
            report.sections.append(self.heatmap(report.data))
        else:
            report.data["weekday_hour"] = None
        report.sections.append(self.top_cells(report.data))
        report.sections.append(self.unsafe_places(report.data))
        report.sections.append(self.lamps(report.data))
        report.sections.append(self.interventions(report.data, store))
        report.sections.append(self.analysis(report.data))
        report.sections.append(self.sources(report.data, store, manifest))
        privacy = self.t("privacy_cell_key" if self.settings.privacy_method == "cell-key" and not self.internal
                         else "privacy_suppression",
                         min=self.min_count)
        report.sections.append({"id": "method", "title": self.t("s_method"),
                                "blocks": [{"type": "p", "text": self.t("method_text", privacy=privacy)}]})
        # Numbered as shown: the public version has no weekday × hour section, and no
        # empty heading stands in for it.
        for number, section in enumerate((s for s in report.sections if s["id"] != "method"), start=1):
            section["title"] = f"{number}. {section['title']}"

    # 1. Summary ---------------------------------------------------------------------------
    def summary(self, data: dict[str, Any]) -> dict[str, Any]:
        t, w = self.t, self.windows
        totals = {name: self.counts.totals(win) if self.has[name] else None for name, win in w.items()}
        columns = self.public.columns.summary
        rows = []
        for col in columns:
            row: dict[str, Any] = {"column": col, "label": t.column(col)}
            for name, _ in w.items():
                window_totals = totals[name]
                found = window_totals[col] if window_totals else None
                row[name] = None if found is None else found["value"]
                row[f"{name}_withheld"] = None if found is None else found["withheld"]
            for other in ("previous", "last_year"):
                test = stats.rate_test(row["current"], row[other], w.current.days, getattr(w, other).days)
                row[f"change_{other}"] = None if row[other] is None else row["current"] - row[other]
                row[f"change_pct_{other}"] = pct_change(row["current"], row[other])
                row[f"test_{other}"] = test.to_json() if test else None
            rows.append(row)
        for other in ("previous", "last_year"):
            for family in (lambda c: c == "count" or c.startswith("grp_"), lambda c: c.startswith("light_")):
                members = [r for r in rows if family(r["column"])]
                adjusted = stats.holm([r[f"test_{other}"]["p_value"] if r[f"test_{other}"] else None for r in members])
                for r, p in zip(members, adjusted, strict=True):
                    r[f"p_holm_{other}"] = None if p is None else round(p, 6)
                    r[f"significant_{other}"] = p is not None and p < stats.ALPHA
        data["summary"] = {"layer": data["meta"]["totals_layer"], "rows": rows}
        withheld = sum(r["current_withheld"] or 0 for r in rows if r["column"] == "count")

        headers = [t("col_what"), t("col_current"), t("col_previous"), t("col_change"), t("col_p"),
                   t("col_last_year"), t("col_change"), t("col_p")]
        table_rows = []
        for i, r in enumerate(rows):
            ref = f"summary.rows.{i}"
            star = "*" if (r["current_withheld"] or 0) > 0 else ""
            label = r["label"] if not r["column"].startswith("light_") else f"{t('light_heading')}: {r['label']}"
            table_rows.append([
                cell(label),
                cell(t.int(r["current"]) + star, f"{ref}.current", r["current"], True),
                cell(t.int(r["previous"]), f"{ref}.previous", r["previous"], True),
                cell(f"{t.signed(r['change_previous'])} ({t.pct(r['change_pct_previous'])})" if r["previous"] is not None else t("no_data"),
                     f"{ref}.change_previous", r["change_previous"], True),
                cell(t.p(r["p_holm_previous"]), f"{ref}.p_holm_previous", r["p_holm_previous"], True),
                cell(t.int(r["last_year"]), f"{ref}.last_year", r["last_year"], True),
                cell(f"{t.signed(r['change_last_year'])} ({t.pct(r['change_pct_last_year'])})" if r["last_year"] is not None else t("no_data"),
                     f"{ref}.change_last_year", r["change_last_year"], True),
                cell(t.p(r["p_holm_last_year"]), f"{ref}.p_holm_last_year", r["p_holm_last_year"], True),
            ])
        blocks: list[dict[str, Any]] = [
            {"type": "p", "text": t("summary_intro", previous=self.period_label(w.previous), last_year=self.period_label(w.last_year))},
            {"type": "table", "id": "summary", "headers": headers, "rows": table_rows,
             "significant": [[False, False, False, False, r["significant_previous"], False, False, r["significant_last_year"]] for r in rows],
             "note": t("withheld_note", n=t.int(withheld), min=self.min_count) if withheld else None},
        ]
        series = self.counts.series(w.current.kind, w.last_year.start.isoformat(), w.current.starts[-1].isoformat())
        groups = list(self.public.columns.groups)
        data["series"] = {"layer": data["meta"]["totals_layer"], "kind": w.current.kind,
                          "periods": [{"start": s, "count": num(r["count"]), "withheld": num(r["withheld"]),
                                       **{f"grp_{g}": num(r[f"grp_{g}"]) for g in groups}} for s, r in series.iterrows()]}
        if len(series):
            fig = figures.series_chart(series, groups, [t.code("category_groups", g) for g in groups],
                                       [s.isoformat() for s in w.current.starts], t)
            blocks.append({"type": "figure", "id": "series", "src": figures.png(fig),
                           "caption": t("series_title", kind=t(f"period_kind_{w.current.kind}"))})
        return {"id": "summary", "title": t("s_summary"), "blocks": blocks}

    # 2. Maps ------------------------------------------------------------------------------
    def count_scale(self, columns: tuple[str, ...], res: int, shown: pd.DataFrame) -> figures.CountScale:
        """The classes and colours of a count map, as the embed and the QGIS project cut
        them (`estgeo.styles`): from every published count of the window's period kind at
        `res`, so the same colour means the same count in every period. A window of
        several periods shows sums, which are cut from themselves."""
        if len(self.windows.current.starts) == 1:
            frame = self._kind_counts(res)
        else:
            frame = pd.DataFrame(shown)
        values = np.concatenate([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) for c in columns])
        return figures.CountScale.of(values, self.styles["count"], styles.first_class(self.settings))

    def _kind_counts(self, res: int) -> pd.DataFrame:
        """The counts a map's classes are cut from: every published period of the window's
        kind at `res`, read once per resolution for the density and the light maps."""
        if res not in self._kind_frames:
            self._kind_frames[res] = self.layers.read(self.public.layer_id(res), where=f"period_kind = '{self.windows.current.kind}'",
                                                      columns=["count", "light_daylight", "light_darkness"])
        return self._kind_frames[res]

    def maps(self, data: dict[str, Any]) -> dict[str, Any]:
        t, w = self.t, self.windows
        res = self.public.default_res
        cells = figures.hexagons(self.cells_now[["count", "light_daylight", "light_darkness", "gi_bin", "gi_z", "hot_periods"]])
        overview_res = self.public.resolutions[0]
        overview_cells = self.public.cells(w.current, overview_res, in_area=False)
        overview = figures.hexagons(overview_cells[["count"]])
        bounds = figures.extent([cells], self.area.geometry if self.area else None)
        self.bounds = bounds
        layer = data["meta"]["cells_layer"]
        values = {c: {h: num(v) for h, v in self.cells_now[c].items()} for c in ("count", "light_daylight", "light_darkness")}
        maps: dict[str, Any] = {
            "density": {"layer": layer, "column": "count", "values": values["count"]},
            "overview": {"layer": self.public.layer_id(overview_res), "column": "count",
                         "values": {h: num(v) for h, v in overview_cells["count"].items()}},
            "daylight": {"layer": layer, "column": "light_daylight", "values": values["light_daylight"]},
            "darkness": {"layer": layer, "column": "light_darkness", "values": values["light_darkness"]},
        }
        blocks: list[dict[str, Any]] = []
        scale = self.count_scale(("count",), res, cells)
        overview_scale = self.count_scale(("count",), overview_res, overview)
        maps["density"].update(classes=[list(c) for c in scale.classes], colours=scale.colours)
        fig = figures.density_map(cells, overview, self.basemap, bounds, t, self.min_count, scale, overview_scale)
        blocks.append({"type": "figure", "id": "map-density", "src": figures.png(fig), "title": t("map_density", period=self.period_label(w.current)),
                       "caption": t("map_density_text", res=res, area=_cell_area(res, t), overview_res=overview_res,
                                                   withheld=t("map_density_withheld") if cells["count"].isna().any() else "")})
        single = len(w.current.starts) == 1
        if single:
            maps["hotspots"] = {"layer": layer, "column": "gi_bin",
                                "values": {h: num(v) for h, v in self.cells_now["gi_bin"].items() if num(v)}}
            fig = figures.gi_map(cells, self.basemap, bounds, t, self.styles["gi_bin"])
            caption = t("map_hotspots_text")
        else:
            maps["hotspots"] = {"layer": layer, "column": "hot_periods",
                                "values": {h: num(v) for h, v in self.cells_now["hot_periods"].items() if num(v)}}
            fig = figures.hot_periods_map(cells, len(w.current.starts), self.basemap, bounds, t)
            caption = t("map_hotspots_multi", n=len(w.current.starts))
        blocks.append({"type": "figure", "id": "map-hotspots", "src": figures.png(fig), "title": t("map_hotspots"), "caption": caption})
        emerging = self.emerging()
        if emerging is not None:
            frame, info = emerging
            maps["emerging"] = {"layer": "hotspots", **info, "values": dict(zip(frame["h3"], frame["hotspot_class"], strict=True))}
            shown = figures.hexagons(frame.set_index("h3")[["hotspot_class"]])
            fig = figures.emerging_map(shown, self.basemap, bounds, t)
            blocks.append({"type": "figure", "id": "map-emerging", "src": figures.png(fig), "title": t("map_emerging"),
                           "caption": t("map_emerging_text", n=info["n_periods"],
                                                     last=t(f"period_starting_{info['period_kind']}", start=info["period_start"]))})
        light_scale = self.count_scale(("light_daylight", "light_darkness"), res, cells)
        fig = figures.light_maps(cells, self.basemap, bounds, t, self.min_count, light_scale)
        blocks.append({"type": "figure", "id": "map-light", "src": figures.png(fig), "title": t("map_light"), "caption": t("map_light_text")})
        data["maps"] = maps
        return {"id": "maps", "title": t("s_maps"), "blocks": blocks}

    def emerging(self) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """Cells with an emerging hot spot class for the report's period kind (as of the latest complete period)."""
        kind = self.windows.current.kind
        if not self.layers.exists("hotspots"):
            return None
        frame = self.layers.read("hotspots", columns=["h3", "period", "period_start", "hotspot_class", "n_periods", "resolution"],
                                 where=f"period_kind = '{kind}'")
        if frame.empty:
            return None
        start = pd.Timestamp(frame["period_start"].iloc[0])
        info = {"period_kind": kind, "period": str(frame["period"].iloc[0]), "n_periods": int(frame["n_periods"].iloc[0]),
                "period_start": start.strftime("%Y-%m-%d")}
        frame = frame[frame["hotspot_class"].notna() & (frame["hotspot_class"] != "none")]
        if self.area is not None and len(frame):
            frame = frame[self.area.select(frame["h3"].to_numpy(), int(frame["resolution"].iloc[0]))]
        return frame.reset_index(drop=True), info

    # 3. Weekday × hour --------------------------------------------------------------------------
    def heatmap(self, data: dict[str, Any]) -> dict[str, Any]:
        t = self.t
        if not self.internal:
            data["weekday_hour"] = None
            return {"id": "heatmap", "title": t("s_heatmap"), "blocks": [{"type": "p", "text": t("heatmap_public")}]}
        table, unknown = self.counts.weekday_hour(self.windows.current)
        data["weekday_hour"] = {"source": "store", "rows": "weekday (Monday first)", "columns": "local hour",
                                "values": table.tolist(), "unknown_time": unknown}
        fig = figures.weekday_hour_heatmap(table, t)
        return {"id": "heatmap", "title": t("s_heatmap"), "blocks": [
            {"type": "figure", "id": "weekday-hour", "src": figures.png(fig), "caption": t("heatmap_text", unknown=t.int(unknown))}]}

    # 4. Top cells -------------------------------------------------------------------------------
    def top_cells(self, data: dict[str, Any]) -> dict[str, Any]:
        t = self.t
        now = self.cells_now[self.cells_now["count"].notna() & (self.cells_now["count"] > 0)]
        top = now.sort_values(["count"], ascending=False, kind="stable").head(TOP_CELLS)
        cat_cols = [f"cat_{c}" for c in self.public.columns.categories]
        rows = []
        for h3_id, r in top.iterrows():
            if self.cells_prev is None:
                prev = None
            elif h3_id in self.cells_prev.index:
                prev = num(self.cells_prev.at[h3_id, "count"])
            else:
                prev = 0  # no row: no incident in the cell in the previous window
            cats = r[cat_cols].dropna()
            cats = cats[cats > 0].sort_values(ascending=False, kind="stable").head(3)
            test = stats.rate_test(r["count"], prev, self.windows.current.days, self.windows.previous.days)
            rows.append({"h3": h3_id, "count": num(r["count"]), "previous": prev,
                         "change": None if prev is None else num(r["count"] - prev),
                         "dominant": [{"category": c[4:], "count": num(v)} for c, v in cats.items()],
                         "gi_z": num(r["gi_z"]), "p_value": test.p_value if test else None})
        for row, p in zip(rows, stats.holm([r["p_value"] for r in rows]), strict=True):
            row["p_holm"] = None if p is None else round(p, 6)
            row["p_value"] = None if row["p_value"] is None else round(row["p_value"], 6)
        centres = [h3.cell_to_latlng(r["h3"]) for r in rows]
        streets = self.nearest_streets(np.array([lon for _, lon in centres]), np.array([lat for lat, _ in centres]))
        for row, street in zip(rows, streets, strict=True):
            row["street"] = street
        data["top_cells"] = {"layer": data["meta"]["cells_layer"], "rows": rows}
        headers = [t("col_cell"), t("col_count"), t("col_previous"), t("col_change"), t("col_p"), t("col_dominant"), t("col_hot")]
        table = []
        for i, r in enumerate(rows):
            ref = f"top_cells.rows.{i}"
            dominant = ", ".join(f"{t.code('categories', d['category'])} {t.int(d['count'])}" for d in r["dominant"])
            table.append([cell(r["street"] or r["h3"], f"{ref}.h3", r["h3"]), cell(t.int(r["count"]), f"{ref}.count", r["count"], True),
                          cell(t.int(r["previous"]), f"{ref}.previous", r["previous"], True),
                          cell(t.signed(r["change"]), f"{ref}.change", r["change"], True),
                          cell(t.p(r["p_holm"]), f"{ref}.p_holm", r["p_holm"], True), cell(dominant),
                          cell(t.decimal(r["gi_z"], 2), f"{ref}.gi_z", r["gi_z"], True)])
        blocks: list[dict[str, Any]] = [{"type": "p", "text": t("top_text", res=self.public.default_res)}]
        blocks.append({"type": "table", "id": "top-cells", "headers": headers, "rows": table,
                       "note": None if self.internal else t("top_public_note")})
        return {"id": "top", "title": t("s_top"), "blocks": blocks}

    def nearest_streets(self, lon: np.ndarray, lat: np.ndarray, within_m: float = 150.0) -> list[str | None]:
        """The name of the street nearest each point (CRS84), from the published basemap,
        or None beyond `within_m`: readers know Storgatan, not 8908a66a99bffff."""
        streets = self.basemap.streets
        if streets is None or "namn" not in streets.columns or not len(lon):
            return [None] * len(lon)
        named = streets[streets["namn"].notna() & (streets["namn"].astype(str).str.strip() != "")]
        if named.empty:
            return [None] * len(lon)
        x, y = pyproj.Transformer.from_crs("OGC:CRS84", figures.STORAGE_CRS, always_xy=True).transform(lon, lat)
        points = shapely.points(np.column_stack([x, y]))
        found, nearest = shapely.STRtree(named.geometry.to_numpy()).query_nearest(points, max_distance=within_m, all_matches=False)
        names: list[str | None] = [None] * len(lon)
        for i, j in zip(found, nearest, strict=True):
            names[int(i)] = str(named["namn"].iloc[int(j)])
        return names

    # 5. Unsafe places ----------------------------------------------------------------------------
    def unsafe_places(self, data: dict[str, Any]) -> dict[str, Any]:
        t = self.t
        collection = "unsafe-places-internal" if self.internal else "unsafe-places"
        places = _read_frame(self.layers, collection, geometry=True)
        if places is None:
            data["unsafe_places"] = None
            return {"id": "places", "title": t("s_places"), "blocks": [{"type": "p", "text": t("no_data")}]}
        if self.area is not None and len(places):
            places = places[self.area.select(places["h3"].to_numpy(), self.settings.project["h3"]["default_resolution"])]
        start, end = self.windows.current.start.isoformat(), self.windows.current.end.isoformat()
        walked = places["walk_date"].astype("string")
        resolved = places["resolved_at"].astype("string")
        target = places["target_date"].astype("string")
        closed_unknown = places["status"].isin(OPEN_STATUSES_CLOSED) & resolved.isna()
        open_at_end = (walked < end).fillna(False) & ~(resolved < end).fillna(False) & ~closed_unknown
        overdue = open_at_end & (target < end).fillna(False)
        counts = {"new": int(((walked >= start) & (walked < end)).fillna(False).sum()),
                  "open": int(open_at_end.sum()), "overdue": int(overdue.sum()),
                  "resolved": int(((resolved >= start) & (resolved < end)).fillna(False).sum())}
        listed = places[overdue].copy()
        end_day = pd.Timestamp(self.windows.current.end)
        listed["days_open_at_end"] = (end_day - pd.to_datetime(listed["walk_date"])).dt.days
        listed = listed.sort_values(["days_open_at_end", "id"], ascending=[False, True], kind="stable")
        more = max(0, len(listed) - PLACES_LISTED)
        listed = listed.head(PLACES_LISTED)
        streets = self.nearest_streets(listed.geometry.x.to_numpy(), listed.geometry.y.to_numpy()) if len(listed) else []
        items = []
        for (_, r), street in zip(listed.iterrows(), streets, strict=True):
            item = {"id": r["id"], "street": street, "walk_id": r["walk_id"], "problems": r["problems"], "status": r["status"],
                    "target_date": r["target_date"], "days_open_at_end": num(r["days_open_at_end"]),
                    "incidents_nearby": num(r["incidents_nearby"]), "incidents_nearby_dark": num(r["incidents_nearby_dark"])}
            if self.internal:
                item.update({"proposal": r.get("proposal"), "responsible": r.get("responsible")})
            items.append(item)
        data["unsafe_places"] = {"layer": collection, "counts": counts, "overdue": items, "overdue_not_listed": more}
        stats_block = {"type": "stats", "items": [
            {"label": t(f"places_{k}"), "text": t.int(v), "ref": f"unsafe_places.counts.{k}", "value": v} for k, v in counts.items()]}
        headers = [t("col_place"), t("col_walk"), t("col_problems"), t("col_status"), t("col_target"), t("col_days_open"),
                   t("col_nearby") if self.internal else t("col_nearby_cells")]
        if self.internal:
            headers += [t("col_proposal"), t("col_responsible")]
        rows = []
        for i, it in enumerate(items):
            ref = f"unsafe_places.overdue.{i}"
            nearby = f"{t.int(it['incidents_nearby'])} ({t.int(it['incidents_nearby_dark'])})"
            where = f"{it['street']} ({it['id']})" if it["street"] else it["id"]
            row = [cell(where, f"{ref}.id", it["id"]), cell(str(it["walk_id"])), cell(str(it["problems"] or "")),
                   cell(t.code("walk_statuses", it["status"])), cell(str(it["target_date"] or "")),
                   cell(t.int(it["days_open_at_end"]), f"{ref}.days_open_at_end", it["days_open_at_end"], True),
                   cell(nearby, f"{ref}.incidents_nearby", it["incidents_nearby"], True)]
            if self.internal:
                row += [cell(str(it["proposal"] or "")), cell(str(it["responsible"] or ""))]
            rows.append(row)
        blocks = [{"type": "p", "text": t("places_text", end=self.windows.current.last_day.isoformat())}, stats_block]
        if len(places) and self.bounds is not None:
            points = places.to_crs(figures.STORAGE_CRS)
            groups = [(points[points["status"] == code], colour, label, 22.0)
                      for code, colour, label in styles.categories(self.styles["walk_status"], self.options.lang)]
            fig = figures.points_map(groups, self.basemap, self.bounds, t, title=t("places_map_legend"))
            blocks.append({"type": "figure", "id": "map-places", "src": figures.png(fig), "title": t("places_map"),
                           "caption": t("places_map_text")})
        if rows:
            blocks.append({"type": "table", "id": "places-overdue", "caption": t("places_overdue_list"), "headers": headers, "rows": rows})
        if more:
            blocks.append({"type": "p", "text": t("places_more", n=t.int(more))})
        return {"id": "places", "title": t("s_places"), "blocks": blocks}

    # 6. Lamps out near hot spots ---------------------------------------------------------------------
    def hot_cells(self) -> pd.DataFrame:
        frame = self.public.cells(self.windows.current)
        hot = frame["gi_bin"] > 0 if len(self.windows.current.starts) == 1 else frame["hot_periods"] > 0
        return frame[hot.fillna(False)]

    def lamps(self, data: dict[str, Any]) -> dict[str, Any]:
        """Lamps out or faulty within reach of the period's hot spot cells.

        From the lighting work list (`lamps-out`, ranked by incidents in darkness within each
        lamp's reach) when it is published, in its order; else from `street-lights`, nearest first.
        """
        t = self.t
        worklist = self.layers.exists("lamps-out")
        collection = "lamps-out" if worklist else "street-lights"
        lights = _read_frame(self.layers, collection, geometry=True)
        hot = self.hot_cells()
        if lights is None:
            data["lamps_out"] = None
            return {"id": "lamps", "title": t("s_lamps"), "blocks": [{"type": "p", "text": t("lamps_none")}]}
        out = lights[lights["status"].isin(["slackt", "fel"])]
        if self.area is not None and len(out):
            out = out[shapely.contains_xy(self.area.geometry, out.geometry.x.to_numpy(), out.geometry.y.to_numpy())]
        total = len(out)
        items: list[dict[str, Any]] = []
        if len(hot) and len(out):
            hexes = figures.hexagons(hot[["gi_z", "hot_periods"]])
            points = out.to_crs(figures.STORAGE_CRS).reset_index(drop=True)
            (lamp, cell_pos), distance = hexes.sindex.nearest(points.geometry, return_distance=True, return_all=False)
            frame = points.iloc[lamp].drop(columns="geometry").reset_index(drop=True)
            frame["distance_m"] = np.round(distance, 0)
            frame["h3"] = hexes["h3"].to_numpy()[cell_pos]
            frame["gi_z"] = hexes["gi_z"].to_numpy()[cell_pos]
            frame = frame[frame["distance_m"] <= LAMPS_MAX_DISTANCE_M]
            order = ["rank", "id"] if worklist else ["distance_m", "id"]
            frame = frame.sort_values(order, kind="stable").head(LAMPS_LISTED)
            reason = "rank_reason" if self.options.lang == "sv" else "rank_reason_en"
            for r in frame.to_dict("records"):
                items.append({"id": r["id"], "status": r["status"], "lamp_type": r.get("lamp_type"), "owner": r.get("owner"),
                              "distance_m": num(r["distance_m"]), "h3": r["h3"], "gi_z": num(r["gi_z"]),
                              "rank": num(r.get("rank")), "reason": r.get(reason) if worklist else None})
        data["lamps_out"] = {"layer": collection, "hot_cells_layer": data["meta"]["cells_layer"], "total_out": total,
                             "hot_cells": len(hot), "max_distance_m": LAMPS_MAX_DISTANCE_M, "ordered_by": "rank" if worklist else "distance_m",
                             "rows": items}
        blocks: list[dict[str, Any]] = [{"type": "p", "text": t("lamps_text", n=t.int(len(hot)), total=t.int(total),
                                                                 radius=t.int(LAMPS_MAX_DISTANCE_M))}]
        if total and self.bounds is not None:
            points = out.to_crs(figures.STORAGE_CRS)
            groups = [(points[points["status"] == code], colour, label, 10.0)
                      for code, colour, label in styles.categories(self.styles["lamp_status"], self.options.lang) if code != "tand"]
            cells = figures.hexagons(hot[["gi_z"]]) if len(hot) else None
            fig = figures.points_map(groups, self.basemap, self.bounds, t, outline=cells, outline_label=t("lamps_map_hot"))
            blocks.append({"type": "figure", "id": "map-lamps", "src": figures.png(fig), "title": t("lamps_map"),
                           "caption": t("lamps_map_text")})
        if items:
            # With the work list its reason says more than the owner and cell, and needs the room.
            headers = [t("col_lamp"), t("col_status"), t("col_lamp_type"), t("col_distance")]
            headers += [t("col_rank"), t("col_rank_reason")] if worklist else [t("col_owner"), t("col_cell"), t("col_hot")]
            rows = []
            for i, it in enumerate(items):
                ref = f"lamps_out.rows.{i}"
                row = [cell(it["id"], f"{ref}.id", it["id"]), cell(t.code("lamp_statuses", it["status"])),
                       cell(t.code("lamp_types", it["lamp_type"]) if it["lamp_type"] else ""),
                       cell(t.int(it["distance_m"]), f"{ref}.distance_m", it["distance_m"], True)]
                if worklist:
                    row += [cell(t.int(it["rank"]), f"{ref}.rank", it["rank"], True), cell(str(it["reason"] or ""))]
                else:
                    row += [cell(t.code("lamp_owners", it["owner"]) if it["owner"] else ""), cell(it["h3"]),
                            cell(t.decimal(it["gi_z"], 2), f"{ref}.gi_z", it["gi_z"], True)]
                rows.append(row)
            blocks.append({"type": "table", "id": "lamps", "headers": headers, "rows": rows})
        else:
            blocks.append({"type": "p", "text": t("lamps_none")})
        return {"id": "lamps", "title": t("s_lamps"), "blocks": blocks}

    # 7. Interventions -------------------------------------------------------------------------------
    def interventions(self, data: dict[str, Any], store) -> dict[str, Any]:
        t = self.t
        frame = _read_frame(self.layers, "interventions", geometry=True)
        if frame is None:
            data["interventions"] = None
            return {"id": "interventions", "title": t("s_interventions"), "blocks": [{"type": "p", "text": t("no_data")}]}
        if self.area is not None and len(frame):
            centres = frame.geometry.representative_point()
            frame = frame[shapely.contains_xy(self.area.geometry, centres.x.to_numpy(), centres.y.to_numpy())]
        frame = frame.sort_values(["start", "id"], ascending=[False, True], kind="stable")
        extra = {}
        if self.internal and store is not None:
            raw = store.read("interventions", ["id", "org", "outcome"])
            extra = raw.set_index("id").to_dict("index")
        rows = []
        for _, r in frame.iterrows():
            before, after = num(r["before_count"]), num(r["after_count"])
            # enough_data is null where a count is withheld (it would give the count away).
            enough = bool(r["enough_data"]) if not pd.isna(r["enough_data"]) else False
            test = stats.rate_test(after, before) if enough and before is not None and after is not None else None
            row = {"id": r["id"], "type": r["type"], "target": r["target"], "start": r["start"], "end": r["end"],
                   "before": before, "after": after, "change": num(r["change"]), "change_pct": num(r["change_pct"]),
                   "enough_data": enough, "note": r["note"] or "", "p_value": test.p_value if test else None}
            if self.internal:
                row.update({"org": extra.get(r["id"], {}).get("org"), "outcome": extra.get(r["id"], {}).get("outcome")})
            rows.append(row)
        for row, p in zip(rows, stats.holm([r["p_value"] for r in rows]), strict=True):
            row["p_holm"] = None if p is None else round(p, 6)
            row["p_value"] = None if row["p_value"] is None else round(row["p_value"], 6)
        weeks = int(frame["window_weeks"].iloc[0]) if len(frame) else 8
        data["interventions"] = {"layer": "interventions", "rows": rows}
        headers = [t("col_intervention"), t("col_type"), t("col_start"), t("col_before"), t("col_after"), t("col_change"), t("col_p"), t("col_note")]
        if self.internal:
            headers += [t("col_org"), t("col_outcome")]
        table = []
        for i, r in enumerate(rows):
            ref = f"interventions.rows.{i}"
            change = f"{t.signed(r['change'])} ({t.pct(r['change_pct'])})" if r["change"] is not None else t("no_data")
            line = [cell(r["id"], f"{ref}.id", r["id"]), cell(t.code("intervention_types", r["type"])), cell(str(r["start"])),
                    cell(t.int(r["before"]), f"{ref}.before", r["before"], True), cell(t.int(r["after"]), f"{ref}.after", r["after"], True),
                    cell(change, f"{ref}.change", r["change"], True), cell(t.p(r["p_holm"]), f"{ref}.p_holm", r["p_holm"], True),
                    cell(r["note"])]
            if self.internal:
                line += [cell(str(r.get("org") or "")), cell(str(r.get("outcome") or ""))]
            table.append(line)
        blocks = [{"type": "p", "text": t("interventions_text", weeks=weeks)}]
        if table:
            blocks.append({"type": "table", "id": "interventions", "headers": headers, "rows": table})
        return {"id": "interventions", "title": t("s_interventions"), "blocks": blocks}

    # 8. Analysis ------------------------------------------------------------------------------------
    def analysis(self, data: dict[str, Any]) -> dict[str, Any]:
        t = self.t
        findings: list[dict[str, Any]] = []
        rows = data["summary"]["rows"]
        for other in ("previous", "last_year"):
            if not self.has[other]:
                continue
            against = t(f"against_{other}")
            group_rows = [r for r in rows if r["column"] == "count" or r["column"].startswith("grp_")]
            significant = [r for r in group_rows if r[f"significant_{other}"]]
            for r in sorted(significant, key=lambda r: r[f"p_holm_{other}"]):
                test = r[f"test_{other}"]
                key = "finding_up" if r["current"] > r[other] else "finding_down"
                findings.append({"kind": "rate", "column": r["column"], "against": other, "significant": True,
                                 "p_value": r[f"p_holm_{other}"],
                                 "text": t(key, what=r["label"], a=t.int(r["current"]), b=t.int(r[other]),
                                           pct=t.pct(r[f"change_pct_{other}"]), against=against, p=t.p(r[f"p_holm_{other}"]),
                                           rr=t.decimal(test["rate_ratio"], 2), lo=t.decimal(test["ci_low"], 2), hi=t.decimal(test["ci_high"], 2))})
            if not [r for r in significant if r["column"] != "count"]:
                findings.append({"kind": "rate", "against": other, "significant": False, "text": t("finding_none", against=against)})
            for r in group_rows:
                pct = r[f"change_pct_{other}"]
                if not r[f"significant_{other}"] and r[f"p_holm_{other}"] is not None and pct is not None and abs(pct) >= MOVED_PCT:
                    findings.append({"kind": "moved", "column": r["column"], "against": other, "significant": False,
                                     "p_value": r[f"p_holm_{other}"],
                                     "text": t("finding_moved", what=r["label"], against=against, b=t.int(r[other]),
                                               a=t.int(r["current"]), p=t.p(r[f"p_holm_{other}"]))})
            findings.extend(self._dark_share(rows, other))
        findings.extend(self._hot_spot_findings(data))
        for r in data["top_cells"]["rows"]:
            if r["p_holm"] is not None and r["p_holm"] < stats.ALPHA:
                findings.append({"kind": "cell", "h3": r["h3"], "significant": True, "p_value": r["p_holm"],
                                 "text": t("finding_cell", cell=r["h3"], a=t.int(r["count"]), b=t.int(r["previous"]),
                                           direction=t("up" if r["count"] > r["previous"] else "down"), p=t.p(r["p_holm"]))})
        for r in (data.get("interventions") or {}).get("rows", []):
            if r["p_holm"] is not None and r["p_holm"] < stats.ALPHA:
                findings.append({"kind": "intervention", "id": r["id"], "significant": True, "p_value": r["p_holm"],
                                 "text": t("finding_intervention", id=r["id"], type=t.code("intervention_types", r["type"]),
                                           a=t.int(r["after"]), b=t.int(r["before"]),
                                           direction=t("up" if r["after"] > r["before"] else "down"), p=t.p(r["p_holm"]))})
        data["analysis"] = {"alpha": stats.ALPHA, "findings": findings}
        return {"id": "analysis", "title": t("s_analysis"), "blocks": [
            {"type": "p", "text": t("analysis_intro", alpha=t.decimal(stats.ALPHA, 2))},
            {"type": "findings", "items": findings}]}

    def _dark_share(self, rows: list[dict[str, Any]], other: str) -> list[dict[str, Any]]:
        by = {r["column"]: r for r in rows}
        known = ("light_daylight", "light_twilight", "light_darkness")
        if any(by[c][other] is None or by[c]["current"] is None for c in known):
            return []
        n_a = sum(by[c]["current"] for c in known)
        n_b = sum(by[c][other] for c in known)
        dark_a, dark_b = by["light_darkness"]["current"], by["light_darkness"][other]
        unknown = by["light_unknown"]["current"] if "light_unknown" in by else None
        p = stats.share_test(dark_a, n_a, dark_b, n_b)
        if p is None:
            return []
        t = self.t
        significant = p < stats.ALPHA
        return [{"kind": "dark_share", "against": other, "significant": significant, "p_value": round(p, 6),
                 "share_current": round(dark_a / n_a, 4) if n_a else None, "share_other": round(dark_b / n_b, 4) if n_b else None,
                 "text": t("finding_dark", share_a=t.pct(100 * dark_a / n_a, signed=False) if n_a else t("no_data"),
                           share_b=t.pct(100 * dark_b / n_b, signed=False) if n_b else t("no_data"),
                           against=t(f"against_{other}"), p=t.p(p), sig=t("finding_dark_sig") if significant else "",
                           unknown=t.int(unknown) if unknown is not None else t("no_data"))}]

    def _hot_spot_findings(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        t = self.t
        out = []
        if len(self.windows.current.starts) == 1:
            now = self.public.cells(self.windows.current)
            hot_now = set(now.index[(now["gi_bin"] >= 2).fillna(False)])
            hot_prev: set[str] = set()
            if self.has["previous"]:
                prev = self.public.cells(self.windows.previous)
                hot_prev = set(prev.index[(prev["gi_bin"] >= 2).fillna(False)])
            new = sorted(hot_now - hot_prev)
            out.append({"kind": "hot_spots", "significant": None, "hot": len(hot_now), "hot_previous": len(hot_prev), "new": new,
                        "text": t("finding_hot", n=t.int(len(hot_now)), n_prev=t.int(len(hot_prev)), new=t.int(len(new)))})
        emerging = (data.get("maps") or {}).get("emerging")
        if emerging and emerging["values"]:
            classes = pd.Series(list(emerging["values"].values())).value_counts()
            text = ", ".join(f"{t.emerging(c)} {t.int(n)}" for c, n in classes.items())
            out.append({"kind": "emerging", "significant": None, "classes": {str(c): int(n) for c, n in classes.items()},
                        "text": t("finding_emerging", classes=text)})
        return out

    # 9. Sources ---------------------------------------------------------------------------------------
    def sources(self, data: dict[str, Any], store, manifest: dict[str, Any]) -> dict[str, Any]:
        t = self.t
        blocks: list[dict[str, Any]] = [{"type": "p", "text": t("sources_text")}]
        record: dict[str, Any] = {"ingest": [], "quarantine": [], "layers": {}}
        if store is not None:
            runs = store.read_runs()
            if len(runs):
                latest = runs.sort_values("at", kind="stable").groupby("file").tail(1)
                per_source = latest.groupby(["source", "kind"], sort=True).agg(
                    files=("file", "nunique"), read=("read", "sum"), ingested=("ingested", "sum"), updated=("updated", "sum"),
                    unchanged=("unchanged", "sum"), quarantined=("quarantined", "sum")).reset_index()
                record["ingest"] = [{k: num(v) if k not in ("source", "kind") else v for k, v in r.items()}
                                    for r in per_source.to_dict("records")]
                quarantine = store.read_quarantine()
                if len(quarantine):
                    quarantine = quarantine.merge(latest[["run", "file"]], on=["run", "file"])
                    reasons = quarantine.groupby(["kind", "reason"], sort=True).size().reset_index(name="rows")
                    columns = ["kind", "file", "reason"] if self.internal else ["kind", "reason"]
                    if self.internal:
                        reasons = quarantine.groupby(columns, sort=True).size().reset_index(name="rows")
                    record["quarantine"] = [{**{c: r[c] for c in columns}, "rows": int(r["rows"])} for r in reasons.to_dict("records")]
        rows = []
        for i, r in enumerate(record["ingest"]):
            ref = f"sources.ingest.{i}"
            rows.append([cell(r["source"]), cell(t(f"kind_{r['kind']}")), cell(t.int(r["files"]), f"{ref}.files", r["files"], True),
                         cell(t.int(r["read"]), f"{ref}.read", r["read"], True),
                         cell(t.int(r["ingested"] + r["updated"] + r["unchanged"]), None, None, True),
                         cell(t.int(r["quarantined"]), f"{ref}.quarantined", r["quarantined"], True)])
        if rows:
            blocks.append({"type": "table", "id": "ingest", "headers": [t("col_source"), t("col_kind"), t("col_files"), t("col_read"),
                                                                         t("col_ingested"), t("col_quarantined")], "rows": rows})
        if record["quarantine"]:
            headers = [t("col_kind"), *([t("col_source")] if self.internal else []), t("col_reason"), t("col_quarantined")]
            qrows = [[cell(t(f"kind_{r['kind']}")), *([cell(Path(r["file"]).name)] if self.internal else []), cell(str(r["reason"])),
                      cell(t.int(r["rows"]), f"sources.quarantine.{i}.rows", r["rows"], True)] for i, r in enumerate(record["quarantine"])]
            blocks.append({"type": "table", "id": "quarantine", "headers": headers, "rows": qrows})
        else:
            blocks.append({"type": "p", "text": t("quarantine_none")})
        if self.internal:
            orgs = {name: self.counts.by_organisation(win) for name, win in self.windows.items() if self.has[name]}
            record["organisations"] = orgs
            names = sorted(set().union(*[set(v) for v in orgs.values()]))
            headers = [t("col_org"), t("col_current"), t("col_previous"), t("col_last_year")]
            org_rows = [[cell(t.code("source_orgs", o)),
                         *[cell(t.int(orgs.get(w, {}).get(o, 0)) if w in orgs else t("no_data"), f"sources.organisations.{w}.{o}",
                                orgs.get(w, {}).get(o), True) for w in ("current", "previous", "last_year")]] for o in names]
            blocks.append({"type": "table", "id": "organisations", "caption": t("orgs_title"), "headers": headers, "rows": org_rows})
        public_ids = self.layers.public
        shown = {cid: n for cid, n in (manifest.get("collections") or {}).items() if self.internal or cid in public_ids}
        record["layers"] = shown
        if shown:
            titles = {c["id"]: c.get("title") for c in self.settings.collections}
            blocks.append({"type": "table", "id": "layers", "caption": t("layers_title"),
                           "headers": [t("col_layer"), t("col_features")],
                           "rows": [[cell(_title(titles.get(cid), self.options.lang) or cid), cell(t.int(n), f"sources.layers.{cid}", n, True)]
                                    for cid, n in shown.items()]})
        data["sources"] = record
        return {"id": "sources", "title": t("s_sources"), "blocks": blocks}


def _title(title: Any, lang: str) -> str | None:
    """A collection's title in `lang` (titles in layers/*.yml are a string or {sv:, en:})."""
    if isinstance(title, dict):
        return title.get(lang) or title.get("sv") or next(iter(title.values()), None)
    return None if title is None else str(title)


def _build_time(build: Any, time_zone: str) -> str:
    """When the layers were published, in local time: a build id starts with its UTC
    time (20261206T234920.98…); readers need the time, not the id."""
    try:
        stamp = datetime.strptime(str(build)[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return "–"
    return stamp.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M")


def _law_sections(sections: list[dict[str, Any]]) -> dict[str, str]:
    """The numbers of the sections that answer each part of 4 § of the law (2023:196):
    the mapping, other relevant information and the analysis, as the report numbers them."""
    numbers = {s["id"]: s["title"].split(".", 1)[0] for s in sections if s["id"] != "method"}

    def span(ids: tuple[str, ...]) -> str:
        found = [numbers[i] for i in ids if i in numbers]
        return "–" if not found else found[0] if len(found) == 1 else f"{found[0]}–{found[-1]}"

    return {"mapping": span(("summary", "maps", "heatmap", "top")), "other": span(("places", "lamps", "interventions")),
            "analysis": span(("analysis",))}


def _cell_area(res: int, t: Texts) -> str:
    km2 = h3.average_hexagon_area(res, unit="km^2")
    return f"{t.decimal(km2, 3 if km2 < 0.1 else 2 if km2 < 1 else 1)} km²"


__all__ = ["PROFILES", "PeriodError", "Report", "ReportOptions", "compose"]
