"""Write the QGIS styles of the published layers (`layers/styles/*.qml`, `*.sld`).

Run with QGIS's own Python, not estgeo's (PyQGIS is not on PyPI)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 -m estgeo.clients.qgis_styles [layers/styles]

The .qml files are what `estgeo qgis-project` puts into the project, and what a GIS
officer loads by hand (Layer properties → Style → Load style); the .sld files carry the
vector styles to other clients (GeoServer, uDig). Each collection gets a style for its
OGC API Features layer (`<id>.qml`) and, when it is tiled, one for its vector tiles
(`<id>.vectortile.qml`): the same classes and colours, as vector tile rules.

Colours and labels of counts, hot spots, statuses and causes are the one style source
(`style:` in layers/*.yml, `estgeo.styles`), which the embedded map and the report use
too; they stay readable with colour-vision deficiencies: reversed viridis for counts,
RdBu for hot/cold spots, Okabe–Ito for categories, magma for modelled light. Legends are
in Swedish, the working language of the municipality's GIS.

This module imports only the standard library and PyYAML (which QGIS's Python has), so
estgeo's test suite can read the class definitions below without QGIS.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

LAYERS = Path(__file__).resolve().parents[2] / "layers"


def _declared(layer: str, prop: str) -> dict[str, Any]:
    """A style of the one style source (`style:` of layers/<layer>.yml)."""
    return dict(yaml.safe_load((LAYERS / f"{layer}.yml").read_text(encoding="utf-8"))["style"][prop])


def _categories(layer: str, prop: str) -> list[tuple[str, str, str]]:
    return [(str(code), str(spec["colour"]), str(spec["sv"])) for code, spec in _declared(layer, prop)["categories"].items()]


#: Incident counts per cell and lägesbild period: classes (lower, upper, label). The
#: project generator re-cuts them from the server's data (`estgeo.clients.qgis_project`).
DENSITY_CLASSES = [(5, 6, "5–6"), (7, 9, "7–9"), (10, 14, "10–14"), (15, 24, "15–24"), (25, 100000, "≥ 25")]
VIRIDIS_R = list(_declared("incident-density", "count")["palette"])
#: Gi* significance bins (FDR-corrected), as published in `gi_bin`.
HOTSPOT_CLASSES: list[tuple[int, str | None, str]] = sorted(
    [(int(code), colour, label) for code, colour, label in _categories("incident-density", "gi_bin")]
    + [(0, None, "Inte signifikant")], key=lambda c: -c[0])
#: Unsafe places: colour by status (open ones larger), marker by the kind of problem.
WALK_STATUSES = _categories("unsafe-places", "status")
OPEN_STATUSES = ("ny", "planerad")
#: Problem groups in order of precedence: a place with several problems gets the first.
PROBLEM_GROUPS = [
    ("Belysning", "star", '"problem_belysning_saknas" OR "problem_belysning_dalig"'),
    ("Skymd sikt, vegetation", "triangle", '"problem_skymd_sikt" OR "problem_vegetation"'),
    ("Gångtunnel, ödslig plats", "square", '"problem_gangtunnel" OR "problem_odslig_plats"'),
    ("Klotter, skräp, trasigt", "diamond", '"problem_klotter" OR "problem_nedskrapning" OR "problem_trasig_utrustning"'),
    ("Annat", "circle", "TRUE"),
]
#: Street lights: lamps out first and largest, faults next, lit lamps small.
LAMP_SIZES = {"slackt": 3.2, "fel": 2.6, "tand": 1.6}
LAMP_STATUSES = [(code, colour, label, LAMP_SIZES[code]) for code, colour, label in _categories("street-lights", "status")]
LIT_LAMPS_FROM_SCALE = 15000
#: Modelled ground illuminance (lux): magma from dark to bright.
LUX_STOPS = [(0.0, "#000004", "0 lx"), (0.5, "#1c1044", "0,5 lx"), (1.0, "#4f127b", "1 lx"), (3.0, "#812581", "3 lx"),
             (5.0, "#b5367a", "5 lx"), (10.0, "#e55064", "10 lx"), (20.0, "#fb8761", "20 lx"), (30.0, "#fcfdbf", "≥ 30 lx")]
GENERIC = "#7570b3"
#: Lighting insecurity index (0–100): reversed cividis, worst darkest.
INDEX_CLASSES = [(0, 20, "0–20"), (20, 40, "20–40"), (40, 60, "40–60"), (60, 80, "60–80"), (80, 100, "80–100")]
CIVIDIS_R = ["#fee838", "#c8b866", "#948e77", "#4f5b6e", "#00224e"]
#: Dark gaps by cause: lamps out (repairs would light them) or lighting missing.
GAP_CAUSES = _categories("lighting", "cause")
#: Lamps-out work list: the highest ranked first and largest.
WORK_LIST = [("Topp 10", '"rank" <= 10', "star", 5.0), ("Plats 11–50", '"rank" > 10 AND "rank" <= 50', "circle", 3.2),
             ("Övriga", '"rank" > 50 OR "rank" IS NULL', "circle", 2.2)]
STREET_KINDS = [("huvudgata", "#8c8c84", 0.8, "solid", "Huvudgata"), ("lokalgata", "#b4b4ac", 0.4, "solid", "Lokalgata"),
                ("gcvag", "#8c8c84", 0.3, "dash", "Gång- och cykelväg")]
#: The period kind the project shows by default: the operative group's lägesbild cycle.
PERIOD_KIND = "lagesbild"


def main(folder: Path) -> None:
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, layer in feature_layers().items():
            _save(layer, folder / f"{name}.qml", sld=True)
        for name, layer in tile_layers().items():
            _save(layer, folder / f"{name}.vectortile.qml", sld=False)
        raster = modelled_light_layer(folder)
        for name in ("modelled-light", "modelled-light-repaired"):
            _save(raster, folder / f"{name}.qml", sld=True)
    finally:
        app.exitQgis()


def _save(layer, path: Path, sld: bool) -> None:
    from qgis.core import QgsMapLayer

    categories = QgsMapLayer.Symbology | QgsMapLayer.Rendering | QgsMapLayer.Legend
    message, ok = layer.saveNamedStyle(str(path), categories)
    if not ok:
        raise RuntimeError(f"{path}: {message}")
    if sld:
        message, ok = layer.saveSldStyle(str(path.with_suffix(".sld")))
        if not ok:
            raise RuntimeError(f"{path.with_suffix('.sld')}: {message}")
    print(f"wrote {path}")


# Symbols ------------------------------------------------------------------------------
def rgba(colour: str, alpha: int) -> str:
    """"#rrggbb" with an alpha (0–255) as QGIS's "r,g,b,a" (QColor reads #aarrggbb, not #rrggbbaa)."""
    return ",".join(str(int(colour[i:i + 2], 16)) for i in (1, 3, 5)) + f",{alpha}"


def _fill(colour: str | None, outline: str = "#ffffff", width: float = 0.15, style: str = "solid"):
    from qgis.core import QgsFillSymbol

    return QgsFillSymbol.createSimple({
        "color": colour or "0,0,0,0", "style": style if colour else "no", "outline_color": outline,
        "outline_width": str(width), "outline_width_unit": "MM",
    })


def _marker(colour: str, shape: str = "circle", size: float = 2.5, outline: str = "#1a1a1a", width: float = 0.3):
    from qgis.core import QgsMarkerSymbol

    return QgsMarkerSymbol.createSimple({
        "name": shape, "color": colour, "size": str(size), "size_unit": "MM",
        "outline_color": outline, "outline_width": str(width), "outline_width_unit": "MM",
    })


def _line(colour: str, width: float, style: str = "solid"):
    from qgis.core import QgsLineSymbol

    return QgsLineSymbol.createSimple({"line_color": colour, "line_width": str(width), "line_width_unit": "MM",
                                       "line_style": style, "capstyle": "round", "joinstyle": "round"})


# Feature layers (OGC API Features) -------------------------------------------------------
def _memory(geometry: str, fields: dict[str, str], name: str):
    from qgis.core import QgsVectorLayer

    spec = "&".join(f"field={k}:{v}" for k, v in fields.items())
    layer = QgsVectorLayer(f"{geometry}?crs=EPSG:4326&{spec}", name, "memory")
    if not layer.isValid():
        raise RuntimeError(f"memory layer {name} is not valid")
    return layer


def feature_layers() -> dict[str, object]:
    from qgis.core import (
        QgsCategorizedSymbolRenderer,
        QgsFeatureRenderer,
        QgsGraduatedSymbolRenderer,
        QgsRendererCategory,
        QgsRendererRange,
        QgsRuleBasedRenderer,
    )

    layers = {}

    density = _memory("Polygon", {"count": "integer", "period_kind": "string", "suppressed": "boolean"}, "incident-density")
    ranges = [QgsRendererRange(lo, hi, _fill(colour), label) for (lo, hi, label), colour in zip(DENSITY_CLASSES, VIRIDIS_R, strict=True)]
    density.setRenderer(QgsGraduatedSymbolRenderer("count", ranges))
    density.setOpacity(0.85)
    layers["incident-density"] = density

    hotspots = _memory("Polygon", {"gi_bin": "integer", "period_kind": "string"}, "hotspots")
    # Outlines, as in the embed: a filled hot spot hid the density under it.
    categories = [QgsRendererCategory(value, _fill(None, outline=colour or "#7f7f7f", width=0.1 if colour is None else 0.9),
                                      label, colour is not None)
                  for value, colour, label in HOTSPOT_CLASSES]
    hotspots.setRenderer(QgsCategorizedSymbolRenderer("gi_bin", categories))
    layers["hotspots"] = hotspots

    unsafe = _memory("Point", {"status": "string", "problem_belysning_saknas": "boolean", "problem_belysning_dalig": "boolean",
                               "problem_skymd_sikt": "boolean", "problem_vegetation": "boolean", "problem_gangtunnel": "boolean",
                               "problem_odslig_plats": "boolean", "problem_klotter": "boolean", "problem_nedskrapning": "boolean",
                               "problem_trasig_utrustning": "boolean"}, "unsafe-places")
    root = QgsRuleBasedRenderer.Rule(None)
    for status, colour, status_label in WALK_STATUSES:
        parent = QgsRuleBasedRenderer.Rule(None, 0, 0, f"\"status\" = '{status}'", status_label)
        size = 4.2 if status in OPEN_STATUSES else 3.0
        for group, shape, expression in PROBLEM_GROUPS:
            child = QgsRuleBasedRenderer.Rule(_marker(colour, shape, size), 0, 0, expression, group)
            parent.appendChild(child)
        # Within a status the first matching problem group wins (children are exclusive).
        _exclusive_children(parent)
        root.appendChild(parent)
    unsafe.setRenderer(QgsRuleBasedRenderer(root))
    layers["unsafe-places"] = unsafe

    lights = _memory("Point", {"status": "string"}, "street-lights")
    root = QgsRuleBasedRenderer.Rule(None)
    for status, colour, label, size in LAMP_STATUSES:
        lit = status == "tand"
        symbol = _marker(colour, "circle", size, outline="#4d4d4d" if lit else "#000000", width=0.15 if lit else 0.5)
        # Lit lamps only from street level (1:15 000) in; lamps out and faults at every scale.
        root.appendChild(QgsRuleBasedRenderer.Rule(symbol, 0, LIT_LAMPS_FROM_SCALE if lit else 0, f"\"status\" = '{status}'", label))
    renderer = QgsRuleBasedRenderer(root)
    _draw_in_reverse_order(renderer)
    lights.setRenderer(renderer)
    layers["street-lights"] = lights

    outline = _memory("Polygon", {"namn": "string"}, "municipality")
    from qgis.core import QgsSingleSymbolRenderer

    outline.setRenderer(QgsSingleSymbolRenderer(_fill(None, outline="#4d4d4d", width=0.6)))
    outline.renderer().symbol().symbolLayer(0).setStrokeStyle(_pen("dash"))
    layers["municipality"] = outline

    streets = _memory("LineString", {"kind": "string"}, "basemap-streets")
    cats = [QgsRendererCategory(kind, _line(colour, width, style), label, True) for kind, colour, width, style, label in STREET_KINDS]
    streets.setRenderer(QgsCategorizedSymbolRenderer("kind", cats))
    layers["basemap-streets"] = streets

    walks = _memory("Polygon", {"walk_id": "string"}, "walks")
    walks.setRenderer(QgsSingleSymbolRenderer(_fill(rgba("#333333", 16), outline="#333333", width=0.4)))
    walks.renderer().symbol().symbolLayer(0).setStrokeStyle(_pen("dash"))
    layers["walks"] = walks

    insecurity = _memory("Polygon", {"index": "double"}, "lighting-insecurity")
    # The lowest class faint: most of a town is not dark, and the eye should go elsewhere.
    ranges = [QgsRendererRange(lo, hi, _fill(rgba(colour, 90) if i == 0 else colour), label)
              for i, ((lo, hi, label), colour) in enumerate(zip(INDEX_CLASSES, CIVIDIS_R, strict=True))]
    insecurity.setRenderer(QgsGraduatedSymbolRenderer("index", ranges))
    insecurity.setOpacity(0.8)
    layers["lighting-insecurity"] = insecurity

    gaps = _memory("Polygon", {"cause": "string"}, "dark-gaps")
    cats = [QgsRendererCategory(cause, _fill(colour, outline="#000000", width=0.3), label, True) for cause, colour, label in GAP_CAUSES]
    gaps.setRenderer(QgsCategorizedSymbolRenderer("cause", cats))
    gaps.setOpacity(0.85)
    layers["dark-gaps"] = gaps

    work = _memory("Point", {"rank": "integer"}, "lamps-out")
    root = QgsRuleBasedRenderer.Rule(None)
    for label, expression, shape, size in WORK_LIST:
        root.appendChild(QgsRuleBasedRenderer.Rule(_marker(LAMP_STATUSES[0][1], shape, size, outline="#000000", width=0.5),
                                                   0, 0, expression, label))
    renderer = QgsRuleBasedRenderer(root)
    _draw_in_reverse_order(renderer)
    work.setRenderer(renderer)
    layers["lamps-out"] = work

    # Collections without a style of their own (a new layer, a municipality's own).
    for geometry, symbol in (("Point", _marker(GENERIC, "circle", 2.6)), ("LineString", _line(GENERIC, 0.5)),
                             ("Polygon", _fill(rgba(GENERIC, 128), outline=GENERIC, width=0.3))):
        generic = _memory(geometry, {"id": "string"}, f"default-{geometry.lower()}")
        generic.setRenderer(QgsSingleSymbolRenderer(symbol))
        layers[f"default-{geometry.lower()}"] = generic

    interventions = _memory("Point", {"type": "string"}, "interventions")
    interventions.setRenderer(QgsSingleSymbolRenderer(_marker("#0072B2", "diamond", 3.0)))
    layers["interventions"] = interventions
    assert all(isinstance(layer.renderer(), QgsFeatureRenderer) for layer in layers.values())
    return layers


def _pen(name: str):
    from qgis.PyQt.QtCore import Qt

    return {"dash": Qt.DashLine, "solid": Qt.SolidLine}[name]


def _exclusive_children(parent) -> None:
    """Make each child rule exclude the problems of the rules before it."""
    before: list[str] = []
    for child in parent.children():
        original = child.filterExpression()
        if before:
            child.setFilterExpression(f"({original}) AND NOT ({' OR '.join(f'({b})' for b in before)})")
        before.append(original)


def _draw_in_reverse_order(renderer) -> None:
    """Symbol levels: the first rule (lamps out) is drawn last, on top."""
    rules = renderer.rootRule().children()
    for i, rule in enumerate(rules):
        symbol = rule.symbol()
        for layer_index in range(symbol.symbolLayerCount()):
            symbol.symbolLayer(layer_index).setRenderingPass(len(rules) - 1 - i)
    renderer.setUsingSymbolLevels(True)


# Vector tiles ---------------------------------------------------------------------------
def tile_layers() -> dict[str, object]:
    """Vector tile styles: one QGIS layer per tiled collection, whose MVT layer is named
    after the collection (estgeo.build.tiles). Tiles hold the latest complete period of
    each kind, so density and hot spots filter on the lägesbild period."""
    from qgis.core import QgsVectorTileBasicRenderer, QgsVectorTileBasicRendererStyle, QgsVectorTileLayer, QgsWkbTypes

    def style(name: str, layer: str, geometry, expression: str, symbol, minzoom: int = -1, maxzoom: int = -1):
        s = QgsVectorTileBasicRendererStyle(name, layer, geometry)
        s.setFilterExpression(expression)
        s.setSymbol(symbol)
        s.setMinZoomLevel(minzoom)
        s.setMaxZoomLevel(maxzoom)
        return s

    polygon, point, line = QgsWkbTypes.PolygonGeometry, QgsWkbTypes.PointGeometry, QgsWkbTypes.LineGeometry
    kind = f"\"period_kind\" = '{PERIOD_KIND}'"
    styles: dict[str, list] = {
        "incident-density": [
            style(label, "incident-density", polygon, f'{kind} AND "count" >= {lo} AND "count" <= {hi}', _fill(colour))
            for (lo, hi, label), colour in zip(DENSITY_CLASSES, VIRIDIS_R, strict=True)
        ],
        "hotspots": [
            style(label, "hotspots", polygon, f'{kind} AND "gi_bin" = {value}', _fill(None, outline=colour, width=0.9))
            for value, colour, label in HOTSPOT_CLASSES if colour
        ],
        "unsafe-places": [
            style(label, "unsafe-places", point, f"\"status\" = '{status}'",
                  _marker(colour, "circle", 4.2 if status in OPEN_STATUSES else 3.0))
            for status, colour, label in WALK_STATUSES
        ],
        "street-lights": [
            style(label, "street-lights", point, f"\"status\" = '{status}'",
                  _marker(colour, "circle", size, outline="#000000" if status != "tand" else "#4d4d4d",
                          width=0.5 if status != "tand" else 0.15), minzoom=15 if status == "tand" else -1)
            for status, colour, label, size in reversed(LAMP_STATUSES)
        ],
        "lighting-insecurity": [
            style(label, "lighting-insecurity", polygon, f'"index" >= {lo} AND "index" <= {hi}', _fill(colour))
            for (lo, hi, label), colour in zip(INDEX_CLASSES, CIVIDIS_R, strict=True)
        ],
        "dark-gaps": [
            style(label, "dark-gaps", polygon, f"\"cause\" = '{cause}'", _fill(colour, outline="#000000", width=0.3))
            for cause, colour, label in GAP_CAUSES
        ],
        "municipality": [style("Kommungräns", "municipality", polygon, "", _fill(None, outline="#4d4d4d", width=0.6))],
        "basemap-streets": [
            style(label, "basemap-streets", line, f"\"kind\" = '{k}'", _line(colour, width, style_))
            for k, colour, width, style_, label in STREET_KINDS
        ],
    }
    out = {}
    for name, rules in styles.items():
        layer = QgsVectorTileLayer("type=xyz&url=http://localhost/{z}/{x}/{y}.mvt&zmin=0&zmax=16", name)
        renderer = QgsVectorTileBasicRenderer()
        renderer.setStyles(rules)
        layer.setRenderer(renderer)
        if name in ("incident-density", "hotspots", "lighting-insecurity"):
            layer.setOpacity(0.85)
        out[name] = layer
    return out


# Raster ---------------------------------------------------------------------------------
def modelled_light_layer(folder: Path):
    """A pseudo-colour ramp on a throw-away one-band raster (the style is all we keep)."""
    import tempfile

    from osgeo import gdal
    from qgis.core import QgsColorRampShader, QgsRasterLayer, QgsRasterShader, QgsSingleBandPseudoColorRenderer
    from qgis.PyQt.QtGui import QColor

    tmp = Path(tempfile.mkdtemp()) / "lux.tif"
    dataset = gdal.GetDriverByName("GTiff").Create(str(tmp), 4, 4, 1, gdal.GDT_Float32)
    dataset.SetGeoTransform([395000, 5, 0, 6635000, 0, -5])
    dataset.SetProjection("EPSG:3006")
    dataset.GetRasterBand(1).SetNoDataValue(-9999)
    dataset.GetRasterBand(1).WriteArray(__import__("numpy").linspace(0, 30, 16, dtype="float32").reshape(4, 4))
    dataset = None
    layer = QgsRasterLayer(str(tmp), "modelled-light")
    ramp = QgsColorRampShader(LUX_STOPS[0][0], LUX_STOPS[-1][0])
    ramp.setColorRampType(QgsColorRampShader.Interpolated)
    ramp.setColorRampItemList([QgsColorRampShader.ColorRampItem(v, QColor(c), label) for v, c, label in LUX_STOPS])
    ramp.setClip(False)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(LUX_STOPS[0][0])
    renderer.setClassificationMax(LUX_STOPS[-1][0])
    renderer.setOpacity(0.75)
    layer.setRenderer(renderer)
    return layer


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "layers" / "styles")
