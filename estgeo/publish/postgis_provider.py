"""pygeoapi's PostgreSQL provider, with the user's mistakes answered as 400, not 500.

The provider does the real work (bbox, CQL2 `filter`, sorting and paging in SQL). What it
lacks is the distinction between a broken server and a wrong request: an unknown property
in `sortby`, `properties` or `filter`, or a filter comparing a number with text, reach it
as a Python or database error and become a 500. Here they are a
`ProviderInvalidQueryError` (400) that names what is wrong; a database that cannot be
reached stays a server error.

One PostgreSQL driver: pygeoapi's provider asks SQLAlchemy for `postgresql+psycopg2`;
this one asks for `postgresql+psycopg` (psycopg 3, SQLAlchemy ≥ 2.0), the driver the store
(`estgeo.store.postgis`) and the build's publish step use, so the project installs one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from psycopg.errors import QueryCanceled
from pygeoapi.provider.base import ProviderConnectionError, ProviderInvalidQueryError
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.mvt_postgresql import MVTPostgreSQLProvider
from pygeoapi.provider.sql import GenericSQLProvider, PostgreSQLProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError
from pygeofilter import ast
from sqlalchemy import String, and_, cast, literal, text
from sqlalchemy.exc import ArgumentError, DataError, OperationalError, ProgrammingError, StatementError

from estgeo.build.tiles import BUFFER, EXTENT
from estgeo.publish.budget import OverBudget
from estgeo.publish.enums import with_enums
from estgeo.publish.field_titles import with_titles

#: SQLAlchemy's name for psycopg 3, and the connection parameters pygeoapi sets for psycopg2.
DRIVER = "postgresql+psycopg"
CONNECTION_PARAMETERS = {"client_encoding": "utf8", "application_name": "estgeo"}


class PostgisProvider(PostgreSQLProvider):
    """OGC API Features over one published PostGIS table (see estgeo.build.postgis_layers)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        self.enums: dict[str, list[Any]] = dict(provider_def.get("enums") or {})
        self.fields_config: str | None = provider_def.get("fields_config")
        # PostgreSQLProvider.__init__ would pin psycopg2; its SQL (bbox, CQL2) is kept.
        GenericSQLProvider.__init__(self, provider_def, DRIVER, CONNECTION_PARAMETERS)
        # pygeoapi's schema reads `fields` (the cached columns), not get_fields(): cache
        # them with the declared sets and titles, so /schema has them as the store's provider.
        self._fields = self.get_fields()

    def get_fields(self) -> dict[str, dict[str, Any]]:
        """The table's fields, with the declared sets of values (`estgeo.publish.enums`)."""
        return with_titles(with_enums(super().get_fields(), getattr(self, "enums", {})), getattr(self, "fields_config", None))

    def _get_property_filters(self, properties: Any) -> Any:
        """`?complete=true&resolution=9` as SQL. A query value is text; pygeoapi compares it
        with the column as it is, which psycopg2 (binding on the client) let PostgreSQL
        coerce, but psycopg 3 sends typed parameters and PostgreSQL has no `boolean =
        character varying` (every such request was a 400). The text is cast to the
        column's type in SQL, so PostgreSQL parses it as before, and a value that is not
        of the type ("resolution=x") is a DataError, answered as a 400 that says so."""
        if not properties:
            return True
        columns = [getattr(self.table_model, name) for name, _ in properties]
        return and_(*(column == cast(literal(str(value), String()), column.type)
                      for column, (_, value) in zip(columns, properties, strict=True)))

    def query(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        filterq = kwargs.get("filterq")
        if isinstance(filterq, str | int | float | bytes | list | dict) and not isinstance(filterq, bool):
            # A filter that parsed to a bare value ("AAA", 3) is no condition at all.
            raise ProviderInvalidQueryError(user_msg=f"filter: {kwargs['filterq']!r} is not a condition")
        known = set(self.fields) | {self.id_field}
        for name in [s["property"] for s in kwargs.get("sortby") or []] + [p for p, _ in kwargs.get("properties") or []]:
            if name not in known:
                raise ProviderInvalidQueryError(user_msg=f"unknown property '{name}' (known: {', '.join(sorted(known))})")
        if isinstance(filterq, ast.Node):
            kwargs["filterq"] = self._typed_literals(filterq)
        try:
            return super().query(*args, **kwargs)
        except (KeyError, AttributeError) as exc:
            raise ProviderInvalidQueryError(user_msg=f"filter: unknown property {exc}") from exc
        except OperationalError as exc:
            if isinstance(getattr(exc, "orig", None), QueryCanceled):  # statement_timeout: the time budget
                raise OverBudget(user_msg="the query took longer than the time a request may use "
                                          "(server.limits.time_budget_s); narrow it (bbox, datetime, fewer terms)") from exc
            raise
        except (ArgumentError, DataError, ProgrammingError, StatementError, ValueError, TypeError) as exc:
            message = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise ProviderInvalidQueryError(user_msg=f"the query cannot be answered: {message}") from exc


    def _typed_literals(self, node: Any) -> Any:
        """A CQL2 text literal compared with a typed column (`period_start = '2024-11-18'`,
        `complete = 'true'`) becomes a value of the column's type, as the embedded store
        reads it and as PostgreSQL did under psycopg2; psycopg 3 would send it as text and
        PostgreSQL has no `timestamp = character varying`. A literal that is not of the
        type is refused with a 400 that names the property."""
        if isinstance(node, list):
            return [self._typed_literals(n) for n in node]
        if not isinstance(node, ast.Node) or not dataclasses.is_dataclass(node) or isinstance(node, type):
            return node
        changes = {f.name: self._typed_literals(getattr(node, f.name)) for f in dataclasses.fields(node) if f.init}
        node = dataclasses.replace(node, **changes)  # type: ignore[type-var]
        lhs = getattr(node, "lhs", None)
        if not isinstance(lhs, ast.Attribute):
            return node
        if isinstance(node, ast.Comparison):
            return dataclasses.replace(node, rhs=self._typed(lhs.name, node.rhs))
        if isinstance(node, ast.Between):
            return dataclasses.replace(node, low=self._typed(lhs.name, node.low), high=self._typed(lhs.name, node.high))
        if isinstance(node, ast.In):
            return dataclasses.replace(node, sub_nodes=[self._typed(lhs.name, v) for v in node.sub_nodes])
        return node

    def _typed(self, name: str, value: Any) -> Any:
        column = getattr(self.table_model, name, None)
        if not isinstance(value, str) or column is None:
            return value
        try:
            kind = column.type.python_type
        except NotImplementedError:  # geometry
            return value
        try:
            if kind is bool:
                truth = {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False, "0": False, "no": False}
                return truth[value.strip().lower()]
            if kind is dt.datetime:
                return dt.datetime.fromisoformat(value)
            if kind is dt.date:
                return dt.date.fromisoformat(value)
            if kind in (int, float):
                return kind(value)
        except (KeyError, ValueError) as exc:
            raise ProviderInvalidQueryError(user_msg=f"filter: {name} is {kind.__name__}, '{value}' is not one") from exc
        return value


class PostgisTileProvider(MVTPostgreSQLProvider):
    """Vector tiles cut per request in PostGIS by ST_AsMVT (config/estgeo.yml
    `postgis.tiles: database`), from the same features as the pre-generated tiles.

    pygeoapi's MVT-postgresql provider reads one table for every zoom; the pre-generated
    tiles take, per zoom, the H3 resolution whose hexagons are legible there, and only
    the latest period (`estgeo.build.tiles`). So the tile query here picks the table of
    the zoom (`sources`, the `__tiles` tables of `postgis_layers.load_tile_features`)
    and is otherwise the provider's own: ST_TileEnvelope, ST_AsMVTGeom, ST_AsMVT, with
    the layer named after the collection. The tile options (zoom, schemes) are kept out
    of the connection options, where pygeoapi 0.24 hands them to its cached engine
    factory (a list there is unhashable)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        # As pygeoapi's own MVT provider does, with the one driver (see PostgisProvider).
        GenericSQLProvider.__init__(self, {k: v for k, v in provider_def.items() if k != "options"}, DRIVER, CONNECTION_PARAMETERS)
        BaseMVTProvider.__init__(self, provider_def)
        self.layer_name = provider_def.get("layer") or self.table
        self.sources = {int(z): table for z, table in (provider_def.get("sources") or {}).items()}
        self._queries: dict[str, Any] = {}

    def get_layer(self) -> str:
        return self.layer_name

    def get_tiles(self, layer: str = "default", tileset: str | None = None, z: Any = None, y: Any = None,
                  x: Any = None, format_: str | None = None) -> bytes | None:
        z, y, x = int(z), int(y), int(x)
        schemes = [s for s in self.get_tiling_schemes() if s.tileMatrixSet == tileset]
        if not schemes or not self.is_in_limits(schemes[0], z, x, y) or z not in self.sources:
            raise ProviderTileNotFoundError
        with self._engine.connect() as con:
            data = con.execute(self._query(con, self.sources[z]), {"z": z, "x": x, "y": y, "layer": self.layer_name}).scalar()
        return bytes(data) or None

    def _query(self, con: Any, table: str) -> Any:
        """The tile query of one table, made once: features within the tile and its
        buffer (points only in their own tile), times written as the pre-generated tiles
        write them (ISO, a date without its midnight)."""
        if table not in self._queries:
            qualified = f'"{self.db_search_path[0]}"."{table}"'  # the published schema
            found = con.execute(text(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass(:t) "
                "AND attnum > 0 AND NOT attisdropped AND attname <> :g ORDER BY attnum"), {"t": qualified, "g": self.geom})
            columns = [(f"regexp_replace(to_char(t.\"{n}\", 'YYYY-MM-DD\"T\"HH24:MI:SS'), 'T00:00:00$', '') AS \"{n}\""
                        if kind.startswith(("timestamp", "date")) else f't."{n}"') for n, kind in found]
            if not columns:
                raise ProviderConnectionError(f"the published tile table {table} is missing or has no columns")
            geom = f't."{self.geom}"'
            self._queries[table] = text(
                f"WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS tile, "
                f"ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}) AS padded), rows AS ("
                f"SELECT ST_AsMVTGeom(ST_Transform({geom}, 3857), bounds.tile, {EXTENT}, {BUFFER}) AS mvtgeom, "
                f"{', '.join(columns)} FROM {qualified} t, bounds "
                f"WHERE {geom} && ST_Transform(bounds.padded, 4326) "
                f"AND (GeometryType({geom}) <> 'POINT' OR {geom} && ST_Transform(bounds.tile, 4326))) "
                f"SELECT ST_AsMVT(rows, :layer, {EXTENT}, 'mvtgeom') FROM rows")
        return self._queries[table]
