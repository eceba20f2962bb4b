"""Access over HTTP: read-only public API, authenticated internal profile,
no path traversal, CORS for embeds, security headers on HTML.

The middleware is tested on its own (every rule, with a stand-in app that records what
reached it) and in front of the real server, over raw HTTP where a client library would
clean up the very paths an attacker sends.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
import yaml
from live_server import live_server

from estgeo.build.run import build_layers
from estgeo.config import Settings, load_settings
from estgeo.ingest.pipeline import ingest_file
from estgeo.publish.access import AccessConfigError, AccessPolicy, access_middleware, load_api_keys, policy_for
from estgeo.store import open_store

DATA = Path(__file__).resolve().parents[1] / "data"
REPO = Path(__file__).resolve().parents[2]
KEY = "access-test-key-0123456789abcdefgh"


# The middleware alone --------------------------------------------------------------------
class Recorder:
    """A WSGI app that answers 200 HTML and remembers the requests that reached it."""

    def __init__(self, content_type: str = "text/html; charset=utf-8", headers: list[tuple[str, str]] | None = None):
        self.seen: list[dict[str, Any]] = []
        self.content_type = content_type
        self.headers = headers or []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.seen.append(environ)
        start_response("200 OK", [("Content-Type", self.content_type), ("Access-Control-Allow-Origin", "*"), *self.headers])
        return [b"<html></html>"]


def call(app: Any, method: str = "GET", path: str = "/", raw: str | None = None, **headers: str) -> tuple[str, dict[str, str], bytes]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "RAW_URI": raw if raw is not None else path,
               "QUERY_STRING": "", "REMOTE_ADDR": headers.pop("remote_addr", "127.0.0.1"),
               "CONTENT_LENGTH": headers.pop("content_length", "")}
    if "content_type" in headers:
        environ["CONTENT_TYPE"] = headers.pop("content_type")
    for name, value in headers.items():
        environ["HTTP_" + name.upper()] = value
    status: list[Any] = []
    body = b"".join(app(environ, lambda s, h, e=None: status.append((s, h))))
    code, header_list = status[0]
    out: dict[str, str] = {}
    for k, v in header_list:
        out[k] = f"{out[k]}, {v}" if k in out else v
    return code, out, body


PUBLIC = AccessPolicy(profile="public")
INTERNAL = AccessPolicy(profile="internal", cors_origins=("https://intra.sunne.se",), frame_ancestors=("'none'",),
                        api_keys={hashlib.sha256(KEY.encode()).digest(): "anna"}, proxy_user_header="X-Remote-User",
                        trusted_proxies=frozenset({"10.0.0.5"}), editable=frozenset({"walk-observations"}))


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/", "/collections", "/collections/unsafe-places", "/collections/unsafe-places/items",
                                  "/collections/unsafe-places/items/tv-1", "/processes/x/execution", "/jobs/j-1",
                                  "/admin/config"])
def test_public_write_methods_are_405_and_never_reach_the_app(method: str, path: str) -> None:
    app = Recorder()
    status, headers, body = call(access_middleware(app, PUBLIC), method, path)
    assert status.startswith("405") and "GET" in headers["Allow"] and not app.seen
    assert json.loads(body)["description"].startswith(f"{method} is not allowed here")


def test_public_post_is_a_query_only() -> None:
    app = Recorder()
    wrapped = access_middleware(app, PUBLIC)
    assert call(wrapped, "POST", "/collections/x/items", content_type="application/geo+json")[0].startswith("405")
    assert call(wrapped, "POST", "/collections/x/items/a", content_type="application/json")[0].startswith("405")
    assert call(wrapped, "POST", "/collections/x/items", content_type="application/json")[0].startswith("200")  # CQL2 JSON
    assert call(wrapped, "POST", "/processes/lagesbild/execution", content_type="application/json")[0].startswith("200")
    assert call(wrapped, "POST", "/jobs", content_type="application/json")[0].startswith("405")
    assert len(app.seen) == 2


def test_internal_requires_authentication_both_ways() -> None:
    app = Recorder()
    wrapped = access_middleware(app, INTERNAL)
    assert call(wrapped, "GET", "/collections")[0].startswith("401")
    assert call(wrapped, "GET", "/collections", authorization="Bearer " + KEY)[0].startswith("200")
    assert app.seen[-1]["estgeo.user"] == "anna" and app.seen[-1]["REMOTE_USER"] == "anna"
    # The proxy's header counts only from the proxy's address.
    assert call(wrapped, "GET", "/collections", x_remote_user="bertil", remote_addr="10.0.0.5")[0].startswith("200")
    assert app.seen[-1]["estgeo.user"] == "proxy:bertil"
    assert call(wrapped, "GET", "/collections", x_remote_user="bertil", remote_addr="127.0.0.1")[0].startswith("401")
    assert call(wrapped, "GET", "/collections", x_remote_user="", remote_addr="10.0.0.5")[0].startswith("401")
    assert len(app.seen) == 2


def test_internal_writes_only_on_editable_collections() -> None:
    wrapped = access_middleware(Recorder("application/json"), INTERNAL)
    auth = {"authorization": "Bearer " + KEY}
    assert call(wrapped, "POST", "/collections/walk-observations/items", content_type="application/geo+json", **auth)[0].startswith("200")
    for method in ("PUT", "PATCH", "DELETE"):
        assert call(wrapped, method, "/collections/walk-observations/items/o-1", **auth)[0].startswith("200")
        assert call(wrapped, method, "/collections/unsafe-places-internal/items/o-1", **auth)[0].startswith("405")
    assert call(wrapped, "POST", "/collections/unsafe-places/items", content_type="application/geo+json", **auth)[0].startswith("405")
    too_big = call(wrapped, "POST", "/collections/walk-observations/items", content_type="application/geo+json",
                   content_length=str(2 * 1024 * 1024), **auth)
    assert too_big[0].startswith("413")


@pytest.mark.parametrize(("path", "raw"), [
    ("/collections/../../etc/passwd", None),
    ("/static/../../pygeoapi-config.yml", None),
    ("/collections/x/items/..", None),
    ("/collections/x/items/./a", None),
    ("/embed/static/../../secrets/api-keys.txt", None),
    ("/collections/x/tiles/WebMercatorQuad/../../../etc/passwd", "/collections/x/tiles/WebMercatorQuad/..%2f..%2f..%2fetc/passwd"),
    ("/collections/x/items/../../secrets", "/collections/x/items/%2e%2e/%2e%2e/secrets"),
    ("/collections/x/items/%2e%2e", "/collections/x/items/%252e%252e"),  # double encoding
    ("/collections/x/items/a\\..\\b", None),
    ("/collections/x/items/a\x00b", None),
    ("/collections/x/tiles/WebMercatorQuad/0/0/x", None),
    ("/collections/x/tiles/WebMercatorQuad/z/0/0", None),
    ("/collections/x/map/tiles/WebMercatorQuad/1/../0", None),
])
def test_path_traversal_is_refused_before_the_app(path: str, raw: str | None) -> None:
    app = Recorder()
    status, _, body = call(access_middleware(app, PUBLIC), "GET", path, raw=raw)
    assert status.startswith("400") and not app.seen
    assert json.loads(body)["code"] == "InvalidParameterValue"


def test_ordinary_paths_pass() -> None:
    app = Recorder()
    wrapped = access_middleware(app, PUBLIC)
    for path in ("/", "/collections/incident-density/items/8a1f", "/collections/x/tiles/WebMercatorQuad/14/4700/8800",
                 "/collections/x/items/tv-V1-01", "/embed/static/vendor/maplibre-gl/maplibre-gl.mjs", "/static/img/logo.png"):
        assert call(wrapped, "GET", path)[0].startswith("200"), path


def test_cors_public_and_internal() -> None:
    public = access_middleware(Recorder(), PUBLIC)
    _, headers, _ = call(public, "GET", "/collections", origin="https://www.sunne.se")
    assert headers["Access-Control-Allow-Origin"] == "*" and "Content-Crs" in headers["Access-Control-Expose-Headers"]
    status, headers, _ = call(public, "OPTIONS", "/collections/x/items", origin="https://www.sunne.se",
                              access_control_request_method="GET")
    assert status.startswith("204") and "GET" in headers["Access-Control-Allow-Methods"]
    assert "PUT" not in headers["Access-Control-Allow-Methods"]
    internal = access_middleware(Recorder(), INTERNAL)
    _, headers, _ = call(internal, "GET", "/collections", origin="https://evil.example", authorization="Bearer " + KEY)
    assert "Access-Control-Allow-Origin" not in headers  # the app's own '*' is removed too
    _, headers, _ = call(internal, "GET", "/collections", origin="https://intra.sunne.se", authorization="Bearer " + KEY)
    assert headers["Access-Control-Allow-Origin"] == "https://intra.sunne.se" and headers["Vary"] == "Origin"
    assert call(internal, "OPTIONS", "/collections", origin="https://evil.example",
                access_control_request_method="DELETE")[0].startswith("403")


def test_security_headers() -> None:
    _, html, _ = call(access_middleware(Recorder(), PUBLIC), "GET", "/")
    assert html["X-Content-Type-Options"] == "nosniff" and "Referrer-Policy" in html
    assert "frame-ancestors *" in html["Content-Security-Policy"] and "object-src 'none'" in html["Content-Security-Policy"]
    _, as_json, _ = call(access_middleware(Recorder("application/json"), PUBLIC), "GET", "/collections")
    assert as_json["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" not in as_json
    _, internal, _ = call(access_middleware(Recorder(), INTERNAL), "GET", "/", authorization="Bearer " + KEY)
    assert "frame-ancestors 'none'" in internal["Content-Security-Policy"] and internal["X-Frame-Options"] == "DENY"
    assert internal["Cache-Control"] == "no-store"
    # A page that sets its own policy (the embed) keeps it.
    own = Recorder(headers=[("Content-Security-Policy", "default-src 'self'")])
    assert call(access_middleware(own, PUBLIC), "GET", "/embed")[1]["Content-Security-Policy"] == "default-src 'self'"


def test_api_keys_from_file_and_environment(settings: Settings) -> None:
    keys = settings.workspace / "secrets" / "api-keys.txt"
    keys.parent.mkdir()
    keys.write_text(f"# comment\nanna: {KEY}\nbertil: sha256:{hashlib.sha256(b'x' * 30).hexdigest()}\n", encoding="utf-8")
    found = load_api_keys(settings, environ={"ESTGEO_API_KEYS": "qfield:" + "k" * 30})
    assert sorted(found.values()) == ["anna", "bertil", "qfield"]
    keys.write_text("kort: abc\n", encoding="utf-8")
    with pytest.raises(AccessConfigError, match="shorter than 24"):
        load_api_keys(settings, environ={})


def test_internal_profile_refuses_to_start_without_a_way_to_authenticate(settings: Settings) -> None:
    assert policy_for(settings, "public").profile == "public"
    with pytest.raises(AccessConfigError, match="needs API keys"):
        policy_for(settings, "internal")


def test_apikey_command_stores_only_the_hash(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "estgeo.cli", "--workspace", str(tmp_path), "apikey", "qfield-1"],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    key = result.stdout.strip().splitlines()[-1]
    stored = (tmp_path / "secrets" / "api-keys.txt").read_text(encoding="utf-8")
    assert key not in stored and hashlib.sha256(key.encode()).hexdigest() in stored
    assert (tmp_path / "secrets" / "api-keys.txt").stat().st_mode & 0o077 == 0


# In front of the real server -------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("access")
    config = root / "config"
    shutil.copytree(REPO / "config", config)
    project = yaml.safe_load((config / "estgeo.yml").read_text(encoding="utf-8"))
    project["access"]["internal"]["proxy_user_header"] = "X-Remote-User"
    (config / "estgeo.yml").write_text(yaml.safe_dump(project, allow_unicode=True), encoding="utf-8")
    settings = load_settings(workspace=root / "ws", config_dir=config)
    settings.ensure_workspace()
    store = open_store(settings)
    for name in ("trygghetsvandring_test.csv", "belysning_test.gpkg", "polisen_blandat.csv"):
        ingest_file(settings, store, DATA / name)
    build_layers(settings, store)
    keys = settings.workspace / "secrets" / "api-keys.txt"
    keys.parent.mkdir()
    keys.write_text(f"test: {KEY}\n", encoding="utf-8")
    return settings


@pytest.fixture(scope="module")
def public_server(built: Settings) -> Iterator[str]:
    with live_server(built.workspace, config_dir=built.config_dir) as (base, _):
        yield base


@pytest.fixture(scope="module")
def internal_server(built: Settings) -> Iterator[str]:
    with live_server(built.workspace, profile="internal", config_dir=built.config_dir) as (base, _):
        yield base


def raw_request(base: str, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send `path` exactly as written (no client-side normalisation of '..' or encoding)."""
    url = urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.putrequest(method, path, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def collection_ids(base: str, headers: dict[str, str] | None = None) -> list[str]:
    return [c["id"] for c in requests.get(f"{base}/collections", params={"f": "json"}, headers=headers, timeout=30).json()["collections"]]


TRAVERSALS = [
    "/collections/{c}/items/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/collections/{c}/items/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/collections/{c}/tiles/WebMercatorQuad/..%2f..%2f..%2fsecrets/0/0",
    "/collections/{c}/tiles/WebMercatorQuad/0/0/..%252f..%252fstore.sqlite",
    "/collections/{c}/tiles/WebMercatorQuad/../../../../etc/passwd",
    "/collections/{c}/tiles/WebMercatorQuad/0/../../../../secrets/api-keys.txt",
    "/collections/{c}/coverage/../../../../secrets/api-keys.txt",
    "/collections/{c}/coverage?subset=..%2f..%2fsecrets",
    "/collections/../../../../etc/passwd",
    "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/pygeoapi-config.yml",
    "/static/..%5c..%5c..%5cetc%5cpasswd",
    "/embed/static/../../../secrets/api-keys.txt",
    "/embed/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/embed?layers=../../../secrets/api-keys.txt",
    "/collections/{c}/items?f=../../../../etc/passwd",
]


@pytest.mark.slow
def test_no_path_traversal_through_tiles_coverages_embed(public_server: str, built: Settings) -> None:
    secret_markers = [b"root:x:", KEY.encode(), str(built.workspace).encode(), b"sha256:", b"SQLite format"]
    tried = 0
    for collection in collection_ids(public_server):
        for template in TRAVERSALS:
            path = template.format(c=collection)
            status, _, body = raw_request(public_server, "GET", path)
            tried += 1
            if "?" in path:  # a query parameter is not a path: any answer but a 5xx, and no secret
                assert status < 500, (path, status, body[:300])
            else:
                assert status in (400, 404), (path, status, body[:300])
            for marker in secret_markers:
                assert marker not in body, (path, marker)
    assert tried >= len(TRAVERSALS)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_public_server_write_methods_405(public_server: str, method: str) -> None:
    for collection in collection_ids(public_server):
        for path in (f"/collections/{collection}/items/x", f"/collections/{collection}/items"):
            status, headers, _ = raw_request(public_server, method, path, {"Content-Type": "application/geo+json",
                                                                            "Content-Length": "0"})
            assert status == 405, (method, path, status)
            assert "GET" in headers["allow"]


@pytest.mark.slow
def test_public_server_headers_and_cors(public_server: str) -> None:
    landing = requests.get(public_server, params={"f": "html"}, headers={"Origin": "https://www.sunne.se"}, timeout=30)
    assert landing.status_code == 200 and landing.headers["Content-Type"].startswith("text/html")
    csp = landing.headers["Content-Security-Policy"]
    assert "frame-ancestors" in csp and "default-src 'self'" in csp
    assert landing.headers["X-Content-Type-Options"] == "nosniff"
    assert landing.headers["Access-Control-Allow-Origin"] == "*"
    assert landing.headers.get("Access-Control-Allow-Credentials") is None
    items = requests.get(f"{public_server}/collections/street-lights/items", params={"f": "json", "limit": 1},
                         headers={"Origin": "https://www.sunne.se"}, timeout=30)
    assert items.headers["Access-Control-Allow-Origin"] == "*"
    preflight = requests.options(f"{public_server}/collections/street-lights/items",
                                 headers={"Origin": "https://www.sunne.se", "Access-Control-Request-Method": "GET"}, timeout=30)
    assert preflight.status_code == 204 and "GET" in preflight.headers["Access-Control-Allow-Methods"]
    for path in ("/collections", "/collections/street-lights/items"):
        page = requests.get(public_server + path, params={"f": "html"}, timeout=30)
        assert page.status_code == 200 and "Content-Security-Policy" in page.headers, path


@pytest.mark.slow
def test_internal_server_authentication_both_ways(internal_server: str) -> None:
    assert requests.get(f"{internal_server}/collections", timeout=30).status_code == 401
    assert requests.get(f"{internal_server}/collections", headers={"Authorization": f"Bearer {KEY}"}, timeout=30).status_code == 200
    # The test reaches the server from 127.0.0.1, a trusted proxy address in the config.
    proxied = requests.get(f"{internal_server}/collections", headers={"X-Remote-User": "anna"}, timeout=30)
    assert proxied.status_code == 200
    assert "unsafe-places-internal" in collection_ids(internal_server, {"X-Remote-User": "anna"})
    for path in TRAVERSALS[:8]:
        status, _, body = raw_request(internal_server, "GET", path.format(c="unsafe-places-internal"), {"X-Api-Key": KEY})
        assert status in (400, 404) and b"root:x:" not in body


def test_internal_server_refuses_smuggled_proxy_headers(internal_server: str) -> None:
    """WSGI folds `X_Remote_User` into the same variable as `X-Remote-User`: a proxy that
    strips only the hyphenated header would let a client choose its user. The internal
    server refuses any header with an underscore in its name (as nginx drops them)."""
    for headers in ({"X_Remote_User": "mallory"}, {"X-Api-Key": KEY, "X_Remote_User": "mallory"},
                    {"X-Remote-User": "anna", "X_Remote_User": "mallory"}):
        answer = requests.get(f"{internal_server}/collections?f=json", headers=headers, timeout=30)
        assert answer.status_code == 400, headers
        assert "x_remote_user" in answer.json()["description"]
    assert requests.get(f"{internal_server}/collections?f=json", headers={"X-Remote-User": "anna"},
                        timeout=30).status_code == 200
