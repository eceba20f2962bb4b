"""Errors that say what to do, in the reader's language (`lang=sv|en`, else Accept-Language,
else the server's first language).

pygeoapi 0.24 answers a mistyped collection with "Collection not found" and a filter it
cannot parse with "Bad CQL text", in English, with no list and no position; and a bbox in
SWEREF 99 TM given easting first (`bbox=395000,6633000,…&bbox-crs=…/EPSG/0/3006`) is
read by the axis order of EPSG:3006 (northing first) as a box near the equator and answers
0 features without a word. This middleware:

* 404 on `/collections/{id}…`: names the collections there are;
* "Bad CQL text": re-parses the filter (pygeofilter's CQL2 text parser, the one pygeoapi
  uses) for the position and the token it stopped at;
* refuses (400) an EPSG:3006 bbox whose northings lie outside Sweden's band
  (6,100,000–7,700,000 m, the CRS's area of use) while swapping the axes would put it
  there, and gives the corrected parameter. Nothing valid for the municipality is refused.

Only error responses are read; every other answer streams through untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from estgeo.publish.enums import outside
from estgeo.publish.guards import ITEMS_PATH
from estgeo.publish.http import drain, header, held, ogc_error, send

WSGIApp = Callable[..., Iterable[bytes]]
COLLECTION_PATH = re.compile(r"^/collections/(?P<collection>[^/]+)(?P<rest>/.*)?$")
EPSG_3006 = re.compile(r"(?:EPSG/0/|EPSG:)3006$")
#: EPSG:3006's area of use (Sweden), metres: northing, easting.
NORTHING = (6_100_000.0, 7_700_000.0)
EASTING = (200_000.0, 1_000_000.0)

TEXT = {
    "sv": {
        "no_collection": "Samlingen '{cid}' finns inte. Samlingar: {known}.",
        "cql": "Filtret går inte att tolka (CQL2-text) vid tecken {column}: {near!r}. Filter: {text}",
        "cql_end": "Filtret tar slut för tidigt (CQL2-text). Filter: {text}",
        "not_in_enum": "{name}: '{given}' är inget av de tillåtna värdena ({allowed}).",
        "easting_first": ("bbox i EPSG:3006 har nordlig koordinat först (N, E, N, E); {given} ligger då långt "
                          "utanför Sverige. Menade du bbox={swapped}?"),
    },
    "en": {
        "no_collection": "There is no collection '{cid}'. Collections: {known}.",
        "cql": "The filter cannot be parsed (CQL2 text) at character {column}: {near!r}. Filter: {text}",
        "cql_end": "The filter ends too early (CQL2 text). Filter: {text}",
        "not_in_enum": "{name}: '{given}' is none of the allowed values ({allowed}).",
        "easting_first": ("a bbox in EPSG:3006 has the northing first (N, E, N, E); {given} then lies far outside "
                          "Sweden. Did you mean bbox={swapped}?"),
    },
}


def language(environ: dict[str, Any], languages: list[str]) -> str:
    """The reader's language: `lang=`, else the first known in Accept-Language, else the
    server's first."""
    known = [lang for lang in languages if lang in TEXT] or ["sv"]
    asked = parse_qs(environ.get("QUERY_STRING", "")).get("lang", [""])[0][:2].lower()
    if asked in known:
        return asked
    for part in environ.get("HTTP_ACCEPT_LANGUAGE", "").split(","):
        tag = part.split(";")[0].strip()[:2].lower()
        if tag in known:
            return tag
    return known[0]


def easting_first(bbox: str, crs: str) -> str | None:
    """The swapped bbox when an EPSG:3006 bbox reads as easting first, else None."""
    if not EPSG_3006.search(crs.strip()):
        return None
    try:
        values = [float(v) for v in bbox.split(",")]
    except ValueError:
        return None
    if len(values) != 4:
        return None
    n1, e1, n2, e2 = values

    def inside(value: float, band: tuple[float, float]) -> bool:
        return band[0] <= value <= band[1]

    if not (inside(n1, NORTHING) or inside(n2, NORTHING)) and inside(e1, NORTHING) and inside(e2, NORTHING) \
            and inside(n1, EASTING) and inside(n2, EASTING):
        return ",".join(f"{v:.15g}" for v in (e1, n1, e2, n2))
    return None


def cql_position(text: str) -> tuple[int, str] | None:
    """(1-based column, the text from there) where pygeofilter's CQL2 text parser stops;
    (0, "") when the text ends too early; None when it parses."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
    from pygeofilter.parsers.cql2_text import parse

    try:
        parse(text)
    except UnexpectedEOF:
        return 0, ""
    except (UnexpectedToken, UnexpectedCharacters) as exc:
        column = int(getattr(exc, "column", 0) or 0)
        if isinstance(exc, UnexpectedToken) and getattr(exc.token, "type", "") == "$END":
            return 0, ""
        return column, text[max(column - 1, 0):][:20]
    except UnexpectedInput:
        return 0, ""
    except Exception:  # noqa: BLE001 — a parser failure that is not a syntax error: no position to give
        return None
    return None


def explain_errors(app: WSGIApp, collections: list[str], languages: list[str],
                   enums: dict[str, dict[str, list[Any]]] | None = None) -> WSGIApp:
    """WSGI middleware: the bbox axis check and the declared sets of values
    (`estgeo.publish.enums`, per collection) before, clearer 404 and CQL errors after."""
    known = ", ".join(collections)
    enums = enums or {}

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if not path.startswith("/collections/"):
            return app(environ, start_response)
        params = parse_qs(environ.get("QUERY_STRING", ""))
        lang = language(environ, languages)
        match = COLLECTION_PATH.match(path)
        if ITEMS_PATH.match(path) and match and (bad := outside(params, enums.get(match["collection"]))):
            name, given, allowed = bad
            message = TEXT[lang]["not_in_enum"].format(name=name, given=given, allowed=", ".join(map(str, allowed)))
            return send(start_response, ogc_error("400 Bad Request", "InvalidParameterValue", message), method)
        if ITEMS_PATH.match(path) and "bbox" in params and "bbox-crs" in params:
            swapped = easting_first(params["bbox"][0], params["bbox-crs"][0])
            if swapped:
                message = TEXT[lang]["easting_first"].format(given=params["bbox"][0], swapped=swapped)
                return send(start_response, ogc_error("400 Bad Request", "InvalidParameterValue", message), method)
        status, headers, body = held(app, environ)
        kind = header(headers, "content-type")
        rewrite = None
        if status[:3] in ("404", "400") and "json" in kind:
            raw = drain(body)
            body = [raw]
            try:
                error = json.loads(raw)
            except ValueError:
                error = None
            if isinstance(error, dict):
                match = COLLECTION_PATH.match(path)
                if status.startswith("404") and error.get("description") == "Collection not found" and match:
                    rewrite = TEXT[lang]["no_collection"].format(cid=match["collection"], known=known)
                elif status.startswith("400") and error.get("description") == "Bad CQL text" and "filter" in params:
                    text = params["filter"][0]
                    where = cql_position(text)
                    if where is not None:
                        column, near = where
                        rewrite = (TEXT[lang]["cql"].format(column=column, near=near, text=text) if column
                                   else TEXT[lang]["cql_end"].format(text=text))
        if rewrite is not None:
            code = "NotFound" if status.startswith("404") else "InvalidParameterValue"
            return send(start_response, ogc_error(status, code, rewrite), method)
        start_response(status, headers)
        return body

    return wrapped
