"""The PostGIS store: the same records as the embedded store, in PostgreSQL/PostGIS.

For a region, a police area or the whole country, one SQLite file on one machine is too
little; PostgreSQL with PostGIS is what municipal GIS departments already run. The tables,
columns and behaviour are those of `estgeo.store.sqlite.SqliteStore` (one table per kind of record,
upserts by id, content hashes, quarantine, notes, runs, edits), so ingest, builders and
the API's edits use either without knowing which. Values are kept in PostgreSQL's own
types (timestamptz, boolean, date), and every record table has a generated
`geom geometry(Point, 3006)` with a spatial index, so a GIS user can open the raw tables
in QGIS (internally: incidents hold free text and are never public).

Bulk writes go through COPY: the records are written as CSV by Arrow, in C, copied into
a temporary table and upserted from there in one statement.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from estgeo.store.base import META, RESOLUTION_COLUMNS, RecordExists, RecordMissing, _to_arrow, typed_records

#: Column types in PostgreSQL, by field type of config/model.yml.
PG_TYPES = {
    "id": "text PRIMARY KEY",
    "text": "text",
    "code": "text",
    "codes": "text",
    "datetime": "timestamptz",
    "date": "date",
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
}
PG_META = {"x": "double precision", "y": "double precision", "_hash": "bigint", "_source": "text", "_file": "text",
           "_row": "bigint", "_ingested_at": "text"}
#: The store's encoding (as `estgeo.store._to_arrow` writes it) of each field type in the
#: staging table that COPY fills; `_from_staging` turns it into the column's own type.
STAGING_TYPES = {"datetime": "bigint", "int": "bigint", "float": "double precision", "bool": "bigint"}
#: Log tables, as in the embedded store.
LOG_TABLES = {
    "quarantine": "run text, kind text, file text, row bigint, field text, value text, reason text, suggestion text, "
                  "record text, at text",
    "edits": "at text, \"user\" text, action text, kind text, id text",
    "ingest_notes": "run text, kind text, file text, row bigint, field text, value text, note text",
    "quarantine_resolutions": "run text, file text, row bigint, status text, note text, \"user\" text, at text",
    "ingest_runs": "run text, file text, kind text, source text, read bigint, ingested bigint, updated bigint, "
                   "unchanged bigint, quarantined bigint, at text",
}


def is_postgis_url(url: str | None) -> bool:
    return bool(url) and urlsplit(str(url)).scheme in ("postgresql", "postgres", "postgis")


def split_url(url: str) -> tuple[str, str]:
    """The libpq connection URL and the schema (`?schema=…`, default `estgeo`) of a store URL.

    `postgis://` is accepted as a synonym of `postgresql://`."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schema = (query.pop("schema", ["estgeo"]) or ["estgeo"])[0]
    if not schema.replace("_", "").isalnum():
        raise ValueError(f"store URL: schema {schema!r} must be letters, digits and _")
    rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
    return urlunsplit(("postgresql", parts.netloc, parts.path, rest, parts.fragment)), schema


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgisStore:
    """Read and write canonical records in PostGIS; the schema comes from config/model.yml."""

    backend = "postgis"

    def __init__(self, url: str, model: dict[str, Any], create: bool = True):
        import psycopg

        self._psycopg = psycopg
        self.url, self.schema = split_url(url)
        self.model = model
        if create:
            self.create_schema()

    def create_schema(self) -> None:
        """Make the schema, tables and indexes that are missing (13 statements, and one per field added to config/model.yml since; never
        run by the server, which opens its store with create=False)."""
        with self._connect() as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(self.schema)}")
            for kind in self.model:
                con.execute(f"CREATE TABLE IF NOT EXISTS {self._t(kind)} ({self._columns_sql(kind)}, "
                            f"_seq bigint GENERATED ALWAYS AS IDENTITY, "
                            f"geom geometry(Point, 3006) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(x, y), 3006)) STORED)")
                con.execute(f"CREATE INDEX IF NOT EXISTS {_q(kind + '_geom')} ON {self._t(kind)} USING gist (geom)")
                # Fields added to config/model.yml since the table was made (incidents.placed_by).
                have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                                  "WHERE table_schema = %s AND table_name = %s", (self.schema, kind))}
                for name, spec in self.fields(kind).items():
                    if name not in have:
                        con.execute(f"ALTER TABLE {self._t(kind)} ADD COLUMN {_q(name)} {PG_TYPES[spec['type']]}")
            for table, columns in LOG_TABLES.items():
                con.execute(f"CREATE TABLE IF NOT EXISTS {self._t(table)} ({columns}, _seq bigint GENERATED ALWAYS AS IDENTITY)")

    def __repr__(self) -> str:
        return f"PostgisStore(schema={self.schema!r})"

    def _connect(self):
        return self._psycopg.connect(self.url, autocommit=False)

    def _t(self, table: str) -> str:
        return f"{_q(self.schema)}.{_q(table)}"

    def fields(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.model[kind]["fields"]

    def _columns_sql(self, kind: str) -> str:
        cols = [f"{_q(name)} {PG_TYPES[spec['type']]}" for name, spec in self.fields(kind).items()]
        cols += [f"{_q(name)} {sql}" for name, sql in PG_META.items()]
        return ", ".join(cols)

    def columns(self, kind: str) -> list[str]:
        return [*self.fields(kind), *META]

    # Writing -------------------------------------------------------------------------
    def existing_hashes(self, kind: str, ids: pd.Series) -> pd.Series:
        """Content hash of stored records, indexed by id: at least every id of `ids` that exists."""
        wanted = ids.dropna().astype(str).unique().tolist()
        with self._connect() as con:
            if len(wanted) * 4 < self.count(kind, con):
                rows = con.execute(f"SELECT id, _hash FROM {self._t(kind)} WHERE id = ANY(%s)", (wanted,)).fetchall()
                frame = pd.DataFrame(rows, columns=["id", "_hash"])
            else:
                frame = self._copy_out(con, f"SELECT id, _hash FROM {self._t(kind)}", {"id": pa.string(), "_hash": pa.int64()})
        return pd.Series(frame["_hash"].to_numpy(dtype=np.int64), name="_hash",
                         index=pd.Index(frame["id"].astype("string"), name="id"))

    @contextmanager
    def ingest_lock(self, on_wait: Callable[[str], None] = lambda message: None) -> Iterator[None]:
        """Hold the schema's ingest lock for the block (a session advisory lock, released
        by the server when the session ends, so a killed ingest never leaves it held);
        see `Store.ingest_lock`."""
        key = f"estgeo-ingest:{self.schema}"
        with self._psycopg.connect(self.url, autocommit=True) as con:
            got = con.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
            if not (got and got[0]):
                on_wait(f"another ingest into the PostGIS schema {self.schema} is running; waiting for it to finish")
                con.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                yield
            finally:
                con.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def upsert(self, kind: str, new: pd.DataFrame, changed: pd.DataFrame) -> None:
        """Insert new records and replace changed ones, in one transaction (all or nothing)."""
        with self.bulk_writer(kind) as writer:
            writer.write(new, changed)

    @contextmanager
    def bulk_writer(self, kind: str) -> Iterator[PostgisWriter]:
        """One transaction that takes batches of new and changed records; committed when
        the block ends, rolled back if it raises (a file is stored entirely or not at all)."""
        con = self._connect()
        try:
            yield PostgisWriter(self, con, kind)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()

    def _upsert(self, con, kind: str, records: pd.DataFrame, on_conflict: str = "update") -> int:
        """Insert `records`, replacing rows with the same id (or, with on_conflict="nothing",
        keeping them); returns the rows written."""
        if records.empty:
            return 0
        cols = self.columns(kind)
        fields = self.fields(kind)
        staging = f"staging_{kind}"
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_q(staging)} ("
                    + ", ".join(f"{_q(c)} {self._staging_type(kind, c)}" for c in cols) + ") ON COMMIT DELETE ROWS")
        con.execute(f"TRUNCATE {_q(staging)}")
        buffer = io.BytesIO()
        pacsv.write_csv(_to_arrow(records[cols], fields), buffer, pacsv.WriteOptions(include_header=False))
        names = ", ".join(_q(c) for c in cols)
        with con.cursor().copy(f"COPY {_q(staging)} ({names}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())
        values = ", ".join(self._from_staging(kind, c) for c in cols)
        updates = ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in cols if c != "id")
        action = f"DO UPDATE SET {updates}" if on_conflict == "update" else "DO NOTHING"
        return int(con.execute(f"INSERT INTO {self._t(kind)} ({names}) SELECT {values} FROM {_q(staging)} "
                               f"ON CONFLICT (id) {action}").rowcount)

    def _staging_type(self, kind: str, column: str) -> str:
        spec = self.fields(kind).get(column)
        if spec is None:
            return PG_META[column]
        return STAGING_TYPES.get(spec["type"], "text")

    def _from_staging(self, kind: str, column: str) -> str:
        kind_of = self.fields(kind).get(column, {}).get("type")
        if kind_of == "datetime":
            return f"to_timestamp({_q(column)})"
        if kind_of == "bool":
            return f"{_q(column)} <> 0"
        if kind_of == "date":
            return f"{_q(column)}::date"
        return _q(column)

    def version(self, kind: str) -> tuple[int, ...]:
        """A value that changes whenever records change: every write over the API logs an
        edit and every ingest a run, so their newest sequence numbers (see `Store.version`)."""
        with self._connect() as con:
            row = con.execute(f"SELECT (SELECT coalesce(max(_seq), 0) FROM {self._t('edits')}), "
                              f"(SELECT coalesce(max(_seq), 0) FROM {self._t('ingest_runs')})").fetchone()
        return (int(row[0]), int(row[1]))

    def save(self, kind: str, record: pd.DataFrame, *, create: bool, user: str, at: str) -> None:
        """Write one record edited over the API, in one transaction with its edit log.

        `create` fails with `RecordExists` when the id is taken; otherwise the record must
        exist (`RecordMissing`) and is replaced. Only the record's own row is locked
        (the insert's unique index, or SELECT … FOR UPDATE), so writers of different
        records do not wait for each other — a table lock serialised 20 writers to a
        p99 of 4 s.
        """
        rid = str(record["id"].iloc[0])
        with self._connect() as con:
            if not create:
                if con.execute(f"SELECT 1 FROM {self._t(kind)} WHERE id = %s FOR UPDATE", (rid,)).fetchone() is None:
                    raise RecordMissing(rid)
            written = self._upsert(con, kind, record, on_conflict="update" if not create else "nothing")
            if create and written == 0:
                raise RecordExists(rid)
            con.execute(f"INSERT INTO {self._t('edits')} (at, \"user\", action, kind, id) VALUES (%s, %s, %s, %s, %s)",
                        (at, user, "create" if create else "replace", kind, rid))

    def save_many(self, kind: str, writes: list[tuple[pd.DataFrame, bool, str, str]]) -> list[Exception | None]:
        """`Store.save_many`: here each record in its own transaction — PostGIS locks only
        the record's row, so writers do not queue behind each other."""
        outcomes: list[Exception | None] = []
        for record, create, user, at in writes:
            try:
                self.save(kind, record, create=create, user=user, at=at)
                outcomes.append(None)
            except (RecordExists, RecordMissing) as exc:
                outcomes.append(exc)
        return outcomes

    def delete(self, kind: str, record_id: str, *, user: str, at: str) -> None:
        """Delete one record, with its edit log; `RecordMissing` when there is none."""
        with self._connect() as con:
            if con.execute(f"DELETE FROM {self._t(kind)} WHERE id = %s", (record_id,)).rowcount == 0:
                raise RecordMissing(record_id)
            con.execute(f"INSERT INTO {self._t('edits')} (at, \"user\", action, kind, id) VALUES (%s, %s, %s, %s, %s)",
                        (at, user, "delete", kind, record_id))

    def read_one(self, kind: str, record_id: str) -> pd.DataFrame:
        """One record by id, typed like `read` (empty when there is none)."""
        return self.read(kind, where=("id = ?", (record_id,)))

    def _add_log(self, table: str, entries: pd.DataFrame, cols: list[str]) -> None:
        if entries.empty:
            return
        rows = entries[cols].astype(object).where(entries[cols].notna(), None).itertuples(index=False, name=None)
        names = ", ".join(_q(c) for c in cols)
        with self._connect() as con, con.cursor().copy(f"COPY {self._t(table)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def add_notes(self, entries: pd.DataFrame) -> None:
        """Notes about ingested rows (not problems: the rows are in the store)."""
        self._add_log("ingest_notes", entries, ["run", "kind", "file", "row", "field", "value", "note"])

    def add_quarantine(self, entries: pd.DataFrame) -> None:
        self._add_log("quarantine", entries, ["run", "kind", "file", "row", "field", "value", "reason", "suggestion", "record", "at"])

    def add_run(self, summary: dict[str, Any]) -> None:
        cols = ["run", "file", "kind", "source", "read", "ingested", "updated", "unchanged", "quarantined", "at"]
        self._add_log("ingest_runs", pd.DataFrame([{c: summary[c] for c in cols}]), cols)

    def _read_log(self, table: str) -> pd.DataFrame:
        with self._connect() as con:
            cur = con.execute(f"SELECT * FROM {self._t(table)} ORDER BY _seq")
            columns = [d.name for d in cur.description]
            frame = pd.DataFrame(cur.fetchall(), columns=columns)
        frame = frame.drop(columns="_seq")
        for name in frame.columns:
            if frame[name].dtype == object and frame[name].map(lambda v: isinstance(v, int)).any():
                frame[name] = frame[name].astype("Int64")
        return frame

    def read_notes(self) -> pd.DataFrame:
        return self._read_log("ingest_notes")

    def read_edits(self) -> pd.DataFrame:
        return self._read_log("edits")

    def read_quarantine(self) -> pd.DataFrame:
        return self._read_log("quarantine")

    def add_resolutions(self, entries: pd.DataFrame) -> None:
        self._add_log("quarantine_resolutions", entries, list(RESOLUTION_COLUMNS))

    def read_resolutions(self) -> pd.DataFrame:
        return self._read_log("quarantine_resolutions")

    def read_runs(self) -> pd.DataFrame:
        return self._read_log("ingest_runs")

    # Reading -------------------------------------------------------------------------
    def count(self, kind: str, con=None) -> int:
        if con is None:
            with self._connect() as own:
                return self.count(kind, own)
        return int(con.execute(f"SELECT count(*) FROM {self._t(kind)}").fetchone()[0])

    def read(self, kind: str, columns: list[str] | None = None, where: tuple[str, tuple[Any, ...]] | None = None) -> pd.DataFrame:
        """All records of one kind (or those matching `where`, written with `?` placeholders
        as for the embedded store), typed: datetimes tz-aware UTC, ints nullable."""
        fields = self.fields(kind)
        wanted = columns or [*fields, "x", "y"]
        condition, params = where or ("true", ())
        condition = condition.replace("?", "%s")
        select = ", ".join(self._as_store_encoding(fields, c) for c in wanted)
        with self._connect() as con:
            query = self._psycopg.ClientCursor(con).mogrify(f"SELECT {select} FROM {self._t(kind)} WHERE {condition} ORDER BY _seq", params)
            frame = self._copy_out(con, query, {c: self._arrow_type(fields, c) for c in wanted})
        return typed_records(frame, fields, wanted)

    @staticmethod
    def _as_store_encoding(fields: dict[str, dict[str, Any]], column: str) -> str:
        kind_of = fields.get(column, {}).get("type")
        if kind_of == "datetime":
            return f"extract(epoch FROM {_q(column)})::bigint AS {_q(column)}"
        if kind_of == "bool":
            return f"{_q(column)}::int AS {_q(column)}"
        if kind_of == "date":
            return f"to_char({_q(column)}, 'YYYY-MM-DD') AS {_q(column)}"
        return _q(column)

    @staticmethod
    def _arrow_type(fields: dict[str, dict[str, Any]], column: str) -> pa.DataType:
        kind_of = fields.get(column, {}).get("type")
        if kind_of in ("datetime", "int", "bool") or PG_META.get(column) == "bigint":
            return pa.int64()
        if kind_of == "float" or PG_META.get(column) == "double precision":
            return pa.float64()
        return pa.string()

    def _copy_out(self, con, query: str, types: dict[str, pa.DataType]) -> pd.DataFrame:
        """The rows of `query` through COPY … TO STDOUT as CSV, parsed by Arrow in C (a
        million rows as Python tuples would take seconds)."""
        buffer = io.BytesIO()
        with con.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT csv, FORCE_QUOTE *)") as copy:
            for block in copy:
                buffer.write(block)
        names = list(types)
        if buffer.tell() == 0:
            return pd.DataFrame({name: pd.Series(dtype="object" if types[name] == pa.string() else "float64") for name in names})
        table = pacsv.read_csv(io.BytesIO(buffer.getvalue()),
                               read_options=pacsv.ReadOptions(column_names=names),
                               convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                                    quoted_strings_can_be_null=False))
        return table.to_pandas()


class PostgisWriter:
    """The batches of one bulk write, upserted on the writer's connection as they come."""

    def __init__(self, store: PostgisStore, con, kind: str):
        self.store, self.con, self.kind = store, con, kind

    def write(self, new: pd.DataFrame, changed: pd.DataFrame) -> None:
        for records in (new, changed):
            self.store._upsert(self.con, self.kind, records)
