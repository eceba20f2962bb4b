"""Published layers in PostGIS, switched atomically: what pygeoapi's PostgreSQL provider serves.

With the PostGIS store, a build's feature collections are also loaded into PostGIS, so
that any number of stateless server workers, on any number of machines, answer from the
same tables, and queries (bbox, CQL2 `filter`, sorting, paging) run in the database.

The atomic switch mirrors the file build's: every collection of a build is loaded into a
schema of its own (`<schema>_build_<id>`); one transaction then renames the served schema
away, renames the new one to `<schema>_published` and drops the old one. PostgreSQL's
DDL is transactional, so a request sees either the old layers or the new ones, never a
mix, and a build that fails leaves the served schema untouched.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio
import shapely

from estgeo.store.postgis import PostgisStore, _q, split_url

#: The collections' geometries are stored as pygeoapi serves them: CRS84 lon/lat.
SRID = 4326
GEOMETRY_COLUMN = "geometry"


def published_schema(store: PostgisStore | str) -> str:
    """The schema pygeoapi serves from (the store's schema, or its name, + `_published`)."""
    return f"{store if isinstance(store, str) else store.schema}_published"


def staging_prefix(store: PostgisStore | str) -> str:
    """The start of the name of every schema a build loads into before the switch."""
    return f"{store if isinstance(store, str) else store.schema}_build_"


def table_name(collection_id: str) -> str:
    """A collection's table: its id with '-' as '_' (no quoting needed in any client)."""
    return re.sub(r"[^a-z0-9_]", "_", collection_id.lower())


def connection_data(store_url: str) -> dict[str, Any]:
    """The `data` block of pygeoapi's PostgreSQL provider for the published schema."""
    url, schema = split_url(store_url)
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 5432,
        "dbname": unquote(parts.path.lstrip("/")) or "postgres",
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "search_path": [published_schema(schema), "public"],
    }


def published_tables(store_url: str) -> dict[str, int]:
    """The tables of the published schema with their planner's row estimate (from the
    ANALYZE of the load: no scan); empty when nothing is published in PostGIS yet."""
    import psycopg

    url, schema = split_url(store_url)
    with psycopg.connect(url) as con:
        rows = con.execute("SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_class c "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                           (published_schema(schema),)).fetchall()
    return {name: int(estimate) for name, estimate in rows}


def publish_build(store: PostgisStore, folder: Path, collections: list[str], build_id: str) -> None:
    """Load the feature collections of a finished build folder into PostGIS and switch to them."""
    target = published_schema(store)
    staging = f"{staging_prefix(store)}{re.sub(r'[^0-9a-z]', '_', build_id.lower())}"[:63]
    with store._connect() as con:
        # A killed build leaves its staging schema; builds of one workspace run one at a
        # time (estgeo.build.run holds the build lock), so any found now is such a leftover.
        for (leftover,) in con.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
                                       (staging_prefix(store),)).fetchall():
            con.execute(f"DROP SCHEMA {_q(leftover)} CASCADE")
        con.execute(f"CREATE SCHEMA {_q(staging)}")
        con.commit()
    try:
        for collection_id in collections:
            path = folder / f"{collection_id}.gpkg"
            if path.exists():
                with store._connect() as con:
                    load_collection(con, staging, table_name(collection_id), path, collection_id)
                    if (folder / "tiles" / collection_id).is_dir():
                        load_tile_features(con, staging, table_name(collection_id))
        with store._connect() as con:
            old = f"{store.schema}_retired"
            con.execute(f"DROP SCHEMA IF EXISTS {_q(old)} CASCADE")
            if con.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (target,)).fetchone():
                con.execute(f"ALTER SCHEMA {_q(target)} RENAME TO {_q(old)}")
            con.execute(f"ALTER SCHEMA {_q(staging)} RENAME TO {_q(target)}")
            con.execute(f"DROP SCHEMA IF EXISTS {_q(old)} CASCADE")
    except BaseException:
        with store._connect() as con:
            con.execute(f"DROP SCHEMA IF EXISTS {_q(staging)} CASCADE")
        raise


def tile_table(table: str) -> str:
    """The table of a collection's tile features (`postgis.tiles: database`)."""
    return f"{table}__tiles"


def load_tile_features(con, schema: str, table: str) -> None:
    """The features the collection's vector tiles show, as their own indexed table: the
    latest complete period of each period kind, as `estgeo.build.tiles.latest_periods`
    picks them for the pre-generated tiles (a kind with no complete period keeps its
    latest one); the whole collection when it has no periods."""
    source, target = f"{_q(schema)}.{_q(table)}", f"{_q(schema)}.{_q(tile_table(table))}"
    columns = {name for (name,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
        (schema, table)).fetchall()}
    if {"period_kind", "period_start"} <= columns:
        complete = "coalesce(complete, false)" if "complete" in columns else "true"
        con.execute(f"CREATE TABLE {target} AS SELECT t.* FROM {source} t JOIN ("
                    f"SELECT period_kind, coalesce(max(period_start) FILTER (WHERE {complete}), max(period_start)) AS latest "
                    f"FROM {source} GROUP BY period_kind) k "
                    "ON t.period_kind IS NOT DISTINCT FROM k.period_kind AND t.period_start = k.latest")
    else:
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM {source}")
    con.execute(f"CREATE INDEX ON {target} USING gist ({_q(GEOMETRY_COLUMN)})")
    con.execute(f"ANALYZE {target}")


def _pg_type(dtype: pa.DataType) -> str:
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype):
        return "bigint"
    if pa.types.is_floating(dtype):
        return "double precision"
    if pa.types.is_timestamp(dtype):
        return "timestamp"  # UTC, as the file provider writes it (no offset)
    if pa.types.is_date(dtype):
        return "date"
    return "text"


def load_collection(con, schema: str, table: str, path: Path, layer: str) -> None:
    """One collection file (CRS84) as a table with a primary key on `id` and a spatial
    index, through COPY: read as Arrow (integers stay integers, nulls stay null), written
    as CSV by Arrow in C, geometries as hex EWKB."""
    meta, data = pyogrio.read_arrow(path, layer=layer)
    geometry_name = meta.get("geometry_name") or "wkb_geometry"
    wkb = data.column(geometry_name).to_numpy(zero_copy_only=False)
    attributes = data.drop_columns([geometry_name])
    if "id" not in attributes.column_names:
        # As the file provider numbers such features (estgeo.publish.layer_cache).
        attributes = attributes.add_column(0, "id", pa.array([str(i) for i in range(1, len(attributes) + 1)]))
    columns = {field.name: _pg_type(field.type) for field in attributes.schema}
    definition = ", ".join(f"{_q(name)} {sql}" for name, sql in columns.items())
    name = f"{_q(schema)}.{_q(table)}"
    con.execute(f"CREATE TABLE {name} ({definition}, {_q(GEOMETRY_COLUMN)} geometry(Geometry, {SRID}))")
    geometry = shapely.to_wkb(shapely.set_srid(shapely.from_wkb(wkb), SRID), hex=True, include_srid=True)
    buffer = io.BytesIO()
    pacsv.write_csv(attributes.append_column(GEOMETRY_COLUMN, pa.array(geometry, type=pa.string())), buffer,
                    pacsv.WriteOptions(include_header=False))
    names = ", ".join(_q(c) for c in [*columns, GEOMETRY_COLUMN])
    with con.cursor().copy(f"COPY {name} ({names}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())
    con.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
    con.execute(f"CREATE INDEX ON {name} USING gist ({_q(GEOMETRY_COLUMN)})")
    con.execute(f"ANALYZE {name}")
