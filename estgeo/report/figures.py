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
from matplotlib.patches import Patch

from estgeo.report.area import cell_polygon
from estgeo.report.texts import Texts

DPI = 130
WIDTH_IN = 7.0
#: Map height / width: two maps and their captions fit one A4 page.
MAP_ASPECT = 0.6
STORAGE_CRS = "EPSG:3006"
WITHHELD: dict[str, Any] = dict(facecolor="#d9d9d9", edgecolor="#9a9a9a", hatch="////", linewidth=0.2)
GI_COLOURS = ["#4575b4", "#91bfdb", "#e0f3f8", "#f7f7f7", "#fee090", "#fc8d59", "#d73027"]
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
    return ax


def _scale_bar(ax, bounds) -> None:
    """A scale bar in the lower left."""
    width = bounds[2] - bounds[0]
    length = next((s for s in (100, 200, 500, 1000, 2000, 5000, 10000, 20000) if s >= width / 6), 50000)
    x = bounds[0] + 0.04 * width
    y = bounds[1] + 0.04 * (bounds[3] - bounds[1])
    ax.plot([x, x + length], [y, y], color="black", linewidth=2, zorder=6)
    label = f"{length // 1000} km" if length >= 1000 else f"{length} m"
    ax.text(x + length / 2, y, label, ha="center", va="bottom", fontsize=7, zorder=6)


def count_breaks(values: np.ndarray, min_count: int) -> list[float]:
    """Class limits for counts: from the privacy threshold up in 1-2-5 steps, at most six classes."""
    top = float(np.nanmax(values)) if np.isfinite(values).any() else float(min_count)
    steps = [min_count] + [s for s in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000) if s > min_count]
    breaks = [s for s in steps if s <= top] or [min_count]
    while len(breaks) > 6:
        breaks = breaks[::2] if breaks[-1] == breaks[::2][-1] else [*breaks[::2], breaks[-1]]
    return [*breaks, max(top + 1, breaks[-1] + 1)]


def _choropleth(ax, frame: gpd.GeoDataFrame, column: str, breaks: list[float], cmap_name: str = "YlOrRd") -> None:
    shown = frame[frame[column].notna() & (frame[column] > 0)]
    hidden = frame[frame[column].isna()]
    if len(hidden):
        hidden.plot(ax=ax, zorder=2, **WITHHELD)
    if len(shown):
        colours = matplotlib.colormaps[cmap_name](np.linspace(0.15, 0.95, len(breaks) - 1))
        shown.plot(ax=ax, column=column, cmap=ListedColormap(colours), norm=BoundaryNorm(breaks, len(breaks) - 1),
                   edgecolor="white", linewidth=0.2, alpha=0.9, zorder=3)


def _count_legend(ax, breaks: list[float], t: Texts, min_count: int, cmap_name: str = "YlOrRd", title: str | None = None) -> None:
    colours = matplotlib.colormaps[cmap_name](np.linspace(0.15, 0.95, len(breaks) - 1))
    handles = []
    for i, colour in enumerate(colours):
        lo, hi = breaks[i], breaks[i + 1] - 1
        label = f"{t.int(lo)}–{t.int(hi)}" if hi > lo else t.int(lo)
        handles.append(Patch(facecolor=colour, edgecolor="white", label=label))
    handles.append(Patch(label=t("legend_withheld", min=min_count), **WITHHELD))
    ax.legend(handles=handles, title=title or t("legend_count"), loc="upper right", fontsize=7, title_fontsize=7, framealpha=0.9)


def density_map(cells: gpd.GeoDataFrame, overview: gpd.GeoDataFrame, basemap: Basemap, bounds, t: Texts,
                min_count: int) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, WIDTH_IN * MAP_ASPECT))
    ax = _axes(fig, [0, 0, 1, 1], bounds, basemap)
    breaks = count_breaks(cells["count"].to_numpy(dtype=float), min_count)
    _choropleth(ax, cells, "count", breaks)
    _count_legend(ax, breaks, t, min_count)
    _scale_bar(ax, bounds)
    if len(overview) or (basemap.outline is not None and len(basemap.outline)):
        parts = [f.total_bounds for f in (overview,) if len(f)]
        if basemap.outline is not None and len(basemap.outline):
            parts.append(basemap.outline.total_bounds)
        b = np.array(parts)
        whole = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
        inset = _axes(fig, [0.005, 0.6, 0.3, 0.39], whole, Basemap(basemap.outline, None))
        inset.set_facecolor("white")
        _choropleth(inset, overview, "count", count_breaks(overview["count"].to_numpy(dtype=float), min_count))
        inset.add_patch(matplotlib.patches.Rectangle((bounds[0], bounds[1]), bounds[2] - bounds[0], bounds[3] - bounds[1],
                                                     fill=False, edgecolor="black", linewidth=0.8, zorder=7))
        for spine in inset.spines.values():
            spine.set_edgecolor("#404040")
    return fig


def gi_map(cells: gpd.GeoDataFrame, basemap: Basemap, bounds, t: Texts) -> Figure:
    """Gi* significance bins (−3 … 3) of a single-period window."""
    fig = Figure(figsize=(WIDTH_IN, WIDTH_IN * MAP_ASPECT))
    ax = _axes(fig, [0, 0, 1, 1], bounds, basemap)
    labels = t.list("gi_bins")
    shown = cells[cells["gi_bin"].notna() & (cells["gi_bin"] != 0)]
    for b in range(-3, 4):
        part = shown[shown["gi_bin"] == b]
        if len(part):
            part.plot(ax=ax, color=GI_COLOURS[b + 3], edgecolor="#606060", linewidth=0.2, zorder=3)
    handles = [Patch(facecolor=GI_COLOURS[b + 3], edgecolor="#606060", label=labels[b + 3]) for b in (3, 2, 1, -1, -2, -3)]
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


def light_maps(cells: gpd.GeoDataFrame, basemap: Basemap, bounds, t: Texts, min_count: int) -> Figure:
    """Daylight and darkness side by side, on one colour scale."""
    fig = Figure(figsize=(WIDTH_IN, WIDTH_IN * 0.5))
    values = np.concatenate([cells["light_daylight"].to_numpy(dtype=float), cells["light_darkness"].to_numpy(dtype=float)])
    breaks = count_breaks(values, min_count)
    for i, (column, title) in enumerate((("light_daylight", t("daylight")), ("light_darkness", t("darkness")))):
        ax = _axes(fig, [i * 0.5, 0, 0.49, 0.92], bounds, basemap)
        _choropleth(ax, cells, column, breaks, "PuRd")
        ax.set_title(title, fontsize=9)
        if i == 1:
            _count_legend(ax, breaks, t, min_count, "PuRd")
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
