"""What the serving code asks of HTTP, written once: the request being served, the
settings of the app serving it, and the OGC API exception body.

Providers run inside pygeoapi, which hands them parsed arguments but not everything a
request carries (the original `bbox-crs` box, `filter-crs`, `scaleSize`, the user the
access middleware authenticated), so they read the request through `current_request()`.
Outside a request (a build, a test calling a provider directly) it is None and callers use
what pygeoapi passed.

Every error estgeo answers itself — the access and limits middleware, the guards, the tile
fast path, the ASGI header guard, Part 4 writes — uses `ogc_error()`, so a client sees one
shape everywhere: `{"code", "type", "description"}` as pygeoapi's own exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from flask import Request, current_app, has_request_context, request

#: (status line, headers, body) — a WSGI response not yet started.
Response = tuple[str, list[tuple[str, str]], list[bytes]]


def current_request() -> Request | None:
    """The Flask request being served, or None outside one."""
    return request if has_request_context() else None


def request_arg(name: str) -> str | None:
    """A query parameter of the request being served (None outside a request)."""
    req = current_request()
    return req.args.get(name) if req is not None else None


def request_args() -> list[str]:
    """The names of the request's query parameters (none outside a request)."""
    req = current_request()
    return list(req.args) if req is not None else []


def request_user() -> str:
    """Who sent the request, as the access middleware authenticated them; `local` outside one."""
    req = current_request()
    return str(req.environ.get("estgeo.user", "unknown")) if req is not None else "local"


def app_settings() -> Any:
    """The `Settings` the app serving the request was built with (`estgeo.publish.app.build_app`)."""
    return current_app.config["ESTGEO_SETTINGS"]


def app_pygeoapi_config() -> dict[str, Any]:
    """pygeoapi's configuration as the serving app loaded it."""
    return current_app.config["ESTGEO_PYGEOAPI"]


def ogc_error_body(code: str, description: str) -> bytes:
    return json.dumps({"code": code, "type": code, "description": description}).encode("utf-8")


def ogc_error(status: str, code: str, description: str, extra: Iterable[tuple[str, str]] = ()) -> Response:
    """An OGC API exception as a WSGI response: `status` is the status line ("400 Bad Request")."""
    body = ogc_error_body(code, description)
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra]
    return status, headers, [body]


def send(start_response: Callable[..., Any], response: Response, method: str = "GET") -> list[bytes]:
    """Start `response` and return its body (none for HEAD)."""
    status, headers, body = response
    start_response(status, headers)
    return [] if method == "HEAD" else body


def held(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], Iterable[bytes]]:
    """Call the WSGI `app` without starting the response: (status, headers, body), for a
    middleware that decides after seeing the answer whether to pass it on or rewrite it.
    The body is the app's iterable, unread, so a response passed on still streams
    (pygeoapi's Flask app starts its responses before returning them, and never writes)."""
    answer: dict[str, Any] = {}

    def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        answer["status"], answer["headers"] = status, headers
        return lambda chunk: None

    body = app(environ, hold)
    return answer.get("status", "500 Internal Server Error"), list(answer.get("headers", [])), body


def header(headers: list[tuple[str, str]], name: str) -> str:
    """The value of header `name` (case-insensitive), "" when absent."""
    return next((value for key, value in headers if key.lower() == name.lower()), "")


def drain(body: Iterable[bytes]) -> bytes:
    """All of a held WSGI body, closed afterwards as the WSGI contract asks."""
    try:
        return b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
