"""The time budget of the request being served (`estgeo.publish.limits` sets it).

Python cannot stop a thread from outside, so the work stops itself: the places where a
request's cost grows with what it asks — each node of a CQL2 filter, each `q` term,
each page of features written out, each SQL statement (PostGIS `statement_timeout`) —
call `check()`, which raises `OverBudget` (a 503 with an OGC exception) once the
request has used its time. Outside a request (builds, tests of a provider on its own)
there is no deadline and `check()` costs one attribute lookup.

The deadline is per thread: granian runs a WSGI request, body included, on one of its
blocking threads.
"""

from __future__ import annotations

import threading
import time
from http import HTTPStatus

from pygeoapi.provider.base import ProviderGenericError

_local = threading.local()


class OverBudget(ProviderGenericError):
    """The request used its time budget (server.limits.time_budget_s)."""

    ogc_exception_code = "ServerBusy"
    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE
    default_msg = "the request took too long"


def begin(seconds: float) -> float:
    """Start the budget of the request on this thread; returns the deadline."""
    _local.deadline = time.monotonic() + seconds
    _local.seconds = seconds
    return _local.deadline


def end(_deadline: float | None = None) -> None:
    _local.deadline = None


def extend(seconds: float) -> None:
    """Give the current request `seconds` more: for work that is not its own doing (a
    worker reading a layer file into its cache, which every later request shares)."""
    deadline = getattr(_local, "deadline", None)
    if deadline is not None:
        _local.deadline = deadline + seconds


def remaining() -> float | None:
    """Seconds left for the current request, None outside one."""
    deadline = getattr(_local, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def check(what: str = "the request") -> None:
    """Raise `OverBudget` when the current request has used its time."""
    deadline = getattr(_local, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise OverBudget(user_msg=f"{what} took longer than the {getattr(_local, 'seconds', 0):g} s a request may use "
                                  "(server.limits.time_budget_s); narrow the query (bbox, datetime, fewer terms)")
