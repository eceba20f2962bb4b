"""pygeoapi's PostgreSQL provider, with the user's mistakes answered as 400, not 500.

The provider does the real work (bbox, CQL2 `filter`, sorting and paging in SQL). What it
lacks is the distinction between a broken server and a wrong request: an unknown property
in `sortby`, `properties` or `filter`, or a filter comparing a number with text, reach it
as a Python or database error and become a 500. Here they are a
`ProviderInvalidQueryError` (400) that names what is wrong; a database that cannot be
reached stays a server error.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import ProviderInvalidQueryError
from pygeoapi.provider.sql import PostgreSQLProvider
from sqlalchemy.exc import ArgumentError, DataError, ProgrammingError, StatementError


class PostgisProvider(PostgreSQLProvider):
    """OGC API Features over one published PostGIS table (see estgeo.publish.postgis_layers)."""

    def query(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        filterq = kwargs.get("filterq")
        if isinstance(filterq, str | int | float | bytes | list | dict) and not isinstance(filterq, bool):
            # A filter that parsed to a bare value ("AAA", 3) is no condition at all.
            raise ProviderInvalidQueryError(user_msg=f"filter: {kwargs['filterq']!r} is not a condition")
        known = set(self.fields) | {self.id_field}
        for name in [s["property"] for s in kwargs.get("sortby") or []] + [p for p, _ in kwargs.get("properties") or []]:
            if name not in known:
                raise ProviderInvalidQueryError(user_msg=f"unknown property '{name}' (known: {', '.join(sorted(known))})")
        try:
            return super().query(*args, **kwargs)
        except (KeyError, AttributeError) as exc:
            raise ProviderInvalidQueryError(user_msg=f"filter: unknown property {exc}") from exc
        except (ArgumentError, DataError, ProgrammingError, StatementError, ValueError, TypeError) as exc:
            message = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise ProviderInvalidQueryError(user_msg=f"the query cannot be answered: {message}") from exc
