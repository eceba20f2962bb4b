"""The report's maps and charts, drawn with matplotlib and embedded as base64 PNG.

Only matplotlib's object API (`Figure` + the Agg canvas) is used, never `pyplot`: pyplot
keeps global state and is not thread-safe, and the report also runs inside the server's
worker threads (the `lagesbild` process). Maps are drawn in SWEREF 99 TM so distances look
right, with the municipal boundary and the street network underneath when they exist.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from estgeo import styles
from estgeo.report.area import cell_polygon
from estgeo.report.texts import Texts

DPI = 130
WIDTH_IN = 7.0
#: Map height / width: two maps and their captions fit one A4 page.
MAP_ASPECT = 0.6
STORAGE_CRS = "EPSG:3006"
WITHHELD: dict[str, Any] = dict(facecolor="#d9d9d9", edgecolor="#9a9a9a", hatch="////", linewidth=0.2)
EMERGING_COLOURS = {
    "new": "#fdd0a2", "consecutive": "#fdae6b", "intensifying": "#d94801", "persistent": "#a63603",
    "diminishing": "#fd8d3c", "sporadic": "#fee6ce", "oscillating": "#bcbddc", "historical": "#969696",
}


@dataclass
class Basemap:
    """Municipal boundary and streets in SWEREF 99 TM (either may be missing)."""

    outline: gpd.GeoSeries | None
    streets: gpd.GeoDataFrame | None


def png(fig: Figure) -> str:
    """The figure as a data: URI (the HTML stays one self-contained file)."""
    for ax in fig.axes:
        if ax.get_aspect() == 1.0:  # a map: geopandas labels its axes after the CRS, which says nothing here
            ax.set_xlabel("")
            ax.set_ylabel("")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def hexagons(cells: pd.DataFrame) -> gpd.GeoDataFrame:
    """Cells (index: H3 id) as polygons in SWEREF 99 TM, with the frame's columns."""
    polygons = [cell_polygon(c) for c in cells.index]
    frame = gpd.GeoDataFrame(cells.reset_index(), geometry=polygons, crs="OGC:CRS84")
    return frame.to_crs(STORAGE_CRS)


def extent(frames: list[gpd.GeoDataFrame], area: shapely.Geometry | None = None, pad_m: float = 400.0) -> tuple[float, float, float, float]:
    """Bounds to zoom to: the cells shown (or the area), padded."""
    boxes = [f.total_bounds for f in frames if len(f)]
    if area is not None:
        boxes = [gpd.GeoSeries([area], crs="OGC:CRS84").to_crs(STORAGE_CRS).total_bounds]
    if not boxes:
        return (0.0, 0.0, 1.0, 1.0)
    b = np.array(boxes)
    x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    pad = max(pad_m, 0.05 * max(x1 - x0, y1 - y0))
    return (x0 - pad, y0 - pad, x1 + pad, y1 + pad)


def _axes(fig: Figure, rect=None, bounds=None, basemap: Basemap | None = None):
    ax = fig.add_axes(rect) if rect else fig.add_subplot(1, 1, 1)
    if basemap is not None:
        if basemap.streets is not None and len(basemap.streets):
            basemap.streets.plot(ax=ax, color="#b5b5b5", linewidth=0.35, zorder=1)
        if basemap.outline is not None and len(basemap.outline):
            basemap.outline.boundary.plot(ax=ax, color="#404040", linewidth=0.9, zorder=4)
    ax.set_xlabel("")
    ax.set_ylabel("")
    if bounds is not None:
        ax.set_xlim(bounds[0], bounds[2])
        ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if basemap is not None and bounds is not None:
        _street_names(ax, basemap, bounds)
    return ax


#: At most this many street names on one map: the longest streets in view, so the map
#: reads at A4 without turning into a word cloud.
STREET_NAMES = 14


def _street_names(ax, basemap: Basemap, bounds) -> None:
    """Name the longest named streets in view, along their longest piece, so a reader can
    say where a hexagon is (the report was read with no names on its maps)."""
    streets = basemap.streets
    if streets is None or "namn" not in streets.columns or not len(streets):
        return
    box = shapely.box(*bounds)
    named = streets[streets["namn"].fillna("").astype(str).str.strip() != ""]
    inside = named[named.intersects(box)]
    if inside.empty:
        return
    clipped = inside.assign(geometry=inside.intersection(box))
    clipped = clipped.assign(length=clipped.length)
    width = bounds[2] - bounds[0]
    minimum = 0.06 * width  # a name needs room along its street
    # Main streets first, then the longest in view; a name too near one already placed is
    # left out rather than written over it.
    main = clipped.assign(main=(clipped["kind"] == "huvudgata") if "kind" in clipped.columns else False)
    totals = main.groupby("namn").agg(main=("main", "max"), length=("length", "sum")).sort_values(
        ["main", "length"], ascending=False)
    placed: list[tuple[float, float]] = []
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=1.8, foreground="white")]
    for name in totals.index:
        if len(placed) >= STREET_NAMES:
            break
        # A street is stored as many pieces between crossings: join them before looking
        # for a stretch long enough for its name.
        merged = shapely.line_merge(shapely.union_all(clipped.geometry[clipped["namn"] == name].to_numpy()))
        lines = [g for g in shapely.get_parts(merged) if g.geom_type == "LineString"]
        if not lines:
            continue
        longest = max(lines, key=lambda g: g.length)
        if longest.length < minimum:
            continue
        middle = longest.interpolate(0.5, normalized=True)
        if any(np.hypot(middle.x - x, middle.y - y) < 0.12 * width for x, y in placed):
            continue
        placed.append((middle.x, middle.y))
        before = longest.interpolate(max(0.0, longest.project(middle) - 5))
        after = longest.interpolate(min(longest.length, longest.project(middle) + 5))
        angle = float(np.degrees(np.arctan2(after.y - before.y, after.x - before.x)))
        if angle > 90:
            angle -= 180
        elif angle < -90:
            angle += 180
        ax.text(middle.x, middle.y, str(name), fontsize=5.5, color="#303030", rotation=angle, rotation_mode="anchor",
                ha="center", va="center", zorder=8, path_effects=halo)


def _scale_bar(ax, bounds) -> None:
    """A scale bar in the lower left."""
    width = bounds[2] - bounds[0]
    length = next((s for s in (100, 200, 500, 1000, 2000, 5000, 10000, 20000) if s >= width / 6), 50000)
    x = bounds[0] + 0.04 * width
    y = bounds[1] + 0.04 * (bounds[3] - bounds[1])
    ax.plot([x, x + length], [y, y], color="black", linewidth=2, zorder=6)
    label = f"{length // 1000} km" if length >= 1000 else f"{length} m"
    ax.text(x + length / 2, y, label, ha="center", va="bottom", fontsize=7, zorder=6)


@dataclass(frozen=True)
class CountScale:
    """The classes and colours of a count map, from the one style source
    (`estgeo.styles`: the embed and the QGIS project cut and colour the same classes)."""

    classes: list[tuple[int, int | None]]
    colours: list[str]

    @classmethod
    def of(cls, values: np.ndarray, style: dict[str, Any], first: int) -> CountScale:
        found = styles.count_classes(values, int(style.get("classes", 5)), first)
        if not found:
            found = [(first, None)]
        return cls(found, styles.class_colours(list(style["palette"]), len(found)))

    def boundaries(self, values: np.ndarray) -> list[float]:
        """Matplotlib's class boundaries: each class's lowest count, then one above the
        largest count shown (the last class is open-ended)."""
        finite = values[np.isfinite(values)]
        top = float(finite.max()) if finite.size else float(self.classes[-1][0])
        lows = [float(low) for low, _ in self.classes]
        return [*lows, max(top + 1, lows[-1] + 1)]


def _choropleth(ax, frame: gpd.GeoDataFrame, column: str, scale: CountScale) -> None:
    shown = frame[frame[column].notna() & (frame[column] > 0)]
    hidden = frame[frame[column].isna()]
    if len(hidden):
        hidden.plot(ax=ax, zorder=2, **WITHHELD)
    if len(shown):
        bounds = scale.boundaries(frame[column].to_numpy(dtype=float))
        shown.plot(ax=ax, column=column, cmap=ListedColormap(scale.colours), norm=BoundaryNorm(bounds, len(bounds) - 1),
                   edgecolor="white", linewidth=0.2, alpha=0.9, zorder=3)


def _count_legend(ax, scale: CountScale, t: Texts, min_count: int, withheld: bool, title: str | None = None) -> None:
    handles = []
    for (low, high), colour in zip(scale.classes, scale.colours, strict=True):
        label = f"≥ {t.int(low)}" if high is None else t.int(low) if high == low else f"{t.int(low)}–{t.int(high)}"
        handles.append(Patch(facecolor=colour, edgecolor="white", label=label))
    if withheld:
        handles.append(Patch(label=t("legend_withheld", min=min_count), **WITHHELD))
    ax.legend(handles=handles, title=title or t("legend_count"), loc="upper right", fontsize=7, title_fontsize=7, framealpha=0.9)


def density_map(cells: gpd.GeoDataFrame, overview: gpd.GeoDataFrame, basemap: Basemap, bounds, t: Texts,
                min_count: int, scale: CountScale, overview_scale: CountScale) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, WIDTH_IN * MAP_ASPECT))
    ax = _axes(fig, [0, 0, 1, 1], bounds, basemap)
    _choropleth(ax, cells, "count", scale)
    _count_legend(ax, scale, t, min_count, withheld=bool(cells["count"].isna().any()))
    _scale_bar(ax, bounds)
    if len(overview) or (basemap.outline is not None and len(basemap.outline)):
        parts = [f.total_bounds for f in (overview,) if len(f)]
        if basemap.outline is not None and len(basemap.outline):
            parts.append(basemap.outline.total_bounds)
        b = np.array(parts)
        whole = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
        inset = _axes(fig, [0.005, 0.6, 0.3, 0.39], whole, Basemap(basemap.outline, None))
        inset.set_facecolor("white")
        _choropleth(inset, overview, "count", overview_scale)
        inset.add_patch(matplotlib.patches.Rectangle((bounds[0], bounds[1]), bounds[2] - bounds[0], bounds[3] - bounds[1],
                                                     fill=False, edgecolor="black", linewidth=0.8, zorder=7))
        for spine in inset.spines.values():
            spine.set_edgecolor("#404040")
    return fig


def gi_map(cells: gpd.GeoDataFrame, basemap: Basemap, bounds, t: Texts, gi_style: dict[str, Any]) -> Figure:
    """Gi* significance bins (−3 … 3) of a single-period window."""
    fig = Figure(figsize=(WIDTH_IN, WIDTH_IN * MAP_ASPECT))
    ax = _axes(fig, [0, 0, 1, 1], bounds, basemap)
    labels = t.list("gi_bins")
    colours = {int(code): colour for code, colour, _ in styles.categories(gi_style)}
    shown = cells[cells["gi_bin"].notna() & (cells["gi_bin"] != 0)]
    for b in range(-3, 4):
        part = shown[shown["gi_bin"] == b]
        if len(part) and b in colours:
            part.plot(ax=ax, color=colours[b], edgecolor="#606060", linewidth=0.2, zorder=3)
    handles = [Patch(facecolor=colours[b], edgecolor="#606060", label=labels[b + 3]) for b in (3, 2, 1, -1, -2, -3) if b in colours]
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
    _scale_bar(ax, bounds)
    return fig


def hot_periods_map(cells: gpd.GeoDataFrame, n_periods: int, basemap: Basemap, bounds, t: Texts) -> Figure:
    """How many of a multi-period window's periods each cell was hot."""
    fig = Figure(figsize=(WIDTH_IN, WIDTH_IN * MAP_ASPECT))
    ax = _axes(fig, [0, 0, 1, 1], bounds, basemap)
    shown = cells[cells["hot_periods"] > 0]
    breaks = [1, *sorted({max(2, round(n_periods * f)) for f in (0.25, 0.5, 0.75)} - {1}), n_periods + 1]
    breaks = sorted(set(b for b in breaks if b <= n_periods + 1))
    if len(shown) and len(breaks) > 1:
        colours = matplotlib.colormaps["Reds"](np.linspace(0.3, 0.95, len(breaks) - 1))
        shown.plot(ax=ax, column="hot_periods", cmap=ListedColormap(colours), norm=BoundaryNorm(breaks, len(breaks) - 1),
                   edgecolor="#606060", linewidth=0.2, zorder=3)
        handles = [Patch(facecolor=c, label=f"{breaks[i]}–{breaks[i + 1] - 1}" if breaks[i + 1] - 1 > breaks[i] else str(breaks[i]))
                   for i, c in enumerate(colours)]
        ax.legend(handles=handles, title=t("legend_hot_periods"), loc="upper right", fontsize=7, title_fontsize=7)
    _scale_bar(ax, bounds)
    return fig


def emerging_map(cells: gpd.GeoDataFrame, basemap: Basemap, bounds, t: Texts) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, WIDTH_IN * MAP_ASPECT))
    ax = _axes(fig, [0, 0, 1, 1], bounds, basemap)
    handles = []
    for kind, edge in (("hot", "#7f0000"), ("cold", "#08306b")):
        for rule, colour in EMERGING_COLOURS.items():
            cls = f"{rule}_{kind}"
            part = cells[cells["hotspot_class"] == cls]
            if len(part):
                fill: Any = colour
                if kind == "cold":
                    fill = matplotlib.colormaps["Blues"](0.3 + 0.08 * list(EMERGING_COLOURS).index(rule))
                part.plot(ax=ax, color=fill, edgecolor=edge, linewidth=0.4, zorder=3)
                handles.append(Patch(facecolor=colour, edgecolor=edge, label=t.emerging(cls)))
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
    _scale_bar(ax, bounds)
    return fig


def points_map(groups: list[tuple[gpd.GeoDataFrame, str, str, float]], basemap: Basemap, bounds, t: Texts,
               outline: gpd.GeoDataFrame | None = None, outline_label: str | None = None, title: str | None = None) -> Figure:
    """Points by category: (points in SWEREF 99 TM, colour, legend label, marker size),
    over optional cell outlines (the period's hot spots), in the one style source's colours."""
    fig = Figure(figsize=(WIDTH_IN, WIDTH_IN * MAP_ASPECT))
    ax = _axes(fig, [0, 0, 1, 1], bounds, basemap)
    handles: list[Any] = []
    if outline is not None and len(outline):
        outline.boundary.plot(ax=ax, color="#b2182b", linewidth=0.8, zorder=3)
        handles.append(Patch(facecolor="none", edgecolor="#b2182b", label=outline_label or ""))
    for points, colour, label, size in groups:
        if len(points):
            ax.scatter(points.geometry.x, points.geometry.y, s=size, c=colour, edgecolors="#1a1a1a", linewidths=0.4, zorder=5)
            handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor=colour, markeredgecolor="#1a1a1a",
                                                   markersize=5, label=f"{label} ({t.int(len(points))})"))
    if handles:
        ax.legend(handles=handles, title=title, loc="upper right", fontsize=7, title_fontsize=7, framealpha=0.9)
    _scale_bar(ax, bounds)
    return fig


def light_maps(cells: gpd.GeoDataFrame, basemap: Basemap, bounds, t: Texts, min_count: int, scale: CountScale) -> Figure:
    """Daylight and darkness side by side, on one colour scale (`scale`, cut from both)."""
    fig = Figure(figsize=(WIDTH_IN, WIDTH_IN * 0.5))
    withheld = bool(cells["light_daylight"].isna().any() or cells["light_darkness"].isna().any())
    for i, (column, title) in enumerate((("light_daylight", t("daylight")), ("light_darkness", t("darkness")))):
        ax = _axes(fig, [i * 0.5, 0, 0.49, 0.92], bounds, basemap)
        _choropleth(ax, cells, column, scale)
        ax.set_title(title, fontsize=9)
        if i == 1:
            _count_legend(ax, scale, t, min_count, withheld)
    return fig


def weekday_hour_heatmap(table: np.ndarray, t: Texts) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, 2.6))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(table, aspect="auto", cmap="YlOrRd", interpolation="nearest")
    ax.set_yticks(range(7), t.list("weekdays"), fontsize=7)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)], fontsize=7)
    ax.set_xlabel(t("hours"), fontsize=7)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01).ax.tick_params(labelsize=7)
    return fig


def series_chart(series: pd.DataFrame, groups: list[str], labels: list[str], highlight: list[str], t: Texts) -> Figure:
    """Stacked bars per period by category group; the report's periods outlined."""
    fig = Figure(figsize=(WIDTH_IN, 2.4))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(series))
    bottom = np.zeros(len(series))
    colours = matplotlib.colormaps["tab10"](np.arange(len(groups)))
    for colour, group, label in zip(colours, groups, labels, strict=True):
        values = series[f"grp_{group}"].fillna(0).to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, color=colour, width=0.8, label=label)
        bottom += values
    for i, start in enumerate(series.index):
        if start in highlight:
            ax.bar(i, bottom[i], width=0.9, fill=False, edgecolor="black", linewidth=1.2)
    step = max(1, len(series) // 12)
    ax.set_xticks(x[::step], [str(s) for s in series.index[::step]], fontsize=6, rotation=30, ha="right")
    ax.tick_params(axis="y", labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=6, ncols=min(6, len(groups)), loc="upper left", bbox_to_anchor=(0, 1.18), frameon=False)
    return fig
