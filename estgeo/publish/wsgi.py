"""The WSGI application gunicorn serves: pygeoapi's Flask app with two corrections.

pygeoapi reads `PYGEOAPI_CONFIG` and `PYGEOAPI_OPENAPI` when `pygeoapi.flask_app` is
imported, so this module must only be imported by a process whose environment already
has them (gunicorn workers started by `estgeo.publish.serve`).

1. Honest conformance. pygeoapi 0.24 advertises OGC API Features Part 4
   (create/replace/delete) for every feature collection, editable or not. Ours are
   read-only, so that class is withdrawn from `/conformance`; the rest of what it lists
   (core, GeoJSON, HTML, OpenAPI, CRS, queryables and their query parameters, basic
   CQL2 text) our provider implements.
2. CRS shorthands. pygeoapi accepts `crs`, `bbox-crs` and `filter-crs` only as the
   exact URIs listed for the collection, so `crs=EPSG:3006` — what people type, and
   what OGC allows as a CURIE — is a 400. Such values are rewritten to the URI first.
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

for _uri in NOT_IMPLEMENTED:
    while _uri in itemtypes.CONFORMANCE_CLASSES_FEATURES:
        itemtypes.CONFORMANCE_CLASSES_FEATURES.remove(_uri)

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

__all__ = ["APP", "crs_uri"]
