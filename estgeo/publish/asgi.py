"""The internal profile's server entry: the WSGI app behind an ASGI guard against
header smuggling.

WSGI hands an application its headers as `HTTP_*` variables in which `-` and `_` are
the same character, so `X_Remote_User: mallory` and `X-Remote-User: mallory` arrive
identical. With `access.internal.proxy_user_header: X-Remote-User`, a proxy that strips
only the hyphenated header from what clients send would let any client choose its user
(tried: the edits log recorded `proxy:mallory`). granian builds the WSGI environ in Rust
and keeps no raw header names, so the check cannot be made in WSGI. Under ASGI the raw
names are in the scope: this guard refuses (400) every request carrying a header whose
name contains an underscore — as nginx does by default (`underscores_in_headers off`,
which drops them) — and passes the rest to the same WSGI app through a2wsgi. No client
we support sends such a header. The public profile, which trusts no identity header,
stays on granian's faster WSGI interface (its tiles are served by the hundred).
"""

from __future__ import annotations

from typing import Any

from a2wsgi import WSGIMiddleware

from estgeo.publish.app import app_from_environment, server_threads
from estgeo.publish.http import ogc_error_body


def underscored_headers(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """Names of the headers that contain `_` (as sent)."""
    return [name.decode("latin-1") for name, _ in headers if b"_" in name]


def refuse_underscored_headers(app: Any) -> Any:
    """ASGI middleware: 400 for any HTTP request with an underscore in a header name."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            found = underscored_headers(scope.get("headers") or [])
            if found:
                body = ogc_error_body("InvalidParameterValue",
                                      f"header names with '_' are refused ({', '.join(sorted(set(found)))}): they would be "
                                      "read as the same header as their hyphenated spelling; use '-'")
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                        (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]})
                await send({"type": "http.response.body", "body": body})
                return
        async def receive_coroutine() -> Any:
            # a2wsgi hands `receive` to asyncio.run_coroutine_threadsafe, which wants a
            # coroutine; granian's receive returns an awaitable of its own.
            return await receive()

        await app(scope, receive_coroutine, send)

    return guarded


WSGI_APP = app_from_environment()
APP = refuse_underscored_headers(WSGIMiddleware(WSGI_APP, workers=4 * server_threads(WSGI_APP)))

__all__ = ["APP", "refuse_underscored_headers", "underscored_headers"]
