"""Serving the pre-generated vector tiles (OGC API Tiles, WebMercatorQuad, MVT).

`TileProvider` is the pygeoapi tile provider: tile set lists, tile set metadata (OGC
TileSet JSON and TileJSON 3.0) and tiles, read from `published/current/tiles/<id>/`
(written by `estgeo.build.tiles` at build time). pygeoapi's own MVT-tippecanoe
provider cannot tell an empty tile (204) from one outside the tile set (404) beyond the
zoom range, writes a TileJSON whose `tiles` and `bounds` are strings, and answers an
unknown tile matrix set with tiles of another.

`tile_fast_path` is WSGI middleware for the one request a web map sends by the hundred:
a tile of a tiled collection. It answers it from the file (200) or as empty (204) without
going through Flask and pygeoapi, which cost a millisecond of Python per request; every
tile outside the set is a 404 here too; every other case (unknown collection or matrix
set, another format) falls through to pygeoapi and this provider.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base import ProviderConnectionError
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError, ProviderTilesetIdNotFoundError
from pygeoapi.util import url_join

from estgeo.build.tiles import MVT_MEDIA_TYPE, MVT_SUFFIX, TILESET
from estgeo.publish.http import ogc_error, send

WEB_MERCATOR_QUAD = TileMatrixSetEnum.WEBMERCATORQUAD.value
TILE_FORMATS = ("mvt", "pbf")
TILE_PATH = re.compile(
    r"^/collections/(?P<collection>[^/]+)/tiles/(?P<tms>[^/]+)/(?P<z>\d{1,2})/(?P<row>\d{1,8})/(?P<col>\d{1,8})/?$"
)


@dataclass(frozen=True)
class TileSetInfo:
    """One collection's tile set in one build: its TileJSON template and tile limits."""

    tilejson: dict[str, Any]
    limits: dict[int, dict[str, int]]

    @property
    def minzoom(self) -> int:
        return int(self.tilejson["minzoom"])

    @property
    def maxzoom(self) -> int:
        return int(self.tilejson["maxzoom"])

    def holds(self, z: int, row: int, col: int) -> bool:
        """Whether (z, row, col) lies within the set's limits (so a missing file is an
        empty tile, 204, not a tile outside the set, 404)."""
        limit = self.limits.get(z)
        if limit is None:
            return self.minzoom <= z <= self.maxzoom and 0 <= row < 2**z and 0 <= col < 2**z
        return limit["minTileRow"] <= row <= limit["maxTileRow"] and limit["minTileCol"] <= col <= limit["maxTileCol"]


_infos: dict[str, TileSetInfo] = {}
_infos_lock = threading.Lock()


def tile_set_info(folder: str | os.PathLike[str]) -> TileSetInfo:
    """The tile set in `folder` (through `current`), read once per build."""
    real = os.path.realpath(folder)
    info = _infos.get(real)
    if info is None:
        try:
            document = json.loads(Path(real, TILESET).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProviderConnectionError(f"{folder}: no tile set ({exc})", user_msg="the tiles are not available") from exc
        info = TileSetInfo(document["tilejson"], {int(z): v for z, v in document.get("limits", {}).items()})
        with _infos_lock:
            if len(_infos) > 64:  # old builds: forget them
                _infos.clear()
            _infos[real] = info
    return info


#: Tiles already read, per worker: (build the `current` link points at, folder, z, row,
#: col) → bytes (b"" for an empty tile). A build switch changes the link and so the keys;
#: the cache is emptied when it outgrows its budget.
_tiles: dict[tuple[str, str, int, int, int], bytes] = {}
_tiles_size = 0
TILE_CACHE_BYTES = 64 * 1024 * 1024


def read_tile(folder: str | os.PathLike[str], z: int, row: int, col: int) -> bytes | None:
    """The tile's bytes, None for an empty tile within the set; ProviderTileNotFoundError
    for a tile outside it."""
    global _tiles_size
    folder = os.fspath(folder)
    try:  # <published>/current/tiles/<collection>: one readlink tells which build
        build = os.readlink(os.path.dirname(os.path.dirname(folder)))
    except OSError:
        build = ""
    key = (build, folder, z, row, col)
    data = _tiles.get(key)
    if data is not None:
        return data or None
    try:
        with open(os.path.join(folder, str(z), str(col), f"{row}{MVT_SUFFIX}"), "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        if not tile_set_info(folder).holds(z, row, col):
            raise ProviderTileNotFoundError(user_msg=f"tile {z}/{row}/{col} is outside this tile set") from None
        data = b""
    if _tiles_size + len(data) > TILE_CACHE_BYTES:
        _tiles.clear()
        _tiles_size = 0
    _tiles[key] = data
    _tiles_size += len(data)
    return data or None


class TileProvider(BaseMVTProvider):
    """pygeoapi tile provider over `<published>/current/tiles/<collection>`.

    Configuration (generated by `estgeo.publish.pygeoapi_config`)::

        type: tile
        name: estgeo.publish.tile_provider.TileProvider
        data: <workspace>/published/current/tiles/<collection>
        options: {zoom: {min: 10, max: 16}, schemes: [WebMercatorQuad]}
        format: {name: mvt, mimetype: application/vnd.mapbox-vector-tile}
    """

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.folder = Path(self.data)
        self._service_url = ""
        self._service_metadata_url = ""

    def __repr__(self) -> str:
        return f"<TileProvider> {self.data}"

    def get_layer(self) -> str:
        return self.folder.name

    def get_tiling_schemes(self) -> list[Any]:
        return [WEB_MERCATOR_QUAD]

    def get_tiles_service(self, baseurl: str | None = None, servicepath: str | None = None,
                          dirpath: str | None = None, tile_type: str | None = None) -> dict[str, Any]:
        self._service_url = servicepath or ""
        return self.get_tms_links()

    def get_tiles(self, layer: str | None = None, tileset: str | None = None, z: Any = None, y: Any = None,
                  x: Any = None, format_: str | None = None) -> bytes | None:
        """The tile at zoom `z`, row `y`, column `x`; None when it is empty."""
        _check_tileset(tileset)
        try:
            zoom, row, col = int(z), int(y), int(x)
        except (TypeError, ValueError) as exc:
            raise ProviderTileNotFoundError(user_msg="tile indices are whole numbers") from exc
        return read_tile(self.folder, zoom, row, col)

    # Metadata ---------------------------------------------------------------------
    def _tile_url(self, server_url: str, dataset: str) -> str:
        return url_join(server_url, f"collections/{dataset}/tiles/{WEB_MERCATOR_QUAD.tileMatrixSet}/{{z}}/{{y}}/{{x}}?f=mvt")

    def get_vendor_metadata(self, dataset: str, server_url: str, layer: str, tileset: str, title: str,
                            description: str, keywords: Any, **kwargs: Any) -> dict[str, Any]:
        """TileJSON 3.0.0, as MapLibre and QGIS read it."""
        _check_tileset(tileset)
        tilejson = dict(tile_set_info(self.folder).tilejson)
        tilejson.update(name=title, description=description, tiles=[self._tile_url(server_url, dataset)])
        return tilejson

    def get_default_metadata(self, dataset: str, server_url: str, layer: str, tileset: str, title: str,
                             description: str, keywords: Any, **kwargs: Any) -> dict[str, Any]:
        """OGC API Tiles tile set metadata, with the limits of every zoom."""
        _check_tileset(tileset)
        info = tile_set_info(self.folder)
        tms = WEB_MERCATOR_QUAD
        layers = info.tilejson.get("vector_layers", [])
        return {
            "title": title,
            "description": description,
            "keywords": list(keywords or []),
            "dataType": "vector",
            "crs": tms.crs,
            "tileMatrixSetURI": tms.tileMatrixSetURI,
            "tileMatrixSetLimits": [{"tileMatrix": str(z), **limit} for z, limit in sorted(info.limits.items())],
            "boundingBox": {
                "lowerLeft": info.tilejson["bounds"][:2],
                "upperRight": info.tilejson["bounds"][2:],
                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            },
            "layers": [
                {
                    "id": vl["id"],
                    "dataType": "vector",
                    "minTileMatrix": str(vl.get("minzoom", info.minzoom)),
                    "maxTileMatrix": str(vl.get("maxzoom", info.maxzoom)),
                    "propertiesSchema": {
                        "type": "object",
                        "properties": {name: {"type": _json_type(kind)} for name, kind in vl.get("fields", {}).items()},
                    },
                }
                for vl in layers
            ],
            "links": [
                {
                    "href": url_join(server_url, f"TileMatrixSets/{tms.tileMatrixSet}"),
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                    "type": "application/json",
                    "title": f"{tms.tileMatrixSet} tile matrix set definition",
                },
                {
                    "href": url_join(server_url, f"collections/{dataset}/tiles/{tms.tileMatrixSet}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}?f=mvt"),
                    "rel": "item",
                    "type": MVT_MEDIA_TYPE,
                    "title": f"{title}: vector tiles",
                    "templated": True,
                },
                {
                    "href": url_join(server_url, f"collections/{dataset}/tiles/{tms.tileMatrixSet}/metadata?f=tilejson"),
                    "rel": "describedby",
                    "type": "application/json",
                    "title": "TileJSON",
                },
            ],
        }

    def get_html_metadata(self, dataset: str, server_url: str, layer: str, tileset: str, title: str,
                          description: str, keywords: Any, **kwargs: Any) -> dict[str, Any]:
        _check_tileset(tileset)
        metadata_url = url_join(server_url, f"collections/{dataset}/tiles/{tileset}/metadata")
        tilejson = self.get_vendor_metadata(dataset, server_url, layer, tileset, title, description, keywords)
        return {
            "id": dataset,
            "title": title,
            "tileset": tileset,
            "collections_path": url_join(server_url, f"collections/{dataset}/tiles/{tileset}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}?f=mvt"),
            "json_url": f"{metadata_url}?f=json",
            "tilejson_url": f"{metadata_url}?f=tilejson",
            "metadata": {**tilejson, "tiles": tilejson["tiles"][0]},
        }


def _check_tileset(tileset: str | None) -> None:
    if tileset is not None and tileset != WEB_MERCATOR_QUAD.tileMatrixSet:
        raise ProviderTilesetIdNotFoundError(
            user_msg=f"tile matrix set '{tileset}' is not offered; use {WEB_MERCATOR_QUAD.tileMatrixSet}"
        )


def _json_type(tilejson_type: str) -> str:
    return {"Number": "number", "Boolean": "boolean"}.get(tilejson_type, "string")


# WSGI fast path -------------------------------------------------------------------
def tiled_collections(config: dict[str, Any]) -> dict[str, str]:
    """Collection id → tile folder, for every resource served by `TileProvider`."""
    folders = {}
    for name, resource in config.get("resources", {}).items():
        for provider in resource.get("providers", []):
            if provider.get("type") == "tile" and provider.get("name", "").endswith("tile_provider.TileProvider"):
                folders[name] = str(provider["data"])
    return folders


def tile_fast_path(app: Callable[..., Iterable[bytes]], folders: dict[str, str]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware answering tile requests of `folders` collections directly.

    It sits inside the access middleware (`estgeo.publish.access`), which adds CORS and
    security headers to these answers as to any other."""
    content_type = ("Content-Type", MVT_MEDIA_TYPE)
    tms_id = WEB_MERCATOR_QUAD.tileMatrixSet

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        match = TILE_PATH.match(environ.get("PATH_INFO", "")) if method in ("GET", "HEAD") else None
        if match is None or match["tms"] != tms_id:
            return app(environ, start_response)
        folder = folders.get(match["collection"])
        query = environ.get("QUERY_STRING", "")
        if folder is None or (query and parse_qs(query).get("f", ["mvt"])[-1] not in TILE_FORMATS):
            return app(environ, start_response)
        try:
            data = read_tile(folder, int(match["z"]), int(match["row"]), int(match["col"]))
        except ProviderTileNotFoundError as exc:
            return send(start_response, ogc_error("404 Not Found", "NotFound", exc.message), str(method))
        except ProviderConnectionError:
            return app(environ, start_response)  # pygeoapi says why
        if data is None:
            start_response("204 No Content", [])
            return []
        start_response("200 OK", [content_type, ("Content-Length", str(len(data)))])
        return [] if method == "HEAD" else [data]

    return wrapped
