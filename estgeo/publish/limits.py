"""Bounded work per request: what one anonymous client may ask of the server.

The public profile is on a municipality's web site, where anyone can send anything.
Measured before these limits (demo, 2 granian workers): `q=` with 21,000 terms took
125.8 s of server time, a CQL2-JSON `IN` with 60,000 values 48.8 s, `f=html&limit=10000`
28.9 s, and eight such requests at once made a cheap `/collections` take 90.5 s. So
every request passes, in this order (WSGI middleware, `limits_middleware`):

1. **Size.** URL (path and query) at most `max_url_bytes` (414), a query body at most
   `max_query_body_bytes` (413), `q` at most `max_q_terms` terms of at most
   `max_term_chars` characters, a CQL2 filter (text or JSON) at most `max_filter_nodes`
   nodes, `max_filter_depth` levels and `max_in_values` values in one IN list, and an
   HTML page of items at most `max_html_items` features (400). The filter is parsed
   here with pygeofilter (the parser pygeoapi uses; after the size caps it costs
   milliseconds), so the same limits hold for the embedded store and PostGIS.
2. **Rate.** A token bucket per client (`rate_per_s`, `burst`; an expensive request
   costs `expensive_cost` tokens): 429 with Retry-After. The client is the peer address,
   or the nearest untrusted address of X-Forwarded-For when the peer is one of
   `trusted_proxies` (a request from a trusted address without X-Forwarded-For is the
   proxy's own host and is not limited). Buckets live in each worker process, so with W
   workers a client gets at most W times the rate — the bound that matters is per
   request anyway. The internal profile (every request authenticated) is not limited.
3. **Admission.** An *expensive* request (a filter, q, sortby, an HTML items page, a
   page larger than `cheap_items`, a coverage, a process run) needs one of
   `expensive_slots` slots shared by all workers of the server (lock files, so the
   bound holds across granian's processes); it waits at most `expensive_wait_s` for one,
   then gets a 503 with Retry-After. Cheap requests never wait for a slot, so they keep
   their threads and their latency while expensive ones run.
4. **Time.** Each request gets a deadline (`time_budget_s`) that the work checks where
   it happens (`estgeo.publish.budget`): the embedded provider between filter nodes, q
   terms and pages of features; PostGIS through `statement_timeout`. Over it: 503.

Every refusal is an OGC exception document that names the limit and its value.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from estgeo.config import ConfigError, Settings
from estgeo.publish import budget
from estgeo.publish.http import ogc_error, send

WSGIApp = Callable[..., Iterable[bytes]]


class LimitsConfigError(ConfigError):
    """config/estgeo.yml `server.limits` is wrong."""


@dataclass(frozen=True)
class RequestLimits:
    """The limits of one server (config/estgeo.yml `server.limits`; these are the defaults)."""

    #: Path plus query string, in bytes (nginx's default large_client_header_buffers is 8 kB).
    max_url_bytes: int = 8192
    #: A POST query's CQL2-JSON body (a filter a person writes is well under 10 kB).
    max_query_body_bytes: int = 65536
    max_q_terms: int = 16
    max_term_chars: int = 64
    max_filter_nodes: int = 256
    max_filter_depth: int = 24
    max_in_values: int = 500
    #: Features on one HTML page (pygeoapi renders each in Jinja: 2,000 took 2.2 s).
    max_html_items: int = 200
    #: A JSON page of at most this many items without a filter is cheap (0.5 s for 10,000).
    cheap_items: int = 1000
    #: A coverage subset of at most this many square degrees (about 1.1 × 0.56 km) is cheap.
    cheap_coverage_deg2: float = 0.0001
    #: Server time one request may take before it is stopped with a 503.
    time_budget_s: float = 0.8
    #: Expensive requests running at once across all workers, and how long one waits.
    expensive_slots: int = 1
    expensive_wait_s: float = 0.1
    #: Per client: tokens refilled per second, bucket size, tokens an expensive request costs.
    rate_per_s: float = 50.0
    burst: float = 200.0
    expensive_cost: float = 50.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        given = dict(settings.server.get("limits") or {})
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise LimitsConfigError(f"config/estgeo.yml server.limits: unknown setting(s) {', '.join(unknown)} "
                                    f"(known: {', '.join(known)})")
        values: dict[str, Any] = {}
        for name, value in given.items():
            kind = float if known[name] == "float" else int
            try:
                number = kind(value)
            except (TypeError, ValueError) as exc:
                raise LimitsConfigError(f"config/estgeo.yml server.limits.{name}: {value!r} is not a number") from exc
            if number <= 0:
                raise LimitsConfigError(f"config/estgeo.yml server.limits.{name} must be greater than 0")
            values[name] = number
        return cls(**values)


class Refusal(Exception):
    """A request over a limit: the HTTP status, OGC code and message."""

    def __init__(self, status: str, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def _too_large(message: str) -> Refusal:
    return Refusal("413 Content Too Large", "RequestTooLarge", message)


def _invalid(message: str) -> Refusal:
    return Refusal("400 Bad Request", "InvalidParameterValue", message)


# What a request asks for ----------------------------------------------------------
def _items_path(path: str) -> bool:
    parts = path.strip("/").split("/")
    return len(parts) == 3 and parts[0] == "collections" and parts[2] == "items"


def is_expensive(environ: dict[str, Any], params: dict[str, list[str]], limits: RequestLimits) -> bool:
    """Whether a request does work that grows with what it asks (see the module docstring)."""
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if "/processes/" in path and path.rstrip("/").endswith("/execution"):
        return True
    if path.rstrip("/").endswith("/coverage"):
        return _area(params) > limits.cheap_coverage_deg2  # a small subset is what a map asks for
    if not _items_path(path):
        return False
    if (method == "POST" and not environ.get("CONTENT_TYPE", "").startswith("application/geo+json")) \
            or any(params.get(name) for name in ("filter", "q", "sortby")):
        return True
    if _wants_html(environ, params):
        return True
    return _limit(params) > limits.cheap_items


def _area(params: dict[str, list[str]]) -> float:
    """Square degrees of the request's bbox (CRS84 or SWEREF 99 TM metres scaled), inf without one."""
    raw = (params.get("bbox") or [""])[-1]
    try:
        x0, y0, x1, y1 = (float(v) for v in raw.split(",")[:4])
    except ValueError:
        return math.inf
    area = abs(x1 - x0) * abs(y1 - y0)
    return area / 6.2e9 if area > 1000 else area  # metres² → about degrees² at 60° N


def _wants_html(environ: dict[str, Any], params: dict[str, list[str]]) -> bool:
    fmt = (params.get("f") or [""])[-1].lower()
    if fmt:
        return fmt == "html"
    accept = environ.get("HTTP_ACCEPT", "")
    return "text/html" in accept and "json" not in accept.split("text/html")[0]


def _limit(params: dict[str, list[str]]) -> int:
    raw = (params.get("limit") or ["10"])[-1]
    return int(raw) if raw.isdigit() else 0


# Size checks ----------------------------------------------------------------------
def check_size(environ: dict[str, Any], params: dict[str, list[str]], limits: RequestLimits) -> None:
    """Refuse a request bigger than the limits allow (raises `Refusal`)."""
    url_bytes = len(environ.get("PATH_INFO", "").encode("utf-8", "surrogateescape")) + len(environ.get("QUERY_STRING", ""))
    if url_bytes > limits.max_url_bytes:
        raise Refusal("414 URI Too Long", "RequestTooLarge",
                      f"the URL is {url_bytes} bytes; at most {limits.max_url_bytes} (server.limits.max_url_bytes) — "
                      "send a long filter as CQL2-JSON in a POST to /items")
    for q in params.get("q", []):
        terms = [t for t in q.replace(",", " ").split() if t]
        if len(terms) > limits.max_q_terms:
            raise _invalid(f"q: {len(terms)} search terms; at most {limits.max_q_terms} (server.limits.max_q_terms)")
        long = next((t for t in terms if len(t) > limits.max_term_chars), None)
        if long is not None:
            raise _invalid(f"q: a search term of {len(long)} characters; at most {limits.max_term_chars}")
    if _items_path(environ.get("PATH_INFO", "")) and _wants_html(environ, params) and _limit(params) > limits.max_html_items:
        raise _invalid(f"limit: an HTML page shows at most {limits.max_html_items} features "
                       f"(server.limits.max_html_items); ask for f=json for larger pages")
    text = (params.get("filter") or [""])[-1]
    if text:
        lang = (params.get("filter-lang") or ["cql2-text"])[-1]
        check_filter(text, "cql2-json" if lang == "cql2-json" else "cql2-text", limits)


def check_filter(document: str | bytes, language: str, limits: RequestLimits) -> None:
    """Refuse a CQL2 filter with too many nodes, levels or IN values.

    A filter that does not parse passes: pygeoapi parses it again and says what is wrong
    with it, in its own words."""
    from pygeofilter import ast
    from pygeofilter.parsers.cql2_json import parse as parse_json
    from pygeofilter.parsers.cql2_text import parse as parse_text

    try:
        if language == "cql2-json":
            data = json.loads(document)
            if isinstance(data, dict) and "filter" in data and "op" not in data:
                data = data["filter"]
            node = parse_json(data)
        else:
            node = parse_text(document if isinstance(document, str) else document.decode("utf-8"))
    except RecursionError as exc:
        raise _invalid(f"filter: nested too deeply; at most {limits.max_filter_depth} levels") from exc
    except Exception:  # noqa: BLE001 — not our limit to report: pygeoapi reports its parse error
        return
    count = 0
    stack: list[tuple[Any, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        count += 1
        if depth > limits.max_filter_depth:
            raise _invalid(f"filter: nested more than {limits.max_filter_depth} levels deep (server.limits.max_filter_depth)")
        if count > limits.max_filter_nodes:
            raise _invalid(f"filter: more than {limits.max_filter_nodes} terms (server.limits.max_filter_nodes)")
        if isinstance(current, ast.In) and len(current.sub_nodes) > limits.max_in_values:
            raise _invalid(f"filter: an IN list of {len(current.sub_nodes)} values; at most {limits.max_in_values} "
                           "(server.limits.max_in_values)")
        if isinstance(current, ast.Node) and not isinstance(current, ast.In):
            # A chain of ORs (or ANDs) is one level however long: `a OR b OR c` parses
            # to a left-deep tree, and its length is bounded by the node count.
            stack.extend((sub, depth if isinstance(current, ast.Combination) and type(sub) is type(current) else depth + 1)
                         for sub in current.get_sub_nodes())
        elif isinstance(current, list | tuple):
            stack.extend((sub, depth + 1) for sub in current)


def read_query_body(environ: dict[str, Any], limits: RequestLimits) -> None:
    """Read a POST query's body (bounded), check its filter, and put it back."""
    length_text = environ.get("CONTENT_LENGTH") or "0"
    length = int(length_text) if length_text.isdigit() else 0
    if length > limits.max_query_body_bytes:
        raise _too_large(f"a query body of {length} bytes; at most {limits.max_query_body_bytes} "
                         "(server.limits.max_query_body_bytes)")
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    if body and "json" in environ.get("CONTENT_TYPE", ""):
        check_filter(body, "cql2-json", limits)


# Rate -----------------------------------------------------------------------------
class RateLimiter:
    """Token buckets per client, in this process (see the module docstring)."""

    #: Clients remembered at most; the fullest buckets are forgotten first.
    MAX_CLIENTS = 50_000

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate, self.burst = rate_per_s, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, cost: float, now: float | None = None) -> float:
        """0.0 when the client may go on, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[client] = (tokens, now)
                return (cost - tokens) / self.rate
            self._buckets[client] = (tokens - cost, now)
            if len(self._buckets) > self.MAX_CLIENTS:
                for key in [k for k, (t, _) in self._buckets.items() if t >= self.burst - cost][: self.MAX_CLIENTS // 10]:
                    del self._buckets[key]
            return 0.0


def client_address(environ: dict[str, Any], trusted_proxies: frozenset[str]) -> str | None:
    """The client a request is counted against: the peer address, or behind trusted
    proxies the nearest address they did not add. None for a request from a trusted
    address that names no one else (no X-Forwarded-For): the proxy's own host — health
    checks, the operator's tools, the test suite — which is not rate-limited."""
    peer = str(environ.get("REMOTE_ADDR", ""))
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop
    return None


# Admission --------------------------------------------------------------------------
class Slots:
    """`count` slots shared by every process that opens the same folder: one lock file
    per slot, held with flock for the request's lifetime (released by the kernel if
    the worker dies, so a crash never leaks a slot)."""

    def __init__(self, folder: Path, count: int) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.paths = [folder / f"slot-{i}.lock" for i in range(count)]

    def acquire(self, wait_s: float) -> int | None:
        """An open, locked file descriptor, or None when no slot freed within `wait_s`."""
        deadline = time.monotonic() + wait_s
        pause = 0.005
        while True:
            for path in self.paths:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except OSError as exc:
                    os.close(fd)
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.05)

    @staticmethod
    def release(fd: int) -> None:
        os.close(fd)  # closing the descriptor drops its flock


# Middleware ---------------------------------------------------------------------------
def _refuse(start_response: Callable[..., Any], refusal: Refusal) -> list[bytes]:
    extra = [("Retry-After", str(refusal.retry_after))] if refusal.retry_after is not None else []
    return send(start_response, ogc_error(refusal.status, refusal.code, refusal.message, extra))


def limits_middleware(app: WSGIApp, limits: RequestLimits, slots_dir: Path,
                      trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"}),
                      rate_limited: bool = True) -> WSGIApp:
    """Wrap a WSGI app with the size checks, the rate limit, admission control for
    expensive requests and the per-request time budget."""
    slots = Slots(slots_dir, limits.expensive_slots)
    rates = RateLimiter(limits.rate_per_s, limits.burst)

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True, max_num_fields=1000)
        except ValueError:
            return _refuse(start_response, _invalid("more than 1000 query parameters"))
        try:
            check_size(environ, params, limits)
            if environ.get("REQUEST_METHOD", "").upper() == "POST" and _items_path(environ.get("PATH_INFO", "")) \
                    and not environ.get("CONTENT_TYPE", "").startswith("application/geo+json"):
                read_query_body(environ, limits)  # a query (a create, geo+json, is bounded by access.MAX_BODY_BYTES)
        except Refusal as refusal:
            return _refuse(start_response, refusal)
        expensive = is_expensive(environ, params, limits)
        # The proxy's own host (health checks, the operator's tools: `estgeo qgis-project`,
        # QGIS on the server) is neither rate-limited nor queued for a slot; neither is an
        # authenticated profile (rate_limited=False). QGIS opens a project's layers in
        # parallel, and one slot answered most of them with 503.
        client = client_address(environ, trusted_proxies) if rate_limited else None
        if client is not None:
            wait = rates.take(client, limits.expensive_cost if expensive else 1.0)
            if wait:
                return _refuse(start_response, Refusal(
                    "429 Too Many Requests", "TooManyRequests",
                    f"too many requests from this address (at most {limits.rate_per_s:g} per second, "
                    f"server.limits.rate_per_s); retry in {wait:.1f} s", retry_after=math.ceil(wait)))
        fd = None
        if expensive and client is not None:
            fd = slots.acquire(limits.expensive_wait_s)
            if fd is None:
                return _refuse(start_response, Refusal(
                    "503 Service Unavailable", "ServerBusy",
                    f"the server is running {limits.expensive_slots} expensive requests (filters, searches, sorting, "
                    "HTML pages, large pages) already; retry in a second, or ask for less", retry_after=1))
        budget.begin(limits.time_budget_s)
        try:
            result = app(environ, start_response)
            if fd is None:
                return result
            # The slot is given back as soon as the answer is made, not when the server
            # closes the body: granian closes it after sending, on its own schedule, and a
            # client's next expensive request (QGIS asks several in a row) found the slot
            # still held and got a 503. Our answers are complete when the app returns.
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            budget.end()
            if fd is not None:
                slots.release(fd)

    return wrapped
