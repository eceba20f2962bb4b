"""Generate pygeoapi's configuration and OpenAPI document from config/ and layers/.

Nothing about a published collection is written by hand: the server block comes from
`config/estgeo.yml` (`server:`), the service metadata from the municipality, and one
resource per public collection whose GeoPackage (or, for `type: coverage`, GeoTIFF)
exists in `published/current`, so the server starts before the first build and never
lists a layer it cannot serve. Internal collections are never published here (they need
an authenticated profile). A collection whose vector tiles were built
(`estgeo.build.tiles`) gets a tile provider beside its feature provider; a coverage
gets `estgeo.publish.coverage_provider`.

Titles, descriptions and keywords stay language maps `{sv: …, en: …}`: pygeoapi picks
the entry matching `?lang=` / Accept-Language. Its HTML templates have no Swedish
translation, so with `?lang=sv` the page chrome falls back to English while our texts
are Swedish.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyproj
import rasterio
import shapely
import yaml
from pygeoapi.openapi import get_oas  # unlike pygeoapi.flask_app, reads no env at import

from estgeo.build.postgis_layers import GEOMETRY_COLUMN, connection_data, published_tables, table_name, tile_table
from estgeo.build.tiles import MVT_MEDIA_TYPE, TILES_DIR, TILESET, tile_sets
from estgeo.config import Settings
from estgeo.publish import pages
from estgeo.publish.crs import CRS84_URI as CRS84
from estgeo.publish.crs import EPSG_4326, SUPPORTED_CRS
from estgeo.publish.feature_schema import feature_schema_link
from estgeo.publish.layer_cache import LayerUnavailable, load_layer
from estgeo.publish.limits import RequestLimits
from estgeo.publish.openapi_bundle import self_contained
from estgeo.publish.process_lagesbild import process_manager, processes
from estgeo.store import is_postgis_url

PROVIDER = "estgeo.publish.provider.GeoPackageProvider"
POSTGIS_PROVIDER = "estgeo.publish.postgis_provider.PostgisProvider"
POSTGIS_TILE_PROVIDER = "estgeo.publish.postgis_provider.PostgisTileProvider"
TILE_PROVIDER = "estgeo.publish.tile_provider.TileProvider"
COVERAGE_PROVIDER = "estgeo.publish.coverage_provider.CoverageProvider"
LANGUAGES = ["sv", "en"]
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://openstreetmap.org/copyright">OpenStreetMap</a>'


def pygeoapi_dir(settings: Settings, profile: str = "public") -> Path:
    """Where the generated pygeoapi files live (inside the workspace, never in git);
    the internal profile (`estgeo.publish.access`) has its own folder."""
    return settings.workspace / ("pygeoapi" if profile == "public" else f"pygeoapi-{profile}")


def layer_file(settings: Settings, collection_id: str) -> Path:
    """The GeoPackage of a collection, through the `current` symlink the build switches."""
    return settings.published_dir / "current" / f"{collection_id}.gpkg"


def coverage_file(settings: Settings, collection_id: str) -> Path:
    """The GeoTIFF of a coverage collection (`type: coverage`), through `current`."""
    return settings.published_dir / "current" / f"{collection_id}.tif"


def tiles_folder(settings: Settings, collection_id: str) -> Path:
    """The pre-generated vector tiles of a collection (`estgeo.build.tiles`)."""
    return settings.published_dir / "current" / TILES_DIR / collection_id


def is_coverage(collection: dict[str, Any]) -> bool:
    return collection.get("type") == "coverage"


def is_built(settings: Settings, collection: dict[str, Any]) -> bool:
    """Whether the collection's file is in the current build."""
    if is_coverage(collection):
        return coverage_file(settings, collection["id"]).exists()
    return layer_file(settings, collection["id"]).exists()


def public_collections(settings: Settings) -> list[dict[str, Any]]:
    """Declared public collections whose file has been built."""
    return [c for c in settings.collections if c.get("audience", "public") == "public" and is_built(settings, c)]


def pygeoapi_config(settings: Settings, url: str | None = None, profile: str = "public") -> dict[str, Any]:
    """The whole pygeoapi configuration; `url` overrides `server.url` (e.g. another port).

    `profile="internal"` (estgeo.publish.access: authenticated, its own server) adds the
    built internal collections and the editable store collections.
    """
    in_postgis = published_tables(settings.store_url) if is_postgis_url(settings.store_url) else None
    resources = {c["id"]: _resource(settings, c, url, in_postgis) for c in public_collections(settings)}
    if profile == "internal":
        from estgeo.publish.transactions import editable_resources

        built_internal = [c for c in settings.collections
                          if c.get("audience") == "internal" and layer_file(settings, c["id"]).exists()]
        resources.update({c["id"]: _resource(settings, c, url, in_postgis) for c in built_internal})
        resources.update(editable_resources(settings, municipality_bbox(settings)))
    # The lägesbild report as an OGC API process (once there are layers to report on),
    # with a job manager for async execution.
    server = _server(settings, url)
    # Swedish and English pages with no asset from elsewhere (estgeo.publish.pages).
    server["locale_dir"] = str(pygeoapi_dir(settings, profile) / "locale")
    server["templates"] = {"path": str(pages.TEMPLATES)}
    server["estgeo"] = _page_frame(settings)
    report_process = processes(settings, profile)
    if report_process:
        resources.update(report_process)
        server["manager"] = process_manager(settings, profile)
    return {
        "server": server,
        "logging": _logging(settings),
        "metadata": _metadata(settings, url),
        "resources": resources,
    }


def write_pygeoapi_files(settings: Settings, url: str | None = None, profile: str = "public") -> tuple[Path, Path]:
    """Write `pygeoapi-config.yml` and `openapi.yml`; return their paths.

    Both are replaced atomically, so a server reloading its workers never reads half a
    file. The OpenAPI document is generated from the config as written and read back,
    exactly as pygeoapi will see it, and made self-contained (no references to the OGC
    schema servers: `estgeo.publish.openapi_bundle`).
    """
    folder = pygeoapi_dir(settings, profile)
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "pygeoapi-config.yml"
    openapi_path = folder / "openapi.yml"
    config_text = yaml.safe_dump(pygeoapi_config(settings, url, profile), allow_unicode=True, sort_keys=False)
    oas = self_contained(get_oas(copy.deepcopy(yaml.safe_load(config_text))))
    from estgeo.publish.openapi_fixes import corrected  # what the schemathesis fuzzer found (tests/publish/test_fuzz_api.py)

    oas = corrected(oas)
    pages.write_catalogs(folder / "locale", list(settings.server.get("languages", LANGUAGES)))
    _write_atomically(config_path, config_text)
    _write_atomically(openapi_path, yaml.safe_dump(oas, allow_unicode=True, sort_keys=False))
    return config_path, openapi_path


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# Blocks ---------------------------------------------------------------------------
def _server(settings: Settings, url: str | None) -> dict[str, Any]:
    server = settings.server
    return {
        "bind": {
            "host": str(server.get("host", "127.0.0.1")),
            "port": int(server.get("port", 5000)),
        },
        "url": (url or str(server.get("url", "http://localhost:5000"))).rstrip("/"),
        "mimetype": "application/json; charset=UTF-8",
        "encoding": "utf-8",
        "gzip": False,
        "languages": list(server.get("languages", LANGUAGES)),
        # Web embeds (MapLibre) fetch from other origins: CORS is answered by the access
        # middleware (access.cors_origins), not by pygeoapi's flask-cors.
        "cors": False,
        "pretty_print": False,
        "admin": False,
        # 0.24 replaced `server.limit` with a `limits` block (RFC5); `throttle` caps a
        # too-large `limit` at max_items instead of failing the request.
        "limits": {
            "default_items": int(server.get("limit_default", 100)),
            "max_items": int(server.get("limit_max", 10000)),
            "on_exceed": "throttle",
        },
        "map": {
            "url": str(server.get("basemap_url", OSM_TILES)),
            "attribution": str(server.get("basemap_attribution", OSM_ATTRIBUTION)),
        },
    }


def _page_frame(settings: Settings) -> dict[str, Any]:
    """What estgeo's page templates add (estgeo.publish.pages): the date of the data (the
    build being served), the municipality's colour and logo, and the labels of codes."""
    from estgeo.build.run import current_build

    current = current_build(settings)
    updated = None
    build_id = ""
    if current is not None:
        try:  # the build's id is its UTC start time (estgeo.build.run)
            build_id = str(json.loads((current / "manifest.json").read_text(encoding="utf-8")).get("build", ""))
        except (OSError, ValueError):
            build_id = current.name
    if len(build_id) >= 8 and build_id[:8].isdigit():
        updated = f"{build_id[:4]}-{build_id[4:6]}-{build_id[6:8]}"
    look = settings.municipality.get("look") or {}
    words = pages.frame_words()
    return {"updated": updated, "updated_label": words.get("updated", {}), "words": words, "colour": look.get("colour"),
            "logo": look.get("logo_url"), "labels": pages.value_labels(settings)}


def _logging(settings: Settings) -> dict[str, Any]:
    # ERROR by default: pygeoapi 0.24 logs a WARNING for every items request that has
    # no `offset`, which would drown everything else.
    block: dict[str, Any] = {"level": str(settings.server.get("log_level", "ERROR")).upper()}
    if settings.server.get("log_file"):
        block["logfile"] = str(settings.server["log_file"])
    return block


def _metadata(settings: Settings, url: str | None) -> dict[str, Any]:
    """Service metadata in Swedish and English; `metadata:` in estgeo.yml overrides it."""
    name = settings.municipality.get("name", "")
    contact = settings.municipality.get("contact") or {}
    home = (url or str(settings.server.get("url", ""))).rstrip("/")
    defaults: dict[str, Any] = {
        "identification": {
            "title": {
                "sv": f"Trygghetslager – {name} kommun",
                "en": f"Safety layers – {name} Municipality",
            },
            "description": {
                "sv": (
                    f"Öppna lager från {name} kommuns arbete med Effektiv samordning för "
                    "trygghet (EST): aggregerade händelser, otrygga platser och belysning. "
                    "Små antal visas aldrig exakt."
                ),
                "en": (
                    f"Open layers from {name} Municipality's EST crime-prevention work "
                    "(Effektiv samordning för trygghet): aggregated incidents, unsafe places "
                    "and street lighting. Small counts are never shown exactly."
                ),
            },
            "keywords": {
                "sv": ["EST", "trygghet", "brottsförebyggande", "lägesbild", "belysning", name],
                "en": [
                    "EST",
                    "safety",
                    "crime prevention",
                    "situation picture",
                    "street lighting",
                    name,
                ],
            },
            "keywords_type": "theme",
            "terms_of_service": {"sv": "Öppna data", "en": "Open data"},
            "url": home,
        },
        "license": {
            "name": "CC0 1.0",
            "url": "https://creativecommons.org/publicdomain/zero/1.0/",
        },
        "provider": {"name": f"{name} kommun", "url": str(contact.get("website") or home)},
        "contact": {"name": str(contact.get("name") or f"{name} kommun"), "country": "Sverige",
                    "url": str(contact.get("url") or contact.get("website") or home),
                    **{k: str(contact[k]) for k in ("email", "phone") if contact.get(k)}},
    }
    return _merged(defaults, settings.project.get("metadata", {}))


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not _is_language_map(value):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _is_language_map(value: dict[str, Any]) -> bool:
    return bool(value) and set(value) <= {"sv", "en"}


def enum_values(settings: Settings, collection: dict[str, Any]) -> dict[str, list[Any]]:
    """A collection's `enums:` (layers/*.yml) with each taxonomy section named by its codes."""
    out: dict[str, list[Any]] = {}
    for name, spec in (collection.get("enums") or {}).items():
        if isinstance(spec, str):
            section = settings.taxonomy.get(spec)
            if not isinstance(section, dict):
                raise ValueError(f"layers/*.yml: collection {collection['id']}: enums.{name} names '{spec}', which is no "
                                 f"section of config/taxonomy.yml ({', '.join(sorted(settings.taxonomy))})")
            out[name] = list(section)
        else:
            out[name] = list(spec)
    return out


def _resource(settings: Settings, collection: dict[str, Any], url: str | None = None,
              in_postgis: dict[str, int] | None = None) -> dict[str, Any]:
    """The pygeoapi resource of one collection; `in_postgis` are the tables published in
    PostGIS with their estimated rows (None with the embedded store), served by pygeoapi's
    PostgreSQL provider."""
    if is_coverage(collection):
        return _coverage_resource(settings, collection, url)
    cid = collection["id"]
    provider: dict[str, Any] = {
        "type": "feature",
        "name": PROVIDER,
        "data": str(layer_file(settings, cid)),
        "id_field": "id",
        "crs": list(SUPPORTED_CRS),
        "storage_crs": CRS84,
        "options": {"layer": cid, "time_zone": settings.time_zone},
    }
    if in_postgis is not None and table_name(cid) in in_postgis:
        # The build loaded the collection into PostGIS: pygeoapi's own provider queries
        # it there (bbox, CQL2 filter, sorting in SQL), for any number of workers.
        # The build's file stays named: the embed's colour classes are read from it.
        provider.update({"name": POSTGIS_PROVIDER, "data": connection_data(settings.store_url), "table": table_name(cid),
                         "geom_field": GEOMETRY_COLUMN, "estgeo_file": provider["data"]})
        # The request's time budget, enforced by the database (estgeo.publish.limits), with
        # room for a busy database: a plain bbox page went over 1 s in CI on a throwaway
        # cluster, and this is the backstop against pathological queries, not the meter.
        budget_ms = int(3000 * RequestLimits.from_settings(settings).time_budget_s)
        provider["options"] = {"options": f"-c statement_timeout={budget_ms}"}
        if in_postgis[table_name(cid)] > int(_postgis_settings(settings)["exact_count_max_rows"]):
            provider["count"] = False
    if collection.get("time_field"):
        provider["time_field"] = collection["time_field"]
    if collection.get("enums"):
        # The closed sets of values: queryables, schema, and a 400 outside them (estgeo.publish.enums).
        provider["enums"] = enum_values(settings, collection)
    # The properties' titles in sv/en (config/fields.yml; estgeo.publish.field_titles).
    provider["fields_config"] = str(settings.config_dir)
    providers = [provider]
    tiles = _tile_provider(settings, cid)
    if tiles and in_postgis is not None and provider["name"] == POSTGIS_PROVIDER \
            and _postgis_settings(settings)["tiles"] == "database":
        sources = _database_tile_sources(settings, cid, in_postgis)
        if sources:
            tiles = {**tiles, "name": POSTGIS_TILE_PROVIDER, "data": provider["data"], "table": provider["table"],
                     "geom_field": GEOMETRY_COLUMN, "id_field": "id", "storage_crs": EPSG_4326, "layer": cid,
                     "sources": sources}
    if tiles:
        providers.append(tiles)
    return {
        "type": "collection",
        "title": collection.get("title", cid),
        "description": collection.get("description", collection.get("title", cid)),
        "keywords": collection.get("keywords", []),
        # GDAL's OAPIF driver types the fields from it (estgeo.publish.feature_schema).
        "links": [feature_schema_link((url or str(settings.server.get("url", ""))).rstrip("/"), cid)],
        "extents": _extents(settings, collection),
        "providers": providers,
    }


def _database_tile_sources(settings: Settings, collection_id: str, in_postgis: dict[str, int]) -> dict[int, str]:
    """Zoom → published tile-feature table, as the pre-generated tiles choose their source
    collection per zoom (`estgeo.build.tiles.tile_sets`); empty when a table is missing."""
    found = [t for t in tile_sets(settings) if t.collection == collection_id]
    if not found:
        return {}
    sources = {int(z): tile_table(table_name(source)) for z, source in found[0].sources.items()}
    return sources if all(t in in_postgis for t in sources.values()) else {}


def _postgis_settings(settings: Settings) -> dict[str, Any]:
    """config/estgeo.yml's `postgis:` section, checked: a typo must not pass unnoticed."""
    section = {"exact_count_max_rows": 1_000_000, "tiles": "files", **(settings.project.get("postgis") or {})}
    if section["tiles"] not in ("files", "database"):
        raise ValueError(f"config/estgeo.yml: postgis.tiles is {section['tiles']!r}; use 'files' or 'database'")
    return section


def _tile_provider(settings: Settings, collection_id: str) -> dict[str, Any] | None:
    """The vector tiles of a collection, when the build made them."""
    folder = tiles_folder(settings, collection_id)
    try:
        tilejson = json.loads((folder / TILESET).read_text(encoding="utf-8"))["tilejson"]
    except (OSError, ValueError, KeyError):
        return None
    return {
        "type": "tile",
        "name": TILE_PROVIDER,
        "data": str(folder),
        "options": {
            "zoom": {"min": int(tilejson["minzoom"]), "max": int(tilejson["maxzoom"])},
            "schemes": ["WebMercatorQuad"],
        },
        "format": {"name": "mvt", "mimetype": MVT_MEDIA_TYPE},
    }


def _coverage_resource(settings: Settings, collection: dict[str, Any], url: str | None = None) -> dict[str, Any]:
    """A raster collection (OGC API Coverages), e.g. the modelled light.

    Its domain set (`estgeo.publish.coverage_provider.domain_set`) is linked from the
    collection: GDAL's OGC API driver sizes and addresses the coverage from it."""
    cid = collection["id"]
    path = coverage_file(settings, cid)
    limits = settings.server
    home = (url or str(settings.server.get("url", ""))).rstrip("/")
    return {
        "type": "collection",
        "title": collection.get("title", cid),
        "description": collection.get("description", collection.get("title", cid)),
        "keywords": collection.get("keywords", []),
        "links": [
            {
                "type": "application/json",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/coverage-domainset",
                "title": "Domain set (the grid) in CRS84",
                "href": f"{home}/collections/{cid}/coverage/domainset?f=json",
            }
        ],
        "extents": {"spatial": {"bbox": _raster_bbox(path) or municipality_bbox(settings), "crs": CRS84}},
        "providers": [
            {
                "type": "coverage",
                "name": COVERAGE_PROVIDER,
                "data": str(path),
                "options": {
                    "max_cells": int(limits.get("coverage_max_cells", 16_000_000)),
                    "max_cells_json": int(limits.get("coverage_max_cells_json", 1_000_000)),
                },
                "format": {"name": "GTiff", "mimetype": "image/tiff; application=geotiff"},
            }
        ],
    }


def _raster_bbox(path: Path) -> list[float] | None:
    """A GeoTIFF's extent as a CRS84 bbox (edges traced), None when unreadable."""
    try:
        with rasterio.open(path) as ds:
            bounds, crs = ds.bounds, ds.crs
    except (OSError, rasterio.errors.RasterioIOError):
        return None
    to_crs84 = pyproj.Transformer.from_crs(crs.to_wkt(), "OGC:CRS84", always_xy=True)
    box = shapely.segmentize(shapely.box(*bounds), max(bounds.right - bounds.left, bounds.top - bounds.bottom) / 64)
    lon, lat = to_crs84.transform(*shapely.get_coordinates(box).T)
    return [float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat))]


def _extents(settings: Settings, collection: dict[str, Any]) -> dict[str, Any]:
    """Spatial (CRS84) and temporal extents read from the built file.

    An empty layer gets the municipality's extent, so clients still zoom somewhere
    sensible. The temporal extent is what pygeoapi checks `datetime=` against: a request
    wholly outside it is refused (400), so it must be regenerated after each build.
    """
    path = layer_file(settings, collection["id"])
    try:
        layer = load_layer(path, collection["id"], time_zone=settings.time_zone)
    except LayerUnavailable:
        layer = None
    bbox = (layer.bbox if layer is not None else None) or municipality_bbox(settings)
    extents: dict[str, Any] = {"spatial": {"bbox": bbox, "crs": CRS84}}
    time_field = collection.get("time_field")
    if layer is not None and time_field in layer.times:
        spans = layer.times[time_field]
        if spans.start.notna().any():
            extents["temporal"] = {
                "begin": spans.start.min().to_pydatetime(),
                "end": spans.end.max().to_pydatetime(),
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            }
    return extents


def municipality_bbox(settings: Settings) -> list[float]:
    """The municipality's SWEREF 99 TM extent as a CRS84 bbox (edges traced, not corners)."""
    to_crs84 = pyproj.Transformer.from_crs("EPSG:3006", "OGC:CRS84", always_xy=True)
    box = shapely.segmentize(shapely.box(*settings.extent_3006), 1000.0)
    lon, lat = to_crs84.transform(*shapely.get_coordinates(box).T)
    return [float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat))]
