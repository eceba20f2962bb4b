"""`estgeo qgis-project`: one QGIS project file with every layer of an estgeo server, styled.

A GIS officer opens the file and has the insecurity layers ready in SWEREF 99 TM
(EPSG:3006): each feature collection as an OGC API Features layer (QGIS provider
`OAPIF`), each tiled collection also as a vector tile layer (the web map's layers, in a
group of their own), each coverage (the modelled light) as a raster read by GDAL, with
the styles of `layers/styles/` (written by `estgeo.clients.qgis_styles`).

The project is written as QGIS project XML, built here from the server's answers, so the
command needs neither QGIS nor GDAL where it runs. The styles go in verbatim: a `.qml`
file holds the same elements as a `<maplayer>` of a project. What changes with the data
is adjusted in the XML: the density shows the latest complete lägesbild period (a
`filter` on the layer, which the GIS officer can edit or remove), with classes cut from
that period's counts, and category labels follow the chosen language.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

import pyproj

from estgeo import __version__
from estgeo import styles as style_source
from estgeo.clients.qgis_styles import rgba
from estgeo.config import PACKAGE_ROOT
from estgeo.errors import EstgeoError

STYLES = PACKAGE_ROOT / "layers" / "styles"
PROJECT_CRS = "EPSG:3006"
PERIOD_KIND = "lagesbild"
#: Features per OAPIF request: the largest page the server counts as cheap
#: (config/estgeo.yml server.limits.cheap_items). QGIS downloads its layers side by side;
#: pages of 10,000 are expensive requests, one at a time on the whole server, and the
#: others got a 503 (a CI run: the density layers came up empty). Pages of 1,000 are not
#: queued, and still whole layers in a few requests.
PAGE_SIZE = 1000
REL_ITEMS = "items"
REL_TILES = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_COVERAGE = "http://www.opengis.net/def/rel/ogc/1.0/coverage"
DENSITY = "incident-density"
#: The latest complete lägesbild period as a collection of its own
#: (`estgeo.layers.density.latest_lagesbild`): the density layer the project shows.
LATEST = "incident-density-lagesbild"
_SUB_RESOLUTION = re.compile(rf"^{DENSITY}-r(\d+)$")
#: Layer groups of the project, in drawing order from the top; collections not named
#: here go to "other".
GROUPS = [
    ("trygghet", {"sv": "Trygghetsvandringar", "en": "Safety walks"}, ["unsafe-places", "interventions", "walks"]),
    ("belysning", {"sv": "Belysning", "en": "Lighting"}, ["lamps-out", "street-lights", "dark-gaps", "lighting-insecurity"]),
    ("handelser", {"sv": "Händelser", "en": "Incidents"}, ["hotspots", LATEST]),
    ("ljusmodell", {"sv": "Modellerad belysning", "en": "Modelled light"}, ["modelled-light", "modelled-light-repaired"]),
    ("upplosningar", {"sv": "Händelsetäthet, alla upplösningar", "en": "Incident density, all resolutions"}, []),
    ("other", {"sv": "Övriga lager", "en": "Other layers"}, []),
    ("vectortiles", {"sv": "Webbkartans lager (vektortiles)", "en": "Web map layers (vector tiles)"}, []),
    ("bakgrund", {"sv": "Bakgrund", "en": "Background"}, ["basemap-streets", "municipality"]),
]
#: Groups shown when the project opens; the others are there, switched off.
GROUPS_ON = {"trygghet", "belysning", "handelser", "bakgrund"}
#: Layers in a shown group that start switched off: they cover another layer's place
#: (a second hexagon layer over the density, the work list over the street lights, the
#: repaired-light scenario over the light).
LAYERS_OFF = {"lighting-insecurity", "modelled-light-repaired"}
#: Layers drawn only from street level in (scale denominator): every street light is
#: 10,035 points on the demo, which QGIS 3.22 downloads in full for any view (11 pages,
#: about 3.5 s of a 4.9 s first render, measured); over the town the lamps that matter,
#: out and faulty, are the lamps-out work list (516 on the demo), shown at every scale.
STREET_LEVEL = {"street-lights": 15000}
#: Code lists whose labels the styles show, by the attribute they classify.
CODE_LISTS = {("unsafe-places", "status"): "walk_statuses", ("street-lights", "status"): "lamp_statuses",
              ("lamps-out", "status"): "lamp_statuses"}
PERIOD_WORDS = {"week": {"sv": "vecka", "en": "week"}, "lagesbild": {"sv": "lägesbild", "en": "lägesbild period"},
                "month": {"sv": "månad", "en": "month"}, "all": {"sv": "hela tiden", "en": "whole range"}}


class ProjectError(EstgeoError):
    """The server could not be read or does not look like estgeo; the message says why."""


@dataclass
class Collection:
    """What one collection of the server offers."""

    id: str
    title: str
    description: str = ""
    features: bool = False
    tiles: dict[str, Any] | None = None
    coverage: bool = False
    bbox: list[float] | None = None
    geometry: str | None = None  # Point, LineString or Polygon, for collections without a style
    ranges: bool = False  # the coverage's GeoTIFF is served with HTTP ranges
    filter: str = ""
    #: A QGIS expression the layer's renderer draws by (its other features are there, not
    #: drawn): the period a layer of every period shows.
    draw_only: str = ""
    name: str = ""
    classes: list[tuple[float, float, str]] = field(default_factory=list)
    #: The colours of `classes` (the count palette of layers/incident-density.yml).
    palette: list[str] = field(default_factory=list)
    #: property → its title in the project's language (the server's schema): QGIS field aliases.
    aliases: dict[str, str] = field(default_factory=dict)


# Reading the server ---------------------------------------------------------------------
def get_json(url: str, params: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
    full = url + ("?" + urlencode(params) if params else "")
    request = Request(full, headers={"Accept": "application/json", "User-Agent": f"estgeo/{__version__} qgis-project"})
    try:
        with urlopen(request, timeout=timeout) as response:  # noqa: S310 — the user names the server
            return json.loads(response.read().decode("utf-8"))
    except HTTPError as exc:
        raise ProjectError(f"{full}: the server answered {exc.code} {exc.reason}") from exc
    except (URLError, TimeoutError, OSError) as exc:
        raise ProjectError(f"{full}: cannot reach the server ({getattr(exc, 'reason', exc)})") from exc
    except ValueError as exc:
        raise ProjectError(f"{full}: the answer is not JSON") from exc


def read_collections(url: str, lang: str = "sv") -> list[Collection]:
    """Every collection of the server at `url` with what it offers."""
    document = get_json(f"{url}/collections", {"f": "json", "lang": lang})
    if "collections" not in document:
        raise ProjectError(f"{url}/collections: no 'collections' in the answer; is this an OGC API server?")
    found = []
    for entry in document["collections"]:
        rels = {link.get("rel"): link for link in entry.get("links", [])}
        bbox = (((entry.get("extent") or {}).get("spatial") or {}).get("bbox") or [None])[0]
        collection = Collection(
            id=entry["id"],
            title=str(entry.get("title") or entry["id"]),
            description=str(entry.get("description") or ""),
            features=REL_ITEMS in rels or entry.get("itemType") == "feature",
            coverage=REL_COVERAGE in rels,
            bbox=[float(v) for v in bbox] if bbox else None,
        )
        if REL_TILES in rels:
            collection.tiles = tile_range(url, collection.id)
        found.append(collection)
    return found


def tile_range(url: str, collection_id: str) -> dict[str, Any]:
    """Zoom range of a collection's vector tiles, from its TileJSON (10–16 when absent)."""
    try:
        tilejson = get_json(f"{url}/collections/{collection_id}/tiles/WebMercatorQuad/metadata", {"f": "tilejson"})
    except ProjectError:
        tilejson = {}
    layers = tilejson.get("vector_layers") or [{"id": collection_id}]
    return {"minzoom": int(tilejson.get("minzoom", 10)), "maxzoom": int(tilejson.get("maxzoom", 16)),
            "layer": str(layers[0].get("id", collection_id))}


def geometry_type(url: str, collection_id: str) -> str | None:
    """Geometry type of a collection's first feature (to style collections we do not know)."""
    page = get_json(f"{url}/collections/{collection_id}/items", {"f": "json", "limit": 1})
    features = page.get("features") or []
    geometry = (features[0].get("geometry") or {}) if features else {}
    kind = str(geometry.get("type", ""))
    return {"MultiPoint": "Point", "MultiLineString": "LineString", "MultiPolygon": "Polygon"}.get(kind, kind) or None


def latest_period(url: str, collection_id: str, kind: str = PERIOD_KIND) -> dict[str, Any] | None:
    """Label, start and end of the latest complete period of `kind` in a density layer."""
    for complete in ("true", None):
        params = {"f": "json", "period_kind": kind, "sortby": "-period_start", "limit": 1, "skipGeometry": "true",
                  "properties": "period,period_start,period_end,complete"}
        if complete:
            params["complete"] = complete
        features = get_json(f"{url}/collections/{collection_id}/items", params).get("features") or []
        if features:
            return dict(features[0]["properties"])
    return None


def field_titles(url: str, collection_id: str, lang: str) -> dict[str, str]:
    """property → title from the collection's schema (OGC API Features Part 5, in `lang`;
    estgeo serves the titles of config/fields.yml). A server without a schema gives none."""
    try:
        schema = get_json(f"{url}/collections/{collection_id}/schema", {"f": "json", "lang": lang})
    except ProjectError:
        return {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return {str(name): str(spec["title"]) for name, spec in (properties or {}).items()
            if isinstance(spec, dict) and spec.get("title") and spec.get("title") != name}


def feature_properties(url: str, collection_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The properties of every feature matching `params`, page by page (PAGE_SIZE)."""
    out: list[dict[str, Any]] = []
    while True:
        page = get_json(f"{url}/collections/{collection_id}/items",
                        {"f": "json", "skipGeometry": "true", **params, "limit": PAGE_SIZE, "offset": len(out)})
        features = page.get("features") or []
        out.extend(dict(f.get("properties") or {}) for f in features)
        if len(features) < PAGE_SIZE:
            return out


def count_classes(counts: list[float], first: int, classes: int = 5) -> list[tuple[float, float, str]]:
    """Graduated classes (lower, upper, label) of whole counts, as every client cuts them
    (`estgeo.styles.count_classes`: quantiles of the published counts of a period kind);
    the last class's upper bound is far above the largest count (QGIS needs a number)."""
    found = style_source.count_classes(counts, classes, first)
    top = max(counts, default=first)
    return [(float(low), float(high if high is not None else max(top, low) * 100), style_source.class_label(low, high))
            for low, high in found]


def kind_counts(url: str, collection_id: str, kind: str) -> list[float]:
    """Every published count of one period kind: what the classes are cut from."""
    rows = feature_properties(url, collection_id, {"period_kind": kind, "properties": "count"})
    return [float(r["count"]) for r in rows if r.get("count") is not None]


# Project XML ----------------------------------------------------------------------------
def spatialrefsys(authid: str) -> ET.Element:
    crs = pyproj.CRS.from_user_input(authid)
    element = ET.Element("spatialrefsys")
    auth, code = authid.split(":")
    for tag, value in (("wkt", crs.to_wkt()), ("srid", code), ("authid", authid),
                       ("description", crs.name), ("geographicflag", "true" if crs.is_geographic else "false")):
        ET.SubElement(element, tag).text = value
    return element


def _datasource_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def oapif_source(url: str, collection: Collection) -> str:
    parts = {"pageSize": str(PAGE_SIZE), "typename": collection.id, "url": url}
    if collection.filter:
        parts["filter"] = collection.filter
    return " ".join(f"{k}={_datasource_value(v)}" for k, v in sorted(parts.items()))


def vectortile_source(url: str, collection: Collection) -> str:
    tiles = collection.tiles or {}
    template = f"{url}/collections/{collection.id}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt"
    return (f"type=xyz&url={quote(template, safe=':/{}')}"
            f"&zmax={int(tiles.get('maxzoom', 16))}&zmin={int(tiles.get('minzoom', 10))}")


def coverage_source(url: str, collection: Collection) -> str:
    """GDAL reads the coverage's GeoTIFF over HTTP: by byte ranges (`/vsicurl/`, only the
    parts on screen of a cloud-optimised GeoTIFF) when the server answers ranges, else as
    one stream (`/vsicurl_streaming/`: /vsicurl/ refuses a server without ranges)."""
    address = f"{url}/collections/{collection.id}/coverage?f=GTiff"
    return f"/vsicurl/{address}" if collection.ranges else f"/vsicurl_streaming/{address}"


def answers_ranges(address: str, timeout: float = 30.0) -> bool:
    """Whether the server answers a byte range of `address` with 206 Partial Content."""
    request = Request(address, headers={"Range": "bytes=0-15", "User-Agent": f"estgeo/{__version__} qgis-project"})
    try:
        with urlopen(request, timeout=timeout) as response:  # noqa: S310 — the user names the server
            return response.status == 206
    except (HTTPError, URLError, TimeoutError, OSError):
        return False


def load_style(name: str, styles: Path = STYLES) -> ET.Element | None:
    path = styles / f"{name}.qml"
    if not path.exists():
        return None
    return ET.parse(path).getroot()


def maplayer(kind: str, layer_id: str, name: str, source: str, provider: str, crs: str, style: ET.Element | None,
             abstract: str = "") -> ET.Element:
    """A <maplayer>: identity and source, then the style's elements as they are in the .qml."""
    element = ET.Element("maplayer", {"type": kind, "styleCategories": "AllStyleCategories"})
    if style is not None:
        for key in ("minScale", "maxScale", "hasScaleBasedVisibilityFlag"):
            if key in style.attrib:
                element.set(key, style.attrib[key])
    ET.SubElement(element, "id").text = layer_id
    ET.SubElement(element, "datasource").text = source
    ET.SubElement(element, "layername").text = name
    srs = ET.SubElement(element, "srs")
    srs.append(spatialrefsys(crs))
    metadata = ET.SubElement(element, "resourceMetadata")
    ET.SubElement(metadata, "title").text = name
    ET.SubElement(metadata, "abstract").text = abstract
    ET.SubElement(element, "provider", {"encoding": "UTF-8"} if kind == "vector" else {}).text = provider
    if style is not None:
        for child in style:
            element.append(copy.deepcopy(child))
    return element


def draw_only(style: ET.Element, condition: str) -> None:
    """A graduated or categorized renderer classifies `CASE WHEN condition THEN attr END`:
    features outside the condition have no value, fall in no class and are not drawn."""
    renderer = style.find("renderer-v2")
    if not condition or renderer is None or renderer.get("type") not in ("graduatedSymbol", "categorizedSymbol"):
        return
    attribute = renderer.get("attr", "")
    column = attribute if attribute.startswith('"') else f'"{attribute}"'
    renderer.set("attr", f"CASE WHEN {condition} THEN {column} END")


def set_aliases(layer: ET.Element, aliases: dict[str, str]) -> None:
    """Field aliases as QGIS 3 writes them (`<aliases><alias field=… name=…/>`; QGIS reads
    them by field name, the index is kept for older readers)."""
    if not aliases:
        return
    for old in layer.findall("aliases"):
        layer.remove(old)
    element = ET.SubElement(layer, "aliases")
    for index, (name, title) in enumerate(aliases.items()):
        ET.SubElement(element, "alias", {"field": name, "index": str(index), "name": title})


def set_graduated_classes(style: ET.Element, classes: list[tuple[float, float, str]], palette: list[str] | None = None) -> None:
    """Replace the bounds and labels of a graduated renderer's ranges; surplus ranges go,
    missing ones repeat the last symbol. With `palette` (the one style source), class i
    is drawn in `estgeo.styles.class_colours(palette, n)[i]`, as the embed and the report
    draw it."""
    renderer = style.find("renderer-v2")
    if renderer is None or renderer.get("type") != "graduatedSymbol" or not classes:
        return
    ranges = renderer.find("ranges")
    symbols = renderer.find("symbols")
    if ranges is None or symbols is None:
        return
    old = list(ranges)
    for item in old:
        ranges.remove(item)
    if palette:
        templates = {sym.get("name"): sym for sym in symbols}
        first = templates.get(old[0].get("symbol", "0")) if old else next(iter(templates.values()), None)
        for sym in list(symbols):
            symbols.remove(sym)
        for i, colour in enumerate(style_source.class_colours(palette, len(classes))):
            if first is None:
                break
            symbol = copy.deepcopy(first)
            symbol.set("name", str(i))
            _set_colour(symbol, colour)
            symbols.append(symbol)
        for i, (lower, upper, label) in enumerate(classes):
            ET.SubElement(ranges, "range", {"render": "true", "symbol": str(i),
                                            "lower": f"{lower:.6f}", "upper": f"{upper:.6f}", "label": label})
        return
    for i, (lower, upper, label) in enumerate(classes):
        template = old[min(len(old) - 1, i)]
        ET.SubElement(ranges, "range", {"render": "true", "symbol": template.get("symbol", "0"),
                                        "lower": f"{lower:.6f}", "upper": f"{upper:.6f}", "label": label})
    used = {r.get("symbol") for r in ranges}
    for symbol in list(symbols):
        if symbol.get("name") not in used:
            symbols.remove(symbol)


def _set_colour(symbol: ET.Element, colour: str) -> None:
    """Set the fill colour of every layer of a QGIS symbol (both the 3.x Option map and
    the older prop list, which QGIS still reads) to `colour` (#rrggbb)."""
    value = rgba(colour, 255)
    for option in symbol.iter("Option"):
        if option.get("name") == "color":
            option.set("value", value)
    for prop in symbol.iter("prop"):
        if prop.get("k") == "color":
            prop.set("v", value)


def translate_labels(style: ET.Element, attribute: str, labels: dict[str, str]) -> None:
    """Legend labels of the codes of `attribute` in the project's language: categories of
    a categorized renderer, and rules whose filter is `"attribute" = 'code'`."""
    renderer = style.find("renderer-v2")
    if renderer is None:
        return
    if renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == attribute:
        for category in renderer.iter("category"):
            value = category.get("value")
            if value is not None and value in labels:
                category.set("label", labels[value])
    pattern = re.compile(rf"^\s*\"{re.escape(attribute)}\"\s*=\s*'([^']*)'\s*$")
    for rule in renderer.iter("rule"):
        match = pattern.match(rule.get("filter", ""))
        if match and match.group(1) in labels:
            rule.set("label", labels[match.group(1)])


def set_tile_period_kind(style: ET.Element, period_kind: str) -> None:
    """Vector tile rules filter on one period kind (the tiles hold the latest of each)."""
    for rule in style.iter("style"):
        expression = rule.get("expression", "")
        if '"period_kind"' in expression:
            rule.set("expression", re.sub(r"(\"period_kind\"\s*=\s*)'[^']*'", rf"\g<1>'{period_kind}'", expression))


def _tree_layer(parent: ET.Element, layer_id: str, name: str, source: str, provider: str, checked: bool) -> None:
    node = ET.SubElement(parent, "layer-tree-layer", {
        "id": layer_id, "name": name, "source": source, "providerKey": provider,
        "checked": "Qt::Checked" if checked else "Qt::Unchecked", "expanded": "0",
    })
    ET.SubElement(node, "customproperties")


def _layer_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name) + "_" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:12]


def project_extent(collections: list[Collection], centre: tuple[float, float] | None = None) -> tuple[float, float, float, float]:
    """The view when the project opens: the town (the density's extent), in EPSG:3006."""
    density = next((c for c in collections if c.id == DENSITY and c.bbox), None)
    box = density.bbox if density else next((c.bbox for c in collections if c.bbox), None)
    if box is None:
        box = [10.0, 55.0, 24.0, 69.0]
    to_3006 = pyproj.Transformer.from_crs("OGC:CRS84", PROJECT_CRS, always_xy=True)
    xs, ys = to_3006.transform([box[0], box[2], box[0], box[2]], [box[1], box[1], box[3], box[3]])
    return min(xs), min(ys), max(xs), max(ys)


def build_project(url: str, collections: list[Collection], lang: str = "sv", title: str = "",
                  styles: Path = STYLES, taxonomy: dict[str, Any] | None = None,
                  period_kind: str = PERIOD_KIND) -> ET.ElementTree:
    """The project document for `collections` of the server at `url`."""
    root = ET.Element("qgis", {"projectname": title, "version": "3.22.0-Białowieża"})
    ET.SubElement(root, "homePath", {"path": ""})
    ET.SubElement(root, "title").text = title
    project_crs = ET.SubElement(root, "projectCrs")
    project_crs.append(spatialrefsys(PROJECT_CRS))
    tree_root = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree_root, "customproperties")
    groups: dict[str, ET.Element] = {}
    for key, names, _ in GROUPS:
        group = ET.Element("layer-tree-group", {"name": names.get(lang, names["sv"]), "expanded": "1" if key in GROUPS_ON else "0",
                                                "checked": "Qt::Checked" if key in GROUPS_ON else "Qt::Unchecked"})
        ET.SubElement(group, "customproperties")
        groups[key] = group
    projectlayers = ET.SubElement(root, "projectlayers")
    order: list[str] = []
    placed: dict[str, list[tuple[int, ET.Element]]] = {key: [] for key, _, _ in GROUPS}
    rank = {cid: i for _, _, ids in GROUPS for i, cid in enumerate(ids)}

    def group_of(collection: Collection) -> str:
        for key, _, ids in GROUPS:
            if collection.id in ids:
                return key
        return "upplosningar" if collection.id == DENSITY or _SUB_RESOLUTION.match(collection.id) else "other"

    for collection in collections:
        name = collection.name or collection.title
        key = group_of(collection)
        if collection.features:
            style = load_style(collection.id, styles)
            if style is None and (_SUB_RESOLUTION.match(collection.id) or collection.id == LATEST):
                style = load_style(DENSITY, styles)
            if style is None and collection.geometry:
                style = load_style(f"default-{collection.geometry.lower()}", styles)
            if style is not None:
                style = copy.deepcopy(style)
                set_graduated_classes(style, collection.classes, collection.palette or None)
                draw_only(style, collection.draw_only)
                for (cid, attribute), code_list in CODE_LISTS.items():
                    if cid == collection.id and taxonomy:
                        labels = {c: str(e.get(lang, c)) for c, e in (taxonomy.get(code_list) or {}).items()}
                        translate_labels(style, attribute, labels)
            layer_id = _layer_id(collection.id)
            source = oapif_source(url, collection)
            layer = maplayer("vector", layer_id, name, source, "OAPIF", "EPSG:4326", style, collection.description)
            set_aliases(layer, collection.aliases)
            if collection.id in STREET_LEVEL:
                layer.attrib.update({"hasScaleBasedVisibilityFlag": "1", "minScale": str(STREET_LEVEL[collection.id]),
                                     "maxScale": "0"})
            projectlayers.append(layer)
            placed[key].append((rank.get(collection.id, 99), _tree_node(layer_id, name, source, "OAPIF", collection.id not in LAYERS_OFF)))
        if collection.coverage:
            layer_id = _layer_id(collection.id + "-coverage")
            source = coverage_source(url, collection)
            projectlayers.append(maplayer("raster", layer_id, name, source, "gdal", PROJECT_CRS, load_style(collection.id, styles),
                                          collection.description))
            placed[key].append((rank.get(collection.id, 99), _tree_node(layer_id, name, source, "gdal", collection.id not in LAYERS_OFF)))
        if collection.tiles and not _SUB_RESOLUTION.match(collection.id):
            layer_id = _layer_id(collection.id + "-tiles")
            source = vectortile_source(url, collection)
            tile_name = f"{collection.title} (vektortiles)" if lang == "sv" else f"{collection.title} (vector tiles)"
            style = load_style(f"{collection.id}.vectortile", styles)
            if style is not None:
                style = copy.deepcopy(style)
                set_tile_period_kind(style, period_kind)
            projectlayers.append(maplayer("vector-tile", layer_id, tile_name, source, "vectortile", "EPSG:3857", style,
                                          collection.description))
            placed["vectortiles"].append((rank.get(collection.id, 99), _tree_node(layer_id, tile_name, source, "vectortile", True)))

    for key, _, _ in GROUPS:
        if not placed[key]:
            continue
        for _, node in sorted(placed[key], key=lambda item: item[0]):
            groups[key].append(node)
            order.append(node.get("id", ""))
        tree_root.append(groups[key])
    layerorder = ET.SubElement(root, "layerorder")
    for layer_id in order:
        ET.SubElement(layerorder, "layer", {"id": layer_id})
    _properties(root)
    _view(root, project_extent(collections))
    return ET.ElementTree(root)


def _properties(root: ET.Element) -> None:
    """Project properties QGIS needs: without ProjectionsEnabled it ignores <projectCrs>."""
    properties = ET.SubElement(root, "properties")
    srs = ET.SubElement(properties, "SpatialRefSys")
    ET.SubElement(srs, "ProjectionsEnabled", {"type": "int"}).text = "1"
    measurement = ET.SubElement(properties, "Measurement")
    ET.SubElement(measurement, "DistanceUnits", {"type": "QString"}).text = "meters"
    ET.SubElement(measurement, "AreaUnits", {"type": "QString"}).text = "m2"
    paths = ET.SubElement(properties, "Paths")
    ET.SubElement(paths, "Absolute", {"type": "bool"}).text = "false"


def _tree_node(layer_id: str, name: str, source: str, provider: str, checked: bool) -> ET.Element:
    holder = ET.Element("holder")
    _tree_layer(holder, layer_id, name, source, provider, checked)
    return holder[0]


def _view(root: ET.Element, extent: tuple[float, float, float, float]) -> None:
    """Open on the town: the canvas extent and the project's default view (EPSG:3006)."""
    xmin, ymin, xmax, ymax = extent
    canvas = ET.SubElement(root, "mapcanvas", {"name": "theMapCanvas", "annotationsVisible": "1"})
    ET.SubElement(canvas, "units").text = "meters"
    box = ET.SubElement(canvas, "extent")
    for tag, value in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
        ET.SubElement(box, tag).text = f"{value:.1f}"
    ET.SubElement(canvas, "rotation").text = "0"
    destination = ET.SubElement(canvas, "destinationsrs")
    destination.append(spatialrefsys(PROJECT_CRS))
    settings = ET.SubElement(root, "ProjectViewSettings", {"UseProjectScales": "0"})
    ET.SubElement(settings, "Scales")
    default = ET.SubElement(settings, "DefaultViewExtent", {"xmin": f"{xmin:.1f}", "ymin": f"{ymin:.1f}",
                                                            "xmax": f"{xmax:.1f}", "ymax": f"{ymax:.1f}"})
    default.append(spatialrefsys(PROJECT_CRS))


def write_qgz(tree: ET.ElementTree, output: Path) -> Path:
    """A .qgz (zip with the .qgs inside) or, for a .qgs name, the plain XML."""
    ET.indent(tree, space=" ")
    root = tree.getroot()
    assert root is not None, "a project tree has its <qgis> root"
    xml = b"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".qgs":
        output.write_bytes(xml)
        return output
    tmp = output.with_name(f".{output.name}.partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{output.stem}.qgs", xml)
    tmp.replace(output)
    return output


def make_project(url: str, output: Path, lang: str = "sv", styles: Path = STYLES, taxonomy: dict[str, Any] | None = None,
                 first: int = 1, count_style: dict[str, Any] | None = None,
                 period_kind: str = PERIOD_KIND) -> tuple[Path, list[Collection]]:
    """Read the server at `url` and write the project to `output`; return it and the layers."""
    url = url.rstrip("/")
    landing = get_json(url, {"f": "json", "lang": lang})
    title = str(landing.get("title") or "estgeo")
    collections = read_collections(url, lang)
    if not collections:
        raise ProjectError(f"{url}: the server publishes no collections yet (build the layers first)")
    for collection in collections:
        if collection.features and load_style(collection.id, styles) is None and not _SUB_RESOLUTION.match(collection.id):
            collection.geometry = geometry_type(url, collection.id)
        if collection.features:
            collection.aliases = field_titles(url, collection.id, lang)
        if collection.coverage:
            collection.ranges = answers_ranges(f"{url}/collections/{collection.id}/coverage?f=GTiff")
        if collection.features and collection.id == LATEST:
            adjust_latest(url, collection, lang, first, count_style or {})
        elif collection.features and (collection.id == DENSITY or _SUB_RESOLUTION.match(collection.id) or collection.id == "hotspots"):
            adjust_periodic(url, collection, lang, first, count_style or {}, period_kind)
    tree = build_project(url, collections, lang, title, styles, taxonomy, period_kind)
    return write_qgz(tree, output), collections


def adjust_periodic(url: str, collection: Collection, lang: str, first: int, count_style: dict[str, Any],
                    period_kind: str) -> None:
    """Draw one period: the latest complete of `period_kind` (hot spots hold only that one).

    By the renderer (`draw_only`), not by a layer filter: QGIS 3.22 applies an OAPIF
    layer's filter on the client after downloading the layer, reports the unfiltered
    count as the layer's feature count (18,234 for 126), and a feature request with a
    limit takes the first features before filtering (none of one period came back). The
    layer holds what the collection holds, and draws the period.
    """
    if collection.id == "hotspots":
        collection.draw_only = f"\"period_kind\" = '{period_kind}'"
        return
    period = latest_period(url, collection.id, period_kind)
    if period is None:
        return
    label = str(period["period"])
    collection.draw_only = f"\"period_kind\" = '{period_kind}' AND \"period\" = '{label}'"
    start, end = str(period.get("period_start", ""))[:10], str(period.get("period_end", ""))[:10]
    word = PERIOD_WORDS.get(period_kind, {}).get(lang, period_kind)
    collection.name = f"{collection.title} – {word} {start}–{_day_before(end)}" if start and end else f"{collection.title} – {label}"
    _set_count_classes(collection, kind_counts(url, collection.id, period_kind), first, count_style)


def adjust_latest(url: str, collection: Collection, lang: str, first: int, count_style: dict[str, Any]) -> None:
    """The latest lägesbild collection holds one period: named after it, classes cut as
    for every lägesbild period, and no filter (QGIS 3.22 would apply one on the client, after
    downloading the layer, and count the unfiltered features)."""
    # The collection holds one period: its first feature names it (the classes come
    # from every lägesbild period below, so the rest of the layer is not read here).
    page = get_json(f"{url}/collections/{collection.id}/items",
                    {"f": "json", "skipGeometry": "true", "properties": "period,period_start,period_end", "limit": 1})
    rows = [dict(f.get("properties") or {}) for f in page.get("features") or []]
    if not rows:
        return
    row = rows[0]
    start, end = str(row.get("period_start", ""))[:10], str(row.get("period_end", ""))[:10]
    word = PERIOD_WORDS["lagesbild"].get(lang, "lägesbild")
    base = collection.title.split(" – ")[0]
    collection.name = f"{base} – {word} {start}–{_day_before(end)}" if start and end else collection.title
    # Cut from every lägesbild period of the density at this resolution, as the embed and
    # the report cut them, so one period has one class scheme in every client.
    _set_count_classes(collection, kind_counts(url, DENSITY, "lagesbild"), first, count_style)


def _set_count_classes(collection: Collection, counts: list[float], first: int, count_style: dict[str, Any]) -> None:
    """Classes and colours of a count layer from the one style source (`style.count`)."""
    collection.classes = count_classes(counts, first, int(count_style.get("classes", 5)))
    collection.palette = list(count_style.get("palette") or [])


def _day_before(iso: str) -> str:
    """Periods end at the start of the next one; people say the last day."""
    from datetime import date, timedelta

    try:
        return (date.fromisoformat(iso) - timedelta(days=1)).isoformat()
    except ValueError:
        return iso
