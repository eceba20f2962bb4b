"""The embeddable map: one iframe line puts the insecurity map on a municipal web page.

`/embed?layers=incident-density,unsafe-places&lang=sv` is a MapLibre GL JS page served by
estgeo itself, with MapLibre shipped inside the package (`embed_assets/static/vendor`,
copied from npm) so that no CDN is needed: municipal intranets are often closed. The page
draws the published collections — as vector tiles where the collection has them (OGC API
Tiles, `/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt`), else as GeoJSON from
`/items` — with a legend, layer toggles, a period selector, a daylight/darkness switch for
the density, pop-ups with the published properties, Swedish and English texts, and
keyboard access.

This module only assembles what the page needs (`page_config`: collections, tile or
GeoJSON sources, the periods of the density layer and class breaks for its colour
scale) from pygeoapi's configuration and the published files; drawing happens in the
browser (`embed_assets/static/embed.js`). It also adds the iframe line to copy to
pygeoapi's landing page.

Options (`embed:` in config/estgeo.yml): `layers` (shown when the URL names none),
`basemap_url` / `basemap_attribution` (raster tiles under the map; empty = none, so the
page makes no request outside the server by default; when the URL cannot be reached the
page falls back to the municipal boundary and streets from the data), `zoom`.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import mimetypes
import os
import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
import pandas as pd
from flask import Blueprint, Flask, Response, abort, render_template, request, send_file
from werkzeug.security import safe_join

from estgeo import styles as style_source
from estgeo.config import Settings
from estgeo.errors import EstgeoError
from estgeo.publish import glyphs
from estgeo.publish.http import app_pygeoapi_config, app_settings
from estgeo.publish.layer_cache import LayerUnavailable, load_layer

ASSETS = Path(__file__).resolve().parent / "embed_assets"
STATIC = ASSETS / "static"
MAPLIBRE_VERSION = (STATIC / "vendor" / "maplibre-gl" / "VERSION").read_text(encoding="utf-8").strip()
#: Changes with our own script and style sheet, so browsers never keep a stale copy.
ASSET_VERSION = hashlib.sha256(b"".join((STATIC / name).read_bytes() for name in ("embed.js", "embed.css"))).hexdigest()[:12]
LANGUAGES = ("sv", "en")

#: How the page draws each collection it knows; any other public collection is drawn
#: with a plain style. The density's other resolutions are read through `incident-density`.
KINDS = {
    "incident-density": "density",
    "hotspots": "hotspots",
    "unsafe-places": "unsafe-places",
    "street-lights": "street-lights",
    "dark-gaps": "dark-gaps",
    "lighting-insecurity": "lighting-insecurity",
    "lamps-out": "lamps-out",
    "walks": "walks",
    "municipality": "outline",
    "basemap-streets": "streets",
}
#: Collections drawn as the background, never listed as layers.
CONTEXT = ("municipality", "basemap-streets")
DENSITY = "incident-density"
DEFAULT_LAYERS = ("incident-density", "hotspots", "unsafe-places")
#: Density measures the page can colour by: all incidents, in daylight, in darkness.
MEASURES = ("count", "light_daylight", "light_darkness")
PERIOD_KINDS = ("week", "lagesbild", "month", "all")
#: Counts per category group (grp_skadegorelse, …): the page's category filter colours by one.
GROUP_PREFIX = "grp_"
#: Properties the GeoJSON fallback asks for, per kind (the pop-ups show these).
GEOJSON_PROPERTIES = {
    "density": ["h3", "resolution", "period_kind", "period", "period_start", "period_end", "count", "light_daylight",
                "light_twilight", "light_darkness", "light_unknown", "prev_count", "change", "change_pct", "gi_bin", "gi_z",
                "suppressed"],
}
#: Text assets are sent gzip-compressed when the browser accepts it (MapLibre: 1.6 MB → 0.45 MB).
COMPRESSIBLE = {".mjs", ".js", ".css", ".json", ".txt", ".svg"}
MIMETYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".css": "text/css", ".json": "application/json"}

BLUEPRINT = Blueprint("estgeo_embed", __name__, template_folder=str(ASSETS / "templates"))


class EmbedError(EstgeoError, ValueError):
    """A request the page cannot be made for; the message is shown to the web editor."""


# Configuration of one page -------------------------------------------------------------
def page_config(config: dict[str, Any], settings: Settings, *, lang: str = "sv", layers: list[str] | None = None,
                period_kind: str | None = None, light: str | None = None, base: str = "") -> dict[str, Any]:
    """Everything the browser needs to draw the map, as JSON-ready data.

    `config` is pygeoapi's configuration (what is served), `layers` the collections asked
    for (None: the configured default, limited to what is published), `base` the path
    prefix the page resolves URLs against.
    """
    resources: dict[str, Any] = config.get("resources", {})
    options = embed_options(settings)
    # Features only: a coverage (the modelled-light raster) has no vector form to draw.
    published = [cid for cid, res in resources.items() if res.get("type") == "collection" and not _is_sub_resolution(cid)
                 and any(p.get("type") == "feature" for p in res.get("providers", []))]
    if layers is None:
        chosen = [cid for cid in options["layers"] if cid in published] or [c for c in published if c not in CONTEXT]
    else:
        unknown = [cid for cid in layers if cid not in published or cid in CONTEXT]
        if unknown:
            listed = ", ".join(c for c in published if c not in CONTEXT)
            raise EmbedError(f"unknown layer {', '.join(unknown)}: the published layers are {listed}")
        chosen = layers
    if period_kind not in (None, *PERIOD_KINDS):
        raise EmbedError(f"period must be one of {', '.join(PERIOD_KINDS)}")
    if light not in (None, "all", "daylight", "darkness"):
        raise EmbedError("light must be all, daylight or darkness")

    groups = tuple(str(g) for g in (settings.taxonomy.get("category_groups") or {}))
    out_layers = [_layer(cid, resources[cid], lang, base, groups) for cid in chosen]
    context = [_layer(cid, resources[cid], lang, base) for cid in CONTEXT if cid in resources]
    density: dict[str, Any] | None = None
    if DENSITY in chosen or "hotspots" in chosen:
        count_style = style_source.styles(settings)["count"]
        density = density_summary(resources, style_source.first_class(settings), int(count_style.get("classes", 5)))
    centre = settings.municipality.get("centre_wgs84", {})
    basemap_url = str(options.get("basemap_url") or "")
    return {
        "lang": lang,
        "base": base,
        "title": _text(config.get("metadata", {}).get("identification", {}).get("title", ""), lang),
        "municipality": settings.municipality.get("name", ""),
        "center": [float(centre.get("lon", 0.0)), float(centre.get("lat", 0.0))],
        "zoom": float(options.get("zoom", 13)),
        "basemap": {"url": basemap_url, "attribution": str(options.get("basemap_attribution") or "")} if basemap_url else None,
        "layers": out_layers,
        "context": context,
        "density": density,
        "period_kind": period_kind or "lagesbild",
        "light": light or "all",
        "min_count": settings.privacy_min_count,
        # The first colour class starts here (1 with cell-key, the threshold with suppression).
        "first_class": style_source.first_class(settings),
        # Classes, colours and labels of every coloured property: layers/*.yml (estgeo.styles).
        "styles": style_source.styles(settings),
        # cell-key: published counts carry a small fixed perturbation ("Om kartan" says so).
        "perturbed": settings.privacy_method == "cell-key",
        "messages": messages(lang),
        "labels": code_labels(settings, lang),
    }


def embed_options(settings: Settings) -> dict[str, Any]:
    options = {"layers": list(DEFAULT_LAYERS), "basemap_url": "", "basemap_attribution": "", "zoom": 13}
    options.update(settings.project.get("embed") or {})
    return options


def _is_sub_resolution(cid: str) -> bool:
    """A view of the density the page draws from `incident-density` itself: the other
    resolutions, and the latest lägesbild period (the page's period picker has it)."""
    return re.fullmatch(rf"{DENSITY}-(r\d+|lagesbild)", cid) is not None


def _text(value: Any, lang: str) -> str:
    if isinstance(value, dict):
        return str(value.get(lang) or next(iter(value.values()), ""))
    return str(value)


def _layer(cid: str, resource: dict[str, Any], lang: str, base: str, groups: tuple[str, ...] = ()) -> dict[str, Any]:
    """One collection: its title, how to draw it and where its data comes from.

    `source.items` (GeoJSON) is always there; `source.tiles` when the collection has
    vector tiles. Tiles of layers with periods hold only the latest complete period of
    each kind, so the page reads other periods of the density from `items`.
    """
    kind = KINDS.get(cid, "generic")
    query: dict[str, Any] = {"f": "json", "limit": 10000}
    density_properties = [*GEOJSON_PROPERTIES["density"], *(f"{GROUP_PREFIX}{g}" for g in groups)]
    if kind == "density":
        query["properties"] = ",".join(density_properties)
    source: dict[str, Any] = {"items": f"{base}/collections/{cid}/items?{urlencode(query, safe=',')}"}
    tile = next((p for p in resource.get("providers", []) if p.get("type") == "tile"), None)
    if tile is not None:
        options = tile.get("options") or {}
        zoom = options.get("zoom") or {}
        source.update({
            "tiles": f"{base}/collections/{cid}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt",
            "minzoom": int(zoom.get("min", 0)),
            "maxzoom": int(zoom.get("max", 16)),
            "layer": str(options.get("layer") or cid),
        })
        bbox = ((resource.get("extents") or {}).get("spatial") or {}).get("bbox")
        if bbox and len(bbox) == 4:
            # MapLibre asks for no tile outside the data (the server answers those 404).
            source["bounds"] = [float(v) for v in bbox]
    if kind == "hotspots":
        # The hot spots of any other period are the density's Gi* bins of that period (the
        # hot spot collection and its tiles hold the latest complete period of each kind).
        query = {"f": "json", "limit": 10000, "properties": ",".join(density_properties)}
        source["period_items"] = f"{base}/collections/{DENSITY}/items?{urlencode(query, safe=',')}"
    return {"id": cid, "kind": kind, "title": _text(resource.get("title", cid), lang), "source": source}


# The density: periods and colour classes ------------------------------------------------
def density_summary(resources: dict[str, Any], first: int, classes: int = 5) -> dict[str, Any] | None:
    """Periods of the density layer and class breaks of each measure, per resolution;
    computed once per build (the files' real paths and times are the cache key)."""
    files = {cid: _data_path(res) for cid, res in resources.items() if cid == DENSITY or _is_sub_resolution(cid)}
    files = {cid: path for cid, path in files.items() if path}
    if DENSITY not in files:
        return None
    try:
        # The configured path (through `current`, shared with the provider's layer cache),
        # the file it resolves to and its time: a new build is a new key.
        signature = tuple(sorted((cid, path, os.path.realpath(path), os.stat(path).st_mtime_ns)
                                 for cid, path in files.items() if path is not None))
    except OSError:
        return None
    return _density_summary(signature, first, classes)


@lru_cache(maxsize=4)
def _density_summary(signature: tuple[tuple[str, str, str, int], ...], first: int, classes: int) -> dict[str, Any] | None:
    files = {cid: path for cid, path, _, _ in signature}
    try:
        main = load_layer(files[DENSITY], DENSITY).frame
        by_resolution = {cid: load_layer(path, cid).frame for cid, path in files.items()}
    except LayerUnavailable:
        return None
    breaks: dict[str, dict[str, dict[str, list[float]]]] = {}
    for frame in by_resolution.values():
        for res, rows in frame.groupby("resolution", observed=True):
            for kind, part in rows.groupby(rows["period_kind"].astype(str), observed=True):
                entry = breaks.setdefault(str(kind), {}).setdefault(str(int(res)), {})
                for measure in (*MEASURES, *(c for c in part.columns if str(c).startswith(GROUP_PREFIX))):
                    counts = pd.to_numeric(part[measure], errors="coerce").to_numpy(dtype=float)
                    entry[measure] = [float(b) for b in style_source.count_breaks(counts, classes, first)]
                entry["change"] = change_breaks(part["change"])
    groups = [str(c)[len(GROUP_PREFIX):] for c in main.columns if str(c).startswith(GROUP_PREFIX)]
    return {"periods": density_periods(main), "breaks": breaks, "groups": groups,
            "resolutions": sorted({int(r) for f in by_resolution.values() for r in f["resolution"].dropna().unique()})}


def _data_path(resource: dict[str, Any]) -> str | None:
    feature = next((p for p in resource.get("providers", []) if p.get("type") == "feature"), None)
    if feature is None:
        return None
    # A collection served from PostGIS names its build file beside the connection.
    return str(feature.get("estgeo_file") or feature.get("data"))


def density_periods(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Every period of each kind, newest first: label, first and last day, complete."""
    keys = frame[["period_kind", "period", "period_start", "period_end", "complete"]].astype(
        {"period_kind": str, "period": str}).drop_duplicates(["period_kind", "period"])
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in PERIOD_KINDS:
        rows = keys[keys["period_kind"] == kind].sort_values("period_start", ascending=False)
        out[kind] = [
            {"period": p, "start": _day(s), "end": _day(e, last=True), "complete": bool(c)}
            for p, s, e, c in zip(rows["period"], rows["period_start"], rows["period_end"], rows["complete"], strict=True)
        ]
    return {k: v for k, v in out.items() if v}


def _day(value: Any, last: bool = False) -> str:
    """ISO day of a period bound; an end bound is exclusive, so the last day is the day before."""
    stamp = pd.Timestamp(value)
    if last:
        stamp -= pd.Timedelta(days=1)
    return stamp.strftime("%Y-%m-%d")


def change_breaks(values: pd.Series) -> list[float]:
    """Two thresholds (b, c) of a symmetric diverging scale of change in seven classes:
    ≤ −c, −c+1 … −b, −b+1 … −1, 0, 1 … b−1, b … c−1, ≥ c — the median and the 90th
    percentile of the size of the non-zero changes."""
    present = pd.to_numeric(values, errors="coerce").dropna().abs()
    present = present[present > 0].to_numpy(dtype=float)
    if present.size == 0:
        return [2.0, 3.0]
    b = max(2.0, float(np.ceil(np.quantile(present, 0.5))))
    c = max(b + 1, float(np.ceil(np.quantile(present, 0.9))))
    return [b, c]


# Texts ----------------------------------------------------------------------------------
@cache
def _all_messages() -> dict[str, dict[str, str]]:
    return json.loads((ASSETS / "messages.json").read_text(encoding="utf-8"))


def messages(lang: str) -> dict[str, str]:
    table = _all_messages()
    return {**table["en"], **table.get(lang, {})}


def code_labels(settings: Settings, lang: str) -> dict[str, dict[str, str]]:
    """Labels of the codes the pop-ups and legend show, from config/taxonomy.yml."""
    lists = ("category_groups", "walk_statuses", "walk_light_conditions", "walk_problems", "lamp_types",
             "lamp_statuses", "lamp_owners", "intervention_types")
    return {name: {code: str(entry.get(lang) or code) for code, entry in (settings.taxonomy.get(name) or {}).items()}
            for name in lists}


def pick_language(requested: str | None, accepted: Any, available: list[str] | tuple[str, ...] = LANGUAGES) -> str:
    """`lang=` when it is one we have, else the browser's preference, else Swedish."""
    if requested:
        short = requested.split("-")[0].lower()
        if short in available:
            return short
    for value, _quality in accepted or ():  # best first; "en-GB" means English
        short = str(value).split("-")[0].lower()
        if short in available:
            return short
    return available[0]


# The iframe line ------------------------------------------------------------------------
def iframe_snippet(url: str, title: str, layers: list[str] | None = None, lang: str = "sv", height: int = 520) -> str:
    """The line a web editor pastes into a page."""
    query = {"lang": lang}
    if layers:
        query["layers"] = ",".join(layers)
    src = f"{url.rstrip('/')}/embed?{urlencode(query, safe=',')}"
    return (f'<iframe src="{html.escape(src)}" title="{html.escape(title)}" width="100%" height="{height}" '
            f'style="border:0" loading="lazy" allowfullscreen></iframe>')


def landing_section(url: str, title: str, lang: str, layers: list[str]) -> str:
    """The landing page's "embed the map" section: a preview link and the line to copy."""
    text = messages(lang)
    snippet = iframe_snippet(url, title, layers, lang)
    preview = f"{url.rstrip('/')}/embed?lang={lang}"
    return (
        '<section id="embed">'
        f'<h2>{html.escape(text["embed_heading"])}</h2>'
        f'<p>{html.escape(text["embed_intro"])} <a href="{html.escape(preview)}">{html.escape(text["embed_open"])}</a></p>'
        f'<label for="estgeo-embed-snippet">{html.escape(text["embed_copy"])}</label>'
        f'<textarea id="estgeo-embed-snippet" class="form-control font-monospace" rows="3" readonly>'
        f"{html.escape(snippet)}</textarea>"
        "</section>"
    )


def add_section(page: str, section: str) -> str:
    """Insert `section` into pygeoapi's landing page before its API definition section
    (or at the end of the main column); the page is unchanged when neither is found."""
    for marker in ('<section id="openapi">', '<section id="conformance">'):
        if marker in page:
            return page.replace(marker, section + marker, 1)
    return page


# HTTP -----------------------------------------------------------------------------------
@BLUEPRINT.get("/embed")
def embed_page() -> Response:
    config = app_pygeoapi_config()
    settings = app_settings()
    lang = pick_language(request.args.get("lang"), request.accept_languages, config["server"].get("languages", LANGUAGES))
    layers = [c.strip() for c in request.args.get("layers", "").split(",") if c.strip()] or None
    try:
        page = page_config(config, settings, lang=lang, layers=layers, period_kind=request.args.get("period"),
                           light=request.args.get("light"), base=request.script_root)
    except EmbedError as exc:
        return Response(f"estgeo embed: {exc}\n", status=400, mimetype="text/plain")
    static = f"{request.script_root}/embed/static"
    page["maplibre"] = f"{static}/vendor/maplibre-gl/maplibre-gl.mjs?v={MAPLIBRE_VERSION}"
    body = render_template("embed.html", page=page, config_json=_script_json(page), static=static,
                           maplibre_version=MAPLIBRE_VERSION, asset_version=ASSET_VERSION)
    response = Response(body, mimetype="text/html")
    response.headers["Content-Language"] = lang
    response.headers["Content-Security-Policy"] = content_security_policy(settings)
    response.headers["Cache-Control"] = "no-cache"
    return response


def content_security_policy(settings: Settings) -> str:
    """The page loads nothing but this server (and the base map, when one is configured):
    no CDN, no inline script. Who may frame it follows `access.frame_ancestors`."""
    basemap = str(embed_options(settings).get("basemap_url") or "")
    origin = ""
    if basemap:
        parts = urlsplit(basemap)
        origin = f" {parts.scheme}://{parts.netloc}"
    ancestors = " ".join((settings.project.get("access") or {}).get("frame_ancestors", ["*"])) or "'none'"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:{origin}; connect-src 'self'{origin}; worker-src 'self' blob:; "
        f"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {ancestors}"
    )


def _script_json(data: dict[str, Any]) -> str:
    """JSON safe inside <script>: no `</` can close the element."""
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


@BLUEPRINT.get("/embed/static/<path:filename>")
def embed_static(filename: str) -> Response:
    """Page assets; MapLibre and our script gzip-compressed when the browser accepts it."""
    path = safe_join(str(STATIC), filename)
    if path is None or not os.path.isfile(path):
        abort(404)
    suffix = Path(path).suffix
    mimetype = MIMETYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    # Assets are versioned in their URLs (?v=), so browsers may keep them a day.
    max_age = 86400
    if suffix in COMPRESSIBLE and "gzip" in request.headers.get("Accept-Encoding", ""):
        stat = os.stat(path)
        body, etag = _gzipped(path, stat.st_mtime_ns, stat.st_size)
        response = Response(body, mimetype=mimetype)
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        response.set_etag(etag)
        response.cache_control.public = True
        response.cache_control.max_age = max_age
        return response.make_conditional(request)  # type: ignore[return-value]  # the same Flask response
    response = send_file(path, mimetype=mimetype, max_age=max_age, conditional=True)
    response.headers["Vary"] = "Accept-Encoding"
    return response


# Place search -------------------------------------------------------------------------------
STREETS = "basemap-streets"
#: At most this many places answer one search.
PLACES_SHOWN = 8


def _fold(text: str) -> str:
    """Lower case without accents: 'Östra' and 'ostra' find the same street."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def street_index(resources: dict[str, Any]) -> list[dict[str, Any]]:
    """Every named street of the published basemap once, with the box round all its
    pieces (CRS84), sorted by name; read again only when a build changes the file."""
    resource = resources.get(STREETS)
    path = _data_path(resource) if resource else None
    if not path:
        return []
    try:
        signature = (path, os.path.realpath(path), os.stat(path).st_mtime_ns)
    except OSError:
        return []
    return _street_index(signature)


@lru_cache(maxsize=4)
def _street_index(signature: tuple[str, str, int]) -> list[dict[str, Any]]:
    try:
        frame = load_layer(signature[0], STREETS).frame
    except LayerUnavailable:
        return []
    if "namn" not in frame.columns or frame.empty:
        return []
    named = frame[frame["namn"].notna() & (frame["namn"].astype(str).str.strip() != "")]
    bounds = named.geometry.bounds
    boxes = pd.concat([named["namn"].astype(str).rename("name"), bounds], axis=1).groupby("name").agg(
        {"minx": "min", "miny": "min", "maxx": "max", "maxy": "max"})
    return [{"name": name, "folded": _fold(name), "bbox": [round(float(v), 6) for v in row]}
            for name, row in zip(boxes.index, boxes.to_numpy(), strict=True)]


def search_places(index: list[dict[str, Any]], query: str, limit: int = PLACES_SHOWN) -> list[dict[str, Any]]:
    """Streets whose name starts with the query (any case, with or without accents),
    then those that hold it; at most `limit`."""
    folded = _fold(query.strip())
    if not folded:
        return []
    starts = [p for p in index if p["folded"].startswith(folded)]
    holds = [p for p in index if folded in p["folded"] and not p["folded"].startswith(folded)]
    return [{"name": p["name"], "bbox": p["bbox"]} for p in (starts + holds)[:limit]]


@BLUEPRINT.get("/embed/places")
def embed_places() -> Response:
    """`?q=storg` → the streets of the published basemap that match, with their boxes."""
    query = request.args.get("q", "")
    if len(query) > 100:
        return Response("estgeo embed: q is at most 100 characters\n", status=400, mimetype="text/plain")
    found = search_places(street_index(app_pygeoapi_config().get("resources", {})), query)
    response = Response(json.dumps({"query": query, "places": found}, ensure_ascii=False), mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@BLUEPRINT.get("/embed/glyphs/<fontstack>/<int:start>-<int:end>.pbf")
def embed_glyphs(fontstack: str, start: int, end: int) -> Response:
    """Label glyphs (SDF, protobuf) for the street names, made here (`estgeo.publish.glyphs`):
    no font server or CDN. Every stack is drawn with DejaVu Sans."""
    try:
        data = glyphs.glyph_range(fontstack, start, end)
    except glyphs.GlyphRangeError as exc:
        return Response(f"estgeo embed: {exc}\n", status=400, mimetype="text/plain")
    response = Response(data, mimetype="application/x-protobuf")
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


@lru_cache(maxsize=32)
def _gzipped(path: str, mtime_ns: int, size: int) -> tuple[bytes, str]:
    data = gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)
    return data, f"gz-{mtime_ns:x}-{size:x}"


def _landing_page_hook(response: Response) -> Response:
    """Add the "embed the map" section to pygeoapi's HTML landing page."""
    # pygeoapi replaces the response's headers with a plain dict, so `mimetype` is unset.
    content_type = str(response.headers.get("Content-Type", ""))
    if request.endpoint != "pygeoapi.landing_page" or not content_type.startswith("text/html") or response.status_code != 200:
        return response
    if response.direct_passthrough or response.headers.get("Content-Encoding"):
        return response
    config = app_pygeoapi_config()
    settings = app_settings()
    lang = pick_language(request.args.get("lang"), request.accept_languages, config["server"].get("languages", LANGUAGES))
    layers = [cid for cid in embed_options(settings)["layers"] if cid in config.get("resources", {})]
    title = _text(config.get("metadata", {}).get("identification", {}).get("title", ""), lang)
    section = landing_section(config["server"]["url"], title, lang, layers)
    response.set_data(add_section(response.get_data(as_text=True), section))
    return response


def register(app: Flask) -> None:
    """Mount `/embed` and its assets on pygeoapi's Flask app, and add the snippet to the
    landing page."""
    app.register_blueprint(BLUEPRINT)
    app.after_request(_landing_page_hook)
