"""The WSGI application granian serves for the public profile (`estgeo serve`); the
internal profile runs the same app behind the ASGI guard of `estgeo.publish.asgi`.

Everything is put together by `estgeo.publish.app.build_app`; this module only builds it
from the environment `estgeo.publish.serve` gives its workers.
"""

from __future__ import annotations

from estgeo.publish.app import app_from_environment

APP = app_from_environment()

__all__ = ["APP"]
