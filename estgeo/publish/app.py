"""The app factory: `build_app(settings, profile)` is the one place the served application
is put together — pygeoapi's Flask app, estgeo's routes, and the middleware, listed once.

pygeoapi builds its Flask app when `pygeoapi.flask_app` is imported, from the files named
by `PYGEOAPI_CONFIG` and `PYGEOAPI_OPENAPI`. The factory sets both from the settings
before that import (and re-imports the module when an app was built before in the same
process: a test building a second workspace), so nothing depends on the import order of
other modules, and a worker needs no more than the variables the CLI reads
(`ESTGEO_HOME`, `ESTGEO_CONFIG`, `ESTGEO_LAYERS`) and `ESTGEO_PROFILE`
(`app_from_environment`, used by `estgeo.publish.wsgi` and `estgeo.publish.asgi`).

The app carries what its request handlers need in `app.config`: `ESTGEO_SETTINGS`,
`ESTGEO_PROFILE` and `ESTGEO_PYGEOAPI` (pygeoapi's configuration as it loaded it); read
them through `estgeo.publish.http`. Patches to pygeoapi's modules are all in
`estgeo.publish.compat`; CORS is answered by the access middleware alone (pygeoapi's
flask-cors is off in the generated configuration).

The middleware, innermost first (`MIDDLEWARE`): CRS shorthands → coverage domain sets (and their
`layerDataType`) →
client errors as 400 → GeoJSON feature schemas → tiles from their files → errors explained → limits → access. Access is outermost so a
refused or unauthenticated request costs nothing; limits sit inside it so that only
requests that may run are counted and admitted.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from estgeo.config import Settings, load_settings
from estgeo.errors import EstgeoError
from estgeo.publish import compat

WSGIApp = Callable[..., Iterable[bytes]]
PROFILES = ("public", "internal")


class AppConfigError(EstgeoError):
    """The app cannot be built: an unknown profile or pygeoapi files not written."""


def _pygeoapi_module(config_path: Path, openapi_path: Path) -> Any:
    os.environ["PYGEOAPI_CONFIG"] = str(config_path)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi_path)
    if "pygeoapi.flask_app" in sys.modules:
        return importlib.reload(sys.modules["pygeoapi.flask_app"])
    return importlib.import_module("pygeoapi.flask_app")


def _crs_shorthands(app: WSGIApp, ctx: dict[str, Any]) -> WSGIApp:
    from estgeo.publish.crs import normalise_crs_parameters

    return normalise_crs_parameters(app)


def _domain_sets(app: WSGIApp, ctx: dict[str, Any]) -> WSGIApp:
    from estgeo.publish.coverage_provider import coverage_files, mark_coverage_collections, serve_domain_sets

    files = coverage_files(ctx["pygeoapi"])
    return mark_coverage_collections(serve_domain_sets(app, files), files)


def _client_errors(app: WSGIApp, ctx: dict[str, Any]) -> WSGIApp:
    from estgeo.publish.guards import client_errors_are_400

    return client_errors_are_400(app)


def _feature_schemas(app: WSGIApp, ctx: dict[str, Any]) -> WSGIApp:
    from estgeo.publish.feature_schema import serve_feature_schemas

    return serve_feature_schemas(app)


def _tile_files(app: WSGIApp, ctx: dict[str, Any]) -> WSGIApp:
    from estgeo.publish.tile_provider import tile_fast_path, tiled_collections

    return tile_fast_path(app, tiled_collections(ctx["pygeoapi"]))


def _explained_errors(app: WSGIApp, ctx: dict[str, Any]) -> WSGIApp:
    from estgeo.publish.explain import explain_errors

    config = ctx["pygeoapi"]
    resources = config.get("resources", {})
    collections = [name for name, r in resources.items() if r.get("type") == "collection"]
    enums = {name: p["enums"] for name, r in resources.items() for p in r.get("providers", []) if p.get("enums")}
    return explain_errors(app, collections, list(config.get("server", {}).get("languages", ["sv"])), enums)


def _limits(app: WSGIApp, ctx: dict[str, Any]) -> WSGIApp:
    from estgeo.publish.limits import RequestLimits, limits_middleware
    from estgeo.publish.pygeoapi_config import pygeoapi_dir

    settings, profile = ctx["settings"], ctx["profile"]
    return limits_middleware(app, RequestLimits.from_settings(settings), pygeoapi_dir(settings, profile) / "slots",
                             ctx["policy"].trusted_proxies, rate_limited=profile == "public")


def _access(app: WSGIApp, ctx: dict[str, Any]) -> WSGIApp:
    from estgeo.publish.access import access_middleware

    return access_middleware(app, ctx["policy"])


#: (name, wrapper), innermost first; each wraps the app built so far.
MIDDLEWARE: tuple[tuple[str, Callable[[WSGIApp, dict[str, Any]], WSGIApp]], ...] = (
    ("crs-shorthands", _crs_shorthands),
    ("coverage-domain-sets", _domain_sets),
    ("client-errors-400", _client_errors),
    ("feature-schemas", _feature_schemas),
    ("tiles-from-files", _tile_files),
    ("explained-errors", _explained_errors),
    ("limits", _limits),
    ("access", _access),
)


def build_app(settings: Settings, profile: str = "public", *, write: bool = False, url: str | None = None) -> Any:
    """The Flask app serving `profile` of the workspace in `settings`.

    The pygeoapi files are the ones `estgeo serve` wrote (`<workspace>/pygeoapi*/`);
    `write=True` writes them first (with `url` as the public base URL), for a caller that
    serves in-process (tests, an embedding WSGI server)."""
    from estgeo.publish.access import MAX_BODY_BYTES, policy_for
    from estgeo.publish.pygeoapi_config import pygeoapi_dir, write_pygeoapi_files

    if profile not in PROFILES:
        raise AppConfigError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    policy = policy_for(settings, profile)
    if write:
        config_path, openapi_path = write_pygeoapi_files(settings, url=url, profile=profile)
    else:
        folder = pygeoapi_dir(settings, profile)
        config_path, openapi_path = folder / "pygeoapi-config.yml", folder / "openapi.yml"
        if not config_path.exists() or not openapi_path.exists():
            raise AppConfigError(f"{folder}: no pygeoapi files for the {profile} profile; `estgeo serve` writes them")
    compat.apply(profile)
    module = _pygeoapi_module(config_path, openapi_path)
    app = module.APP
    app.config.update(ESTGEO_SETTINGS=settings, ESTGEO_PROFILE=profile, ESTGEO_PYGEOAPI=module.CONFIG,
                      MAX_CONTENT_LENGTH=MAX_BODY_BYTES)

    from estgeo.publish.embed import register as register_embed

    register_embed(app)  # /embed and its assets, the iframe line on the landing page
    if profile == "internal":
        from estgeo.publish.transactions import patch_view

        api = module.api_
        # OGC API Features Part 4 "update" (PATCH); pygeoapi 0.24 routes only PUT and DELETE.
        app.add_url_rule("/collections/<path:collection_id>/items/<path:item_id>", "estgeo_patch_item",
                         lambda collection_id, item_id: patch_view(api, collection_id, item_id), methods=["PATCH"])
    ctx = {"settings": settings, "profile": profile, "policy": policy, "pygeoapi": module.CONFIG}
    wsgi = app.wsgi_app
    for _name, wrap in MIDDLEWARE:
        wsgi = wrap(wsgi, ctx)
    app.wsgi_app = wsgi
    return app


def profile_from_env() -> str:
    return os.environ.get("ESTGEO_PROFILE", "public")


def app_from_environment() -> Any:
    """The app of a server worker: settings as the CLI reads them, the profile `estgeo
    serve` set in ESTGEO_PROFILE."""
    return build_app(load_settings(), profile_from_env())


def server_threads(app: Any) -> int:
    """Requests a worker runs at once (`server.threads`)."""
    return int(app.config["ESTGEO_SETTINGS"].server.get("threads", 4))
