"""WSGI middleware for requests pygeoapi 0.24 answers with a 500 although the client erred.

Found by schemathesis against our OpenAPI document (tests/publish/test_conformance.py): a
malformed `bbox` on `/coverage` (pygeoapi validates it and then answers 500), a POST
query on `/items` without a Content-Type (pygeoapi's view returns nothing) or whose body
is not UTF-8 text (pygeoapi's error handler itself fails), and a process execution whose
JSON body is not an object (pygeoapi calls `.get` on it). Each becomes a 4xx that says
what is wrong; every other request passes untouched.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from pygeoapi.api import validate_bbox

from estgeo.publish.http import ogc_error, send

COVERAGE_PATH = re.compile(r"^/collections/[^/]+/coverage/?$")
ITEMS_PATH = re.compile(r"^/collections/[^/]+/items/?$")
EXECUTION_PATH = re.compile(r"^/processes/[^/]+/execution/?$")

WSGIApp = Callable[..., Iterable[bytes]]


def _bad_request(start_response: Callable[..., Any], description: str, status: str = "400 Bad Request") -> list[bytes]:
    return send(start_response, ogc_error(status, "InvalidParameterValue", description))


def client_errors_are_400(app: WSGIApp) -> WSGIApp:
    """Refuse, with a 400, the malformed requests pygeoapi would answer with a 500."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if "bbox=" in query and COVERAGE_PATH.match(path):
            try:
                validate_bbox(parse_qs(query).get("bbox", [""])[-1])
            except ValueError as exc:
                return _bad_request(start_response, f"bbox: {exc}")
        if environ.get("REQUEST_METHOD") == "POST" and ITEMS_PATH.match(path):
            if not environ.get("CONTENT_TYPE"):
                return _bad_request(start_response, "a POST to /items is a query: send a CQL2-JSON filter as "
                                    "Content-Type: application/json", status="415 Unsupported Media Type")
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                return _bad_request(start_response, "the request body must be a CQL2-JSON filter in UTF-8")
            environ["wsgi.input"] = io.BytesIO(body)
        if environ.get("REQUEST_METHOD") == "POST" and EXECUTION_PATH.match(path):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            try:
                document = json.loads(body) if body else {}
            except ValueError:
                document = {}  # not JSON at all: pygeoapi says so itself
            if not isinstance(document, dict):
                return _bad_request(start_response, 'an execute request is a JSON object: {"inputs": {…}}')
            environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)

    return wrapped
