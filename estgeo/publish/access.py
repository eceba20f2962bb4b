"""Who may do what over HTTP: the WSGI middleware in front of pygeoapi.

estgeo serves two **profiles**, each its own granian server process on its own port
(`estgeo serve` and `estgeo serve --profile internal`):

* **public** — what a municipality puts on its web site. Read-only: GET, HEAD and
  OPTIONS, and POST only as a CQL2 query on `/collections/{id}/items` (never a
  `application/geo+json` body, which would be a create); every other method is a 405
  with an `Allow` header (POST also runs a process, `/processes/{id}/execution`: the
  lägesbild report reads the published layers). Its pygeoapi configuration holds public collections only, so
  no internal layer can leak through a route this module forgets: it is not there.
* **internal** — the public collections plus the internal ones (`audience: internal`)
  and the editable store collections (OGC API Features Part 4, `access.internal.editable`
  in config/estgeo.yml). **Every** request must authenticate, with

  - an API key, as `Authorization: Bearer <key>`, `X-API-Key: <key>`, or as the password
    of HTTP Basic auth (what QGIS/QField authentication configurations send); keys come
    from the file `access.internal.api_keys_file` (in the workspace, never in git: one
    `name: key` per line, the key at least 24 characters, or `name: sha256:<hex>` to keep
    only its hash) and/or the environment variable `access.internal.api_keys_env`;
  - or a user name in the header `access.internal.proxy_user_header`, set by a reverse
    proxy that did the login (SSO), and trusted only when the request comes from one of
    `access.internal.trusted_proxies` (the proxy must drop the header from client requests).

  Write methods are allowed only on the editable collections; everything else is a 405.

For both profiles the middleware also

* refuses paths that try to leave their route (`..`/`.` segments, encoded slashes or
  backslashes, NUL and control characters, double encoding), and tile addresses whose
  matrix, row and column are not numbers — a 400 before pygeoapi or a provider sees them;
* answers CORS itself (`access.cors_origins`; the internal profile allows no origin
  unless `access.internal.cors_origins` says so) — the only place CORS is answered
  (pygeoapi's flask-cors is off in the generated configuration), so one policy holds;
* adds security headers: `X-Content-Type-Options: nosniff` and a `Referrer-Policy` on
  everything, a `Content-Security-Policy` (with `frame-ancestors` from
  `access.frame_ancestors`, for embeds) on HTML, and `Cache-Control: no-store` on every
  internal answer. A header the app set itself (an embed page's own CSP) is kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from estgeo.config import ConfigError, Settings
from estgeo.publish.http import ogc_error

PROFILES = ("public", "internal")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The shortest API key accepted (a key is a secret, not a password people type).
MIN_KEY_LENGTH = 24
#: Largest request body accepted (a feature from a phone is a few kB).
MAX_BODY_BYTES = 1024 * 1024
#: Response headers a browser script may read (CRS, paging links, created item).
EXPOSED_HEADERS = "Content-Crs, Content-Language, Link, Location, ETag, OGC-NumberMatched, OGC-NumberReturned"
REQUEST_HEADERS_PUBLIC = "Accept, Accept-Language, Content-Type, Content-Crs"
REQUEST_HEADERS_INTERNAL = REQUEST_HEADERS_PUBLIC + ", Authorization, X-API-Key"

#: Where pygeoapi's HTML templates load scripts, styles and fonts from (0.24), plus the basemap.
CDN_SOURCES = "https://unpkg.com https://cdn.jsdelivr.net https://cdnjs.cloudflare.com"
_ITEMS = re.compile(r"^/collections/([^/]+)/items/?$")
_ITEM = re.compile(r"^/collections/([^/]+)/items/([^/]+)/?$")
_EXECUTION = re.compile(r"^/processes/[^/]+/execution/?$")
_TILE = re.compile(r"^/collections/[^/]+/(?:map/)?tiles/([^/]+)/([^/]+)/([^/]+)/([^/]+)/?$")
_TILE_NUMBER = re.compile(r"^\d{1,10}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_BAD = re.compile(r"%(?:2f|5c|00|25|2e)", re.IGNORECASE)


class AccessConfigError(ConfigError):
    """The `access:` block of config/estgeo.yml or the API key file is wrong."""


@dataclass(frozen=True)
class AccessPolicy:
    """What one profile allows; built from the settings by `policy_for`."""

    profile: str
    cors_origins: tuple[str, ...] = ("*",)
    frame_ancestors: tuple[str, ...] = ("*",)
    #: sha256 digest of each API key → the key's name.
    api_keys: dict[bytes, str] = field(default_factory=dict, repr=False)
    proxy_user_header: str | None = None
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    editable: frozenset[str] = frozenset()
    basemap_origin: str = "https://tile.openstreetmap.org"
    content_security_policy: str | None = None

    @property
    def internal(self) -> bool:
        return self.profile == "internal"

    def csp(self) -> str:
        if self.content_security_policy:
            return self.content_security_policy
        ancestors = " ".join(self.frame_ancestors) or "'none'"
        return (
            "default-src 'self'; "
            # pygeoapi's templates have inline scripts and styles.
            f"script-src 'self' 'unsafe-inline' {CDN_SOURCES}; "
            f"style-src 'self' 'unsafe-inline' {CDN_SOURCES} https://fonts.googleapis.com; "
            f"font-src 'self' data: {CDN_SOURCES} https://fonts.gstatic.com; "
            f"img-src 'self' data: blob: {self.basemap_origin} {CDN_SOURCES}; "
            "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
            f"form-action 'self'; frame-ancestors {ancestors}"
        )

    def authenticate(self, environ: dict[str, Any]) -> str | None:
        """The name of the key or user the request proves, None when it proves none."""
        for key in _presented_keys(environ):
            digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
            for known, name in self.api_keys.items():
                if hmac.compare_digest(digest, known):
                    return name
        if self.proxy_user_header and environ.get("REMOTE_ADDR") in self.trusted_proxies:
            user = environ.get("HTTP_" + self.proxy_user_header.upper().replace("-", "_"), "").strip()
            if user:
                return f"proxy:{user}"
        return None


def _presented_keys(environ: dict[str, Any]) -> list[str]:
    keys = []
    header = environ.get("HTTP_X_API_KEY")
    if header:
        keys.append(header.strip())
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        keys.append(value.strip())
    elif scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return keys
        _, _, password = decoded.partition(":")
        if password:
            keys.append(password)
    return keys


# Configuration ---------------------------------------------------------------------
def access_config(settings: Settings) -> dict[str, Any]:
    return dict(settings.project.get("access") or {})


def internal_config(settings: Settings) -> dict[str, Any]:
    return dict(access_config(settings).get("internal") or {})


def editable_collections(settings: Settings) -> list[dict[str, Any]]:
    """The store collections the internal profile lets authenticated clients edit."""
    found = []
    for entry in internal_config(settings).get("editable") or []:
        if entry.get("kind") not in settings.model:
            raise AccessConfigError(f"config/estgeo.yml access.internal.editable: kind must be one of {', '.join(settings.model)}")
        found.append(dict(entry))
    return found


def api_keys_path(settings: Settings) -> Path | None:
    name = internal_config(settings).get("api_keys_file")
    if not name:
        return None
    path = Path(name)
    return path if path.is_absolute() else settings.workspace / path


def load_api_keys(settings: Settings, environ: dict[str, str] | None = None) -> dict[bytes, str]:
    """API keys (as sha256 digests) from the key file and the environment variable."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    lines: list[tuple[str, str]] = []
    path = api_keys_path(settings)
    if path is not None and path.exists():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append((f"{path}:{number}", line))
    env_name = internal_config(settings).get("api_keys_env")
    if env_name and env.get(env_name):
        for i, item in enumerate(env[env_name].split(","), start=1):
            if item.strip():
                lines.append((f"${env_name} entry {i}", item.strip()))
    keys: dict[bytes, str] = {}
    for where, line in lines:
        name, sep, secret = line.partition(":")
        if not sep:
            name, secret = f"key-{len(keys) + 1}", line
        name, secret = name.strip(), secret.strip()
        if secret.startswith("sha256:"):
            try:
                digest = bytes.fromhex(secret.removeprefix("sha256:"))
            except ValueError as exc:
                raise AccessConfigError(f"{where}: sha256: must be followed by 64 hex digits") from exc
            if len(digest) != 32:
                raise AccessConfigError(f"{where}: sha256: must be followed by 64 hex digits")
        elif len(secret) < MIN_KEY_LENGTH:
            raise AccessConfigError(f"{where}: the key of '{name}' is shorter than {MIN_KEY_LENGTH} characters "
                                    "(make one with `estgeo apikey NAME`)")
        else:
            digest = hashlib.sha256(secret.encode("utf-8")).digest()
        keys[digest] = name
    return keys


def policy_for(settings: Settings, profile: str) -> AccessPolicy:
    """The access policy of a profile, from config/estgeo.yml `access:`."""
    if profile not in PROFILES:
        raise AccessConfigError(f"unknown profile '{profile}' (expected {' or '.join(PROFILES)})")
    access = access_config(settings)
    basemap = str(settings.server.get("basemap_url", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"))
    parsed = urlparse(basemap)
    common: dict[str, Any] = {
        "basemap_origin": f"{parsed.scheme}://{parsed.netloc}" if parsed.netloc else "",
        "content_security_policy": access.get("content_security_policy"),
    }
    if profile == "public":
        return AccessPolicy(
            profile="public",
            cors_origins=tuple(access.get("cors_origins", ["*"])),
            frame_ancestors=tuple(access.get("frame_ancestors", ["*"])),
            # Whose X-Forwarded-For names the client (for the rate limit, estgeo.publish.limits).
            trusted_proxies=frozenset(str(a) for a in access.get("trusted_proxies", ["127.0.0.1", "::1"])),
            **common,
        )
    internal = internal_config(settings)
    keys = load_api_keys(settings)
    header = internal.get("proxy_user_header")
    if not keys and not header:
        where = api_keys_path(settings) or "access.internal.api_keys_file"
        raise AccessConfigError(
            f"the internal profile needs API keys (none in {where}"
            + (f" or ${internal['api_keys_env']}" if internal.get("api_keys_env") else "")
            + ") or access.internal.proxy_user_header; add one with `estgeo apikey NAME`"
        )
    return AccessPolicy(
        profile="internal",
        cors_origins=tuple(internal.get("cors_origins", [])),
        frame_ancestors=tuple(internal.get("frame_ancestors", ["'none'"])),
        api_keys=keys,
        proxy_user_header=header,
        trusted_proxies=frozenset(str(a) for a in internal.get("trusted_proxies", ["127.0.0.1", "::1"])),
        editable=frozenset(c["id"] for c in editable_collections(settings)),
        **common,
    )


# Request checks --------------------------------------------------------------------
def path_problem(environ: dict[str, Any]) -> str | None:
    """Why this request's path is refused, None when it is an ordinary path."""
    path = environ.get("PATH_INFO", "")
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    raw_path = raw.split("?", 1)[0]
    # Servers differ in whether they hand over the raw path (gunicorn: RAW_URI; granian:
    # only the decoded PATH_INFO), so both are checked: a '%2e' left after decoding was
    # encoded twice.
    if _ENCODED_BAD.search(raw_path) or _ENCODED_BAD.search(path):
        return "encoded '/', '\\', '.', '%' or NUL characters are not allowed in the path"
    if "\\" in path or _CONTROL.search(path) or _CONTROL.search(unquote(raw_path)):
        return "backslashes and control characters are not allowed in the path"
    segments = path.split("/")
    if any(s in (".", "..") for s in segments) or any(s in (".", "..") for s in raw_path.split("/")):
        return "'.' and '..' are not allowed as path segments"
    tile = _TILE.match(path)
    if tile and not all(_TILE_NUMBER.match(part) for part in tile.groups()[1:]):
        return "tile matrix, row and column must be whole numbers"
    return None


def method_problem(policy: AccessPolicy, environ: dict[str, Any]) -> tuple[str, str] | None:
    """(message, Allow header) when the method is not allowed on this path."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method in READ_METHODS:
        return None
    path = environ.get("PATH_INFO", "")
    content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    items = _ITEMS.match(path)
    item = _ITEM.match(path)
    editable = (items or item) and (items or item).group(1) in policy.editable  # type: ignore[union-attr]
    if items and method == "POST" and (content_type != "application/geo+json" or editable):
        return None  # a CQL2 query (read), or a create on an editable collection
    if method == "POST" and _EXECUTION.match(path):
        return None  # running a process (the lägesbild report) reads the layers, it changes nothing
    if item and editable and method in ("PUT", "PATCH", "DELETE"):
        return None
    if items:
        allow = "GET, HEAD, OPTIONS, POST"
        why = ("this collection is read-only" if policy.internal else "the public API is read-only") + \
            " (POST is accepted only as a CQL2 query)"
    else:
        allow = "GET, HEAD, OPTIONS"
        why = "this collection is read-only" if (item and policy.internal) else "the public API is read-only"
    return f"{method} is not allowed here: {why}", allow


# Middleware ------------------------------------------------------------------------
def access_middleware(app: Callable[..., Iterable[bytes]], policy: AccessPolicy) -> Callable[..., Iterable[bytes]]:
    """Wrap a WSGI app with the path guard, method policy, authentication, CORS and headers."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        cors = _cors_headers(policy, origin)

        def respond(status: str, headers: list[tuple[str, str]], body: list[bytes]) -> Iterable[bytes]:
            start_response(status, _finish_headers(policy, headers, cors, ours=True))
            return body

        problem = path_problem(environ)
        if problem:
            return respond(*ogc_error("400 Bad Request", "InvalidParameterValue", problem))
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "OPTIONS" and origin and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            return respond(*_preflight(policy, environ, cors))
        if policy.internal:
            user = policy.authenticate(environ)
            if user is None:
                challenge = [("WWW-Authenticate", 'Bearer realm="estgeo internal"'),
                             ("WWW-Authenticate", 'Basic realm="estgeo internal", charset="UTF-8"')]
                return respond(*ogc_error("401 Unauthorized", "Unauthorized",
                                            "authentication required: send an API key (Authorization: Bearer <key> "
                                            "or X-API-Key) or sign in through the municipality's proxy", challenge))
            environ["estgeo.user"] = user
            environ["REMOTE_USER"] = user
        refused = method_problem(policy, environ)
        if refused:
            message, allow = refused
            return respond(*ogc_error("405 Method Not Allowed", "MethodNotAllowed", message, [("Allow", allow)]))
        length = environ.get("CONTENT_LENGTH") or "0"
        if not length.isdigit():
            return respond(*ogc_error("400 Bad Request", "InvalidParameterValue", "Content-Length is not a number"))
        if int(length) > MAX_BODY_BYTES:
            return respond(*ogc_error("413 Content Too Large", "InvalidParameterValue",
                                        f"request body larger than {MAX_BODY_BYTES} bytes"))

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, _finish_headers(policy, headers, cors), exc_info)

        return app(environ, start)

    return wrapped


def _cors_headers(policy: AccessPolicy, origin: str | None) -> list[tuple[str, str]]:
    if not origin or not policy.cors_origins:
        return []
    if "*" in policy.cors_origins and not policy.internal:
        return [("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSED_HEADERS)]
    if origin in policy.cors_origins:
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
                ("Access-Control-Expose-Headers", EXPOSED_HEADERS)]
    return []


def _preflight(policy: AccessPolicy, environ: dict[str, Any], cors: list[tuple[str, str]]):
    if not cors:
        return ogc_error("403 Forbidden", "Forbidden", "this origin may not call the API from a browser")
    methods = "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE" if policy.internal else "GET, HEAD, OPTIONS, POST"
    headers = [
        ("Access-Control-Allow-Methods", methods),
        ("Access-Control-Allow-Headers", REQUEST_HEADERS_INTERNAL if policy.internal else REQUEST_HEADERS_PUBLIC),
        ("Access-Control-Max-Age", "600"),
        ("Content-Length", "0"),
    ]
    return "204 No Content", headers, [b""]


def _finish_headers(policy: AccessPolicy, headers: list[tuple[str, str]], cors: list[tuple[str, str]],
                    ours: bool = False) -> list[tuple[str, str]]:
    """The app's headers plus the CORS headers of our policy and the security headers.

    CORS is answered here alone: pygeoapi's flask-cors is off in the generated
    configuration. An `Access-Control-*` header some route of the app still sets (not
    ours: `ours` marks this middleware's own answers) is dropped, so the policy holds
    whatever is mounted on the app later."""
    out = [(k, v) for k, v in headers if ours or not k.lower().startswith("access-control-")]
    present = {k.lower() for k, _ in out}
    out += cors
    content_type = next((v for k, v in out if k.lower() == "content-type"), "")

    def add(name: str, value: str) -> None:
        if name.lower() not in present:
            out.append((name, value))
            present.add(name.lower())

    add("X-Content-Type-Options", "nosniff")
    add("Referrer-Policy", "strict-origin-when-cross-origin")
    if content_type.lower().startswith("text/html"):
        add("Content-Security-Policy", policy.csp())
        if policy.frame_ancestors in (("'none'",), ("'self'",)):
            add("X-Frame-Options", "DENY" if policy.frame_ancestors == ("'none'",) else "SAMEORIGIN")
    if policy.internal:
        # Internal answers hold names and proposals: no shared cache may keep them.
        out = [(k, v) for k, v in out if k.lower() != "cache-control"] + [("Cache-Control", "no-store")]
    return out


def add_api_key(settings: Settings, name: str) -> tuple[str, Path]:
    """A new random API key for `name`; its sha256 is appended to the key file."""
    import secrets

    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
        raise AccessConfigError("a key name is 1–64 letters, digits or . _ @ -")
    path = api_keys_path(settings)
    if path is None:
        raise AccessConfigError("config/estgeo.yml: set access.internal.api_keys_file first")
    key = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if new:
            fh.write("# estgeo API keys for the internal profile: name: sha256:<hash of the key>\n")
        fh.write(f"{name}: sha256:{hashlib.sha256(key.encode('utf-8')).hexdigest()}\n")
    return key, path
