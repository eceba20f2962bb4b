"""One style source: the classes, colours and labels of every property a map colours.

They are declared once, in the `style:` section of `layers/*.yml`, and every client draws
from here — the embedded map (`estgeo.publish.embed` passes them to the page), the QGIS
project (`estgeo.clients.qgis_project` rewrites the graduated classes and colours of the
`.qml` it ships), the `.qml`/`.sld` files themselves (`estgeo.clients.qgis_styles` reads
the same declarations under QGIS's Python) and the lägesbild report's maps. Before this,
one lägesbild period at resolution 9 was drawn with three class schemes and two palettes
(embed 5 / 6 / 7–8 / 9–13 / ≥ 14 viridis, QGIS 5–6 / 7–9 / … fixed, report 5–9 / 10–19 …
yellow-red); `tests/test_styles.py` now checks that the three agree.

Count classes are cut from *all* published counts of one period kind at one resolution
(quantiles of the incidents in them, whole numbers), not from the period on screen: the
legend then stays put when a reader steps from one lägesbild period to the next, so the
same colour means the same count in every period being compared.

The module sits beside `estgeo.config` (it imports nothing of estgeo but it), so every
room may use it; it needs only numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from estgeo.config import ConfigError, Settings

#: Where each style is declared: (layer file stem, property).
DECLARED = {
    "count": ("incident-density", "count"),
    "change": ("incident-density", "change"),
    "gi_bin": ("incident-density", "gi_bin"),
    "walk_status": ("unsafe-places", "status"),
    "lamp_status": ("street-lights", "status"),
    "gap_cause": ("lighting", "cause"),
}


def styles(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every declared style by its name (`DECLARED`), as written in layers/*.yml."""
    by_layer = {str(layer.get("name")): layer.get("style") or {} for layer in settings.layers}
    out: dict[str, dict[str, Any]] = {}
    for name, (layer, prop) in DECLARED.items():
        found = by_layer.get(layer, {}).get(prop)
        if found is None:
            raise ConfigError(f"layers/{layer}.yml: style.{prop} is missing (the one style source of every client)")
        out[name] = found
    return out


def categories(style: dict[str, Any], lang: str = "sv") -> list[tuple[str, str, str]]:
    """(code, colour, label) of a categorical style, in the order declared."""
    return [(str(code), str(spec["colour"]), str(spec.get(lang) or spec.get("sv") or code))
            for code, spec in style["categories"].items()]


def first_class(settings: Settings) -> int:
    """The lowest count a map's first class starts at: 1 where every count is published
    (perturbed by the Cell Key Method), the threshold where smaller counts are withheld."""
    return 1 if settings.privacy_method == "cell-key" else settings.privacy_min_count


def _published(values: Iterable[float] | np.ndarray, first: int) -> np.ndarray:
    """The counts a class can hold: finite, from `first` (and 1) up."""
    array = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
    return array[np.isfinite(array) & (array >= max(first, 1))]


def count_breaks(values: Iterable[float] | np.ndarray, classes: int = 5, first: int = 1) -> list[int]:
    """Thresholds between at most `classes` colour classes of published counts, rounded up
    to whole numbers, ascending and distinct, each below the largest count (no class is
    empty at the top).

    The cuts are quantiles of the *incidents*, not of the cells: each cell weighs as many
    as it counts, so every class holds about as many incidents. Counts are heavy-tailed
    (most cells hold one or two), and quantiles of the cells put the whole town centre in
    the top class: on the demo's lägesbild periods at resolution 9 (4,409 non-zero cells,
    largest 42) plain quantiles gave 1 / 2 / 3 / 4–5 / ≥ 6, these give 1–2 / 3–4 / 5–7 /
    8–14 / ≥ 15, which still tell the hot centre's cells apart."""
    present = _published(values, first)
    if present.size == 0:
        return []
    cuts = np.quantile(present, np.linspace(0, 1, classes + 1)[1:-1], weights=present, method="inverted_cdf")
    thresholds = np.unique(np.maximum(np.ceil(cuts), first + 1))
    return [int(t) for t in thresholds if t < present.max()]


def count_classes(values: Iterable[float] | np.ndarray, classes: int = 5, first: int = 1) -> list[tuple[int, int | None]]:
    """The classes as (lowest, highest) whole counts, the last open-ended (highest None);
    empty when no count reaches `first`."""
    array = _published(values, first)
    if array.size == 0:
        return []
    lows = [first, *count_breaks(array, classes, first)]
    return [(low, lows[i + 1] - 1 if i + 1 < len(lows) else None) for i, low in enumerate(lows)]


def class_label(low: int, high: int | None, thousands: str = "\u00a0") -> str:
    """'5', '5–9' or '≥ 25' (a thin space groups thousands in Swedish, a comma in English)."""
    def n(v: int) -> str:
        return f"{v:,}".replace(",", thousands)
    if high is None:
        return f"≥ {n(low)}"
    return n(low) if high == low else f"{n(low)}–{n(high)}"


def class_colours(palette: Sequence[str], n: int) -> list[str]:
    """The colours of `n` classes: the palette's first `n` (light to dark), the darkest
    repeated when there are more classes than colours."""
    return [palette[min(i, len(palette) - 1)] for i in range(n)]


__all__ = ["DECLARED", "categories", "class_colours", "class_label", "count_breaks", "count_classes", "first_class",
           "styles"]
