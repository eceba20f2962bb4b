"""A GeoJSON feature schema per feature collection, for clients that type fields from it.

GDAL's OAPIF driver (3.6, what QGIS and ogrinfo here use) types a collection's fields from
the JSON Schema of a *GeoJSON feature* linked with `rel="describedBy"`, type
`application/schema+json`, reading `properties.properties.<name>.type` (and `format` date /
date-time); without one it guesses from the first page of ten features, so a count that is
null on those ten (withheld under `privacy.method: suppression`, or a `change_pct` with no
previous period) arrived as String and graduated styles, sums and `count > 10` misbehaved.
pygeoapi's `/collections/{id}/schema` (OGC API Features Part 5) describes the properties
themselves, not a feature, so GDAL 3.6 does not read it.

`/collections/{id}/feature-schema` is that schema rewrapped as a feature: it asks pygeoapi
for the Part 5 schema of the same collection (so both providers, the store's and
PostgreSQL's, and both always agree) and puts its properties under `properties`. A
property's `type` stays a single name, as GDAL reads no type lists: a withheld count is
null although its type says integer, which the description says. The link is added to each
feature collection by `estgeo.publish.pygeoapi_config`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from estgeo.publish.http import drain, held, ogc_error, send

WSGIApp = Callable[..., Iterable[bytes]]
FEATURE_SCHEMA_PATH = re.compile(r"^/collections/(?P<collection>[^/]+)/feature-schema/?$")
MEDIA_TYPE = "application/schema+json"
#: The link relation GDAL's OAPIF driver looks for, spelled as it compares it.
REL = "describedBy"


def feature_schema_link(home: str, collection_id: str) -> dict[str, str]:
    """The collection link that points GDAL (and anyone) at the feature schema."""
    return {"type": MEDIA_TYPE, "rel": REL, "title": "GeoJSON-objektets schema (fälttyper) / GeoJSON feature schema",
            "href": f"{home}/collections/{collection_id}/feature-schema"}


def as_feature_schema(part5: dict[str, Any], url: str) -> dict[str, Any]:
    """A GeoJSON Feature schema around the Part 5 schema of a collection's properties."""
    properties = {name: {key: value for key, value in spec.items() if key != "x-ogc-role"}
                  for name, spec in part5.get("properties", {}).items()
                  if "type" in spec and spec.get("x-ogc-role") != "id"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "title": part5.get("title", ""),
        "description": "Ett GeoJSON-objekt i samlingen; ett värde som inte visas (under tröskeln) är null. "
                       "A GeoJSON feature of the collection; a withheld value is null.",
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": {"type": ["object", "null"]},
            "properties": {"type": "object", "properties": properties},
        },
    }


def serve_feature_schemas(app: WSGIApp) -> WSGIApp:
    """WSGI middleware answering `/collections/{id}/feature-schema` from pygeoapi's schema."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = FEATURE_SCHEMA_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return app(environ, start_response)
        inner = {**environ, "REQUEST_METHOD": "GET", "PATH_INFO": f"/collections/{match['collection']}/schema",
                 "QUERY_STRING": "f=json"}
        status, headers, chunks = held(app, inner)
        body = drain(chunks)
        if not status.startswith("200"):
            # Unknown collection or a coverage: pygeoapi's own answer, unchanged.
            start_response(status, headers)
            return [body]
        try:
            part5 = json.loads(body)
        except ValueError:
            return send(start_response, ogc_error("500 Internal Server Error", "NoApplicableCode",
                                                  "the collection schema is not JSON"))
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}{environ['PATH_INFO']}"
        out = json.dumps(as_feature_schema(part5, url), ensure_ascii=False).encode()
        start_response("200 OK", [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(out)))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [out]

    return wrapped
