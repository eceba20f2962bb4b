"""The WSGI application the server (granian) serves: pygeoapi's Flask app with corrections
and fast paths, behind the access middleware (`estgeo.publish.access`).

pygeoapi reads `PYGEOAPI_CONFIG` and `PYGEOAPI_OPENAPI` when `pygeoapi.flask_app` is
imported, so this module must only be imported by a process whose environment already
has them (server workers started by `estgeo.publish.serve`).

1. Honest conformance. pygeoapi 0.24 advertises OGC API Features Part 4
   (create/replace/delete) for every feature collection, editable or not. Ours are
   read-only, so that class is withdrawn from `/conformance`; the rest of what it lists
   (core, GeoJSON, HTML, OpenAPI, CRS, queryables and their query parameters, basic
   CQL2 text) our provider implements.
2. CRS shorthands. pygeoapi accepts `crs`, `bbox-crs` and `filter-crs` only as the
   exact URIs listed for the collection, so `crs=EPSG:3006` — what people type, and
   what OGC allows as a CURIE — is a 400. Such values are rewritten to the URI first.
3. Coverages without a time axis: `coverage-datetime` is withdrawn from `/conformance`.
4. Speed: pygeoapi's per-request bbox transformation is replaced by a cached one
   (`estgeo.publish.crs.transform_bbox`), and tiles are answered from their files
   without Flask (`estgeo.publish.tile_provider.tile_fast_path`).
5. Routes pygeoapi lacks (coverage domain sets) and client errors it answers with a 500
   (`estgeo.publish.guards`).
6. Bounded work per request: size, rate, admission and time limits
   (`estgeo.publish.limits`), inside the access middleware (`estgeo.publish.access`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pygeoapi.api import itemtypes

#: Conformance classes pygeoapi claims but our read-only collections do not meet.
NOT_IMPLEMENTED = ("http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",)
CRS_PARAMETERS = ("crs", "bbox-crs", "filter-crs")
_EPSG = re.compile(r"^\[?(?:EPSG:|urn:ogc:def:crs:EPSG:[^:]*:)(\d+)\]?$", re.IGNORECASE)
_CRS84 = re.compile(r"^\[?(?:OGC:|CRS:|urn:ogc:def:crs:OGC:[^:]*:)?CRS ?84\]?$", re.IGNORECASE)

from estgeo.publish.access import profile_from_env  # noqa: E402

#: public or internal (estgeo.publish.access), from ESTGEO_PROFILE set by `estgeo serve`.
PROFILE = profile_from_env()
#: Requests a worker runs at once (server.threads; the ASGI front of estgeo.publish.asgi
#: runs the app on this many threads, as granian's WSGI interface does).
SERVER_THREADS = int(__import__("os").environ.get("ESTGEO_THREADS", "4"))

# The internal profile has editable collections (Part 4); the public one has none.
for _uri in NOT_IMPLEMENTED if PROFILE == "public" else ():
    while _uri in itemtypes.CONFORMANCE_CLASSES_FEATURES:
        itemtypes.CONFORMANCE_CLASSES_FEATURES.remove(_uri)

# pygeoapi's bbox transformation costs ~30 ms per request even from CRS84 to CRS84.
from estgeo.publish.crs import transform_bbox as _transform_bbox  # noqa: E402

itemtypes.transform_bbox = _transform_bbox

# Our coverages (the modelled light) have no time axis, so `datetime` cannot subset them.
from pygeoapi.api import coverages as _coverages  # noqa: E402

while "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-datetime" in _coverages.CONFORMANCE_CLASSES:
    _coverages.CONFORMANCE_CLASSES.remove("http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-datetime")

from pygeoapi.flask_app import APP  # noqa: E402 — after the conformance list is corrected


def crs_uri(value: str) -> str:
    """`EPSG:3006`, `[EPSG:3006]`, `urn:ogc:def:crs:EPSG::3006` → the OGC URI; `CRS84`
    and its spellings → the CRS84 URI; anything else unchanged."""
    value = value.strip()
    epsg = _EPSG.match(value)
    if epsg:
        return f"http://www.opengis.net/def/crs/EPSG/0/{epsg.group(1)}"
    if _CRS84.match(value):
        return "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    return value


def normalise_crs_parameters(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware rewriting CRS shorthands in the query string to URIs."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if any(f"{name}=" in query for name in CRS_PARAMETERS):
            pairs = parse_qsl(query, keep_blank_values=True)
            pairs = [(k, crs_uri(v) if k in CRS_PARAMETERS else v) for k, v in pairs]
            environ["QUERY_STRING"] = urlencode(pairs, safe=",:/")
        return app(environ, start_response)

    return wrapped


APP.wsgi_app = normalise_crs_parameters(APP.wsgi_app)  # type: ignore[method-assign]

from pygeoapi.flask_app import CONFIG as _CONFIG  # noqa: E402

# The coverages' domain sets, which GDAL's OGC API driver sizes them by.
from estgeo.publish.coverage_provider import coverage_files, serve_domain_sets  # noqa: E402

APP.wsgi_app = serve_domain_sets(APP.wsgi_app, coverage_files(_CONFIG))  # type: ignore[method-assign]

# Client errors pygeoapi answers with a 500 become a 400 (estgeo.publish.guards).
from estgeo.publish.guards import client_errors_are_400  # noqa: E402

APP.wsgi_app = client_errors_are_400(APP.wsgi_app)  # type: ignore[method-assign]

# Vector tiles straight from their pre-generated files, without a millisecond of Flask and
# pygeoapi per tile (estgeo.publish.tile_provider); anything else goes on to pygeoapi.
from estgeo.publish.tile_provider import tile_fast_path, tiled_collections  # noqa: E402

APP.wsgi_app = tile_fast_path(APP.wsgi_app, tiled_collections(_CONFIG))  # type: ignore[method-assign]

# The embeddable map (/embed, its assets) and the iframe line on the landing page (issue 7).
from estgeo.publish.embed import register as register_embed  # noqa: E402

register_embed(APP)

# --- access (estgeo.publish.access): read-only public profile, authenticated internal
# profile, path guard, CORS and security headers, outermost so nothing runs before it.
from estgeo.config import load_settings  # noqa: E402
from estgeo.publish.access import MAX_BODY_BYTES, access_middleware, policy_for  # noqa: E402

APP.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
if PROFILE == "internal":
    from pygeoapi.flask_app import api_ as _api  # noqa: E402

    from estgeo.publish.transactions import patch_view  # noqa: E402

    # OGC API Features Part 4 "update" (PATCH); pygeoapi 0.24 routes only PUT and DELETE.
    APP.add_url_rule("/collections/<path:collection_id>/items/<path:item_id>", "estgeo_patch_item",
                     lambda collection_id, item_id: patch_view(_api, collection_id, item_id), methods=["PATCH"])
# --- limits (estgeo.publish.limits): size, rate, admission of expensive requests and the
# time budget, inside the access checks (a refused or unauthenticated request costs nothing).
from estgeo.publish.limits import RequestLimits, limits_middleware  # noqa: E402
from estgeo.publish.pygeoapi_config import pygeoapi_dir  # noqa: E402

_SETTINGS = load_settings()
_POLICY = policy_for(_SETTINGS, PROFILE)
APP.wsgi_app = limits_middleware(APP.wsgi_app, RequestLimits.from_settings(_SETTINGS),  # type: ignore[method-assign]
                                 pygeoapi_dir(_SETTINGS, PROFILE) / "slots", _POLICY.trusted_proxies,
                                 rate_limited=PROFILE == "public")
APP.wsgi_app = access_middleware(APP.wsgi_app, _POLICY)  # type: ignore[method-assign]

__all__ = ["APP", "crs_uri"]
