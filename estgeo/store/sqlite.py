"""The embedded store: one SQLite file in the workspace, one table per kind of record.

SQLite needs no server, is one file a municipality can back up, and reads and writes a
million rows in seconds. Coordinates are kept as x/y in the storage CRS (EPSG:3006);
moments as integer seconds since 1970 UTC (compact and fast to turn back into
tz-aware pandas columns); dates as ISO text. Every row keeps a content hash so a
re-ingest can tell new, changed and unchanged records apart without comparing columns.
"""

from __future__ import annotations

import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from estgeo.store.base import META, RESOLUTION_COLUMNS, SQL_TYPES, RecordExists, RecordMissing, _to_arrow, typed_records


class SqliteStore:
    """Read and write canonical records; the schema comes from config/model.yml."""

    backend = "embedded"

    def __init__(self, path: Path, model: dict[str, Any], create: bool = True):
        self.path = Path(path)
        self.model = model
        if create:
            self.create_schema()

    def create_schema(self) -> None:
        """Make the tables and indexes that are missing (nothing else changes)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con, con:
            for kind in self.model:
                # Ids are unique through an index of their own rather than a PRIMARY KEY
                # (stores made before 2026-12 have that; both behave alike), so that the
                # first bulk load of a table can build it once, after the rows
                # (BulkWriter): about a fifth of the load's time.
                if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (kind,)).fetchone():
                    con.execute(f'CREATE TABLE "{kind}" ({self._columns_sql(kind)})')
                    con.execute(f'CREATE UNIQUE INDEX "{id_index(kind)}" ON "{kind}" (id)')
                else:
                    # A field added to config/model.yml since the table was made (incidents.placed_by).
                    have = {row[1] for row in con.execute(f'PRAGMA table_info("{kind}")')}
                    for name, spec in self.fields(kind).items():
                        if name not in have:
                            con.execute(f'ALTER TABLE "{kind}" ADD COLUMN "{name}" {SQL_TYPES[spec["type"]]}')
            con.execute(
                "CREATE TABLE IF NOT EXISTS quarantine (run TEXT, kind TEXT, file TEXT, row INTEGER, "
                "field TEXT, value TEXT, reason TEXT, suggestion TEXT, record TEXT, at TEXT)"
            )
            con.execute("CREATE TABLE IF NOT EXISTS edits (at TEXT, user TEXT, action TEXT, kind TEXT, id TEXT)")
            con.execute("CREATE TABLE IF NOT EXISTS quarantine_resolutions (run TEXT, file TEXT, row INTEGER, status TEXT, "
                        "note TEXT, user TEXT, at TEXT)")
            con.execute("CREATE TABLE IF NOT EXISTS ingest_notes (run TEXT, kind TEXT, file TEXT, row INTEGER, "
                        "field TEXT, value TEXT, note TEXT)")
            con.execute(
                "CREATE TABLE IF NOT EXISTS ingest_runs (run TEXT, file TEXT, kind TEXT, source TEXT, "
                "read INTEGER, ingested INTEGER, updated INTEGER, unchanged INTEGER, quarantined INTEGER, at TEXT)"
            )

    def _connect(self, durable: bool = False) -> sqlite3.Connection:
        # A rollback journal rather than WAL: bulk ingest writes each page once instead of
        # twice (WAL, then checkpoint), about 25 % faster on a million rows; readers wait
        # for a running ingest instead, which the build can afford. Large pages suit the
        # wide, append-mostly tables.
        con = sqlite3.connect(self.path, timeout=120)
        con.execute("PRAGMA page_size=16384")
        con.execute("PRAGMA journal_mode=DELETE")
        # Edits answered over HTTP promise they are on disk before the response: FULL
        # syncs at every commit, so they also survive a power cut.
        con.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        return con

    def fields(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.model[kind]["fields"]

    def _columns_sql(self, kind: str) -> str:
        cols = [f'"{name}" {SQL_TYPES[spec["type"]]}' for name, spec in self.fields(kind).items()]
        cols += [f'"{name}" {sql}' for name, sql in META.items()]
        return ", ".join(cols)

    def columns(self, kind: str) -> list[str]:
        return [*self.fields(kind), *META]

    # Writing -------------------------------------------------------------------------
    def existing_hashes(self, kind: str, ids: pd.Series) -> pd.Series:
        """Content hash of stored records, indexed by id: at least every id of `ids` that exists.

        For a batch that is large against the table, one scan of (id, hash) is cheaper
        than a million indexed look-ups; for a small batch the look-ups win.
        """
        with closing(self._connect()) as con:
            stored = con.execute(f'SELECT max(rowid) FROM "{kind}"').fetchone()[0] or 0
            if stored == 0:
                return pd.Series(dtype="int64", index=pd.Index([], dtype="string", name="id"), name="_hash")
            if len(ids) * 4 < stored:
                con.execute("CREATE TEMP TABLE wanted (id TEXT PRIMARY KEY)")
                con.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((i,) for i in ids.unique()))
                found = pd.read_sql_query(f'SELECT t.id, t._hash FROM "{kind}" t JOIN wanted USING (id)', con,
                                          dtype={"id": object})
                return found.set_index("id")["_hash"]
        # Ids not in the batch are harmless here: callers look up by id. Arrow fetches the
        # two columns in C, about five times faster than building rows in Python.
        with closing(self._bulk_connect()) as con, closing(con.cursor()) as cur:
            cur.execute(f'SELECT id, _hash FROM "{kind}"')
            table = cur.fetch_arrow_table()
        ids = table.column("id").cast(pa.string())
        return pd.Series(table.column("_hash").to_numpy(), name="_hash",
                         index=pd.Index(pd.arrays.ArrowStringArray(ids), name="id"))

    def _bulk_connect(self):
        """An ADBC connection for bulk reads and writes: it binds Arrow columns in C,
        where `executemany` builds and binds a Python tuple per row (~3 s a million).

        ADBC links its own copy of SQLite. Two copies in one process must never have the
        same file open at once (a close in one drops the other's POSIX locks), so bulk
        connections, like all of this class's connections, live only for one call.
        """
        import adbc_driver_sqlite.dbapi as adbc

        con = adbc.connect(str(self.path), autocommit=True)
        with closing(con.cursor()) as cur:
            cur.execute("PRAGMA busy_timeout=120000")
            cur.execute("PRAGMA journal_mode=DELETE")
            cur.execute("PRAGMA synchronous=NORMAL")
        return con

    @contextmanager
    def ingest_lock(self, on_wait: Callable[[str], None] = lambda message: None) -> Iterator[None]:
        """Hold the store's ingest lock for the block: one ingest at a time, like the build
        lock. Two ingests of the same file at once crashed the second 7 times of 7
        ("database disk image is malformed", "database is locked") and on a fresh store
        left runs unrecorded; now the second waits for the first (`on_wait` says so
        once) and then finds every row unchanged. An flock, released by the kernel when
        the holder dies, so a killed ingest never leaves the store locked."""
        path = self.path.with_name(self.path.name + ".ingest.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                on_wait(f"another ingest into {self.path} is running (pid {holder}); waiting for it to finish")
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
            yield
        finally:
            os.close(fd)

    def upsert(self, kind: str, new: pd.DataFrame, changed: pd.DataFrame) -> None:
        """Insert new records and replace changed ones, in one transaction (all or nothing)."""
        with self.bulk_writer(kind) as writer:
            writer.write(new, changed)

    @contextmanager
    def bulk_writer(self, kind: str) -> Iterator[SqliteBulkWriter]:
        """One transaction that takes batches of new and changed records and writes them
        in a background thread while the caller prepares the next batch.

        Committed when the block ends, rolled back if it raises: a file is in the store
        entirely or not at all. ADBC's `adbc_ingest` releases the GIL (measured
        2026-12-01: a busy Python thread keeps its pace during a million-row load), so
        writing overlaps validation.
        """
        writer = SqliteBulkWriter(self, kind)
        try:
            yield writer
        except BaseException:
            writer.close(commit=False)
            raise
        writer.close(commit=True)

    def save(self, kind: str, record: pd.DataFrame, *, create: bool, user: str, at: str) -> None:
        """Write one record edited over the API, durably, in one transaction with its edit log.

        `create` fails with `RecordExists` when the id is taken; otherwise the record must
        exist (`RecordMissing`) and is replaced.
        """
        cols = self.columns(kind)
        names = ", ".join(f'"{c}"' for c in cols)
        rid = str(record["id"].iloc[0])
        with closing(self._connect(durable=True)) as con, con:
            con.execute("BEGIN IMMEDIATE")
            exists = con.execute(f'SELECT 1 FROM "{kind}" WHERE id = ?', (rid,)).fetchone() is not None
            if create and exists:
                raise RecordExists(rid)
            if not create and not exists:
                raise RecordMissing(rid)
            con.executemany(f'INSERT OR REPLACE INTO "{kind}" ({names}) VALUES ({", ".join("?" * len(cols))})',
                            _to_sql_values(record[cols], self.fields(kind)))
            con.execute("INSERT INTO edits VALUES (?, ?, ?, ?, ?)", (at, user, "create" if create else "replace", kind, rid))

    def save_many(self, kind: str, writes: list[tuple[pd.DataFrame, bool, str, str]]) -> list[Exception | None]:
        """`save` for several records edited over the API at once — (record, create, user,
        at) each — in one durable transaction (group commit): what costs a write here
        is the commit's fsyncs (19 ms), and twenty writers committing one by one, in
        two worker processes, waited for SQLite's lock to a p99 of 2.4 s. Each record
        gets its own outcome: None, or the `RecordExists`/`RecordMissing` it met; the
        others are written. Nothing is answered before the commit, so every write a
        client is told about is on disk."""
        cols = self.columns(kind)
        names = ", ".join(f'"{c}"' for c in cols)
        outcomes: list[Exception | None] = []
        with closing(self._connect(durable=True)) as con, con:
            con.execute("BEGIN IMMEDIATE")
            for record, create, user, at in writes:
                rid = str(record["id"].iloc[0])
                exists = con.execute(f'SELECT 1 FROM "{kind}" WHERE id = ?', (rid,)).fetchone() is not None
                if create and exists:
                    outcomes.append(RecordExists(rid))
                    continue
                if not create and not exists:
                    outcomes.append(RecordMissing(rid))
                    continue
                con.executemany(f'INSERT OR REPLACE INTO "{kind}" ({names}) VALUES ({", ".join("?" * len(cols))})',
                                _to_sql_values(record[cols], self.fields(kind)))
                con.execute("INSERT INTO edits VALUES (?, ?, ?, ?, ?)",
                            (at, user, "create" if create else "replace", kind, rid))
                outcomes.append(None)
        return outcomes

    def delete(self, kind: str, record_id: str, *, user: str, at: str) -> None:
        """Delete one record durably, with its edit log; `RecordMissing` when there is none."""
        with closing(self._connect(durable=True)) as con, con:
            if con.execute(f'DELETE FROM "{kind}" WHERE id = ?', (record_id,)).rowcount == 0:
                raise RecordMissing(record_id)
            con.execute("INSERT INTO edits VALUES (?, ?, ?, ?, ?)", (at, user, "delete", kind, record_id))

    def read_one(self, kind: str, record_id: str) -> pd.DataFrame:
        """One record by id, typed like `read` (empty when there is none)."""
        return self.read(kind, where=("id = ?", (record_id,)))

    def add_notes(self, entries: pd.DataFrame) -> None:
        """Notes about ingested rows (not problems: the rows are in the store)."""
        cols = ["run", "kind", "file", "row", "field", "value", "note"]
        with closing(self._connect()) as con, con:
            con.executemany(f"INSERT INTO ingest_notes VALUES ({', '.join('?' * len(cols))})",
                            entries[cols].astype(object).where(entries[cols].notna(), None).itertuples(index=False, name=None))

    def read_notes(self) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return pd.read_sql_query("SELECT * FROM ingest_notes ORDER BY rowid", con)

    def read_edits(self) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return pd.read_sql_query("SELECT * FROM edits ORDER BY rowid", con)

    def add_quarantine(self, entries: pd.DataFrame) -> None:
        if entries.empty:
            return
        cols = ["run", "kind", "file", "row", "field", "value", "reason", "suggestion", "record", "at"]
        with closing(self._connect()) as con, con:
            con.executemany(
                f"INSERT INTO quarantine ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                entries[cols].astype(object).where(entries[cols].notna(), None).itertuples(index=False, name=None),
            )

    def add_run(self, summary: dict[str, Any]) -> None:
        cols = ["run", "file", "kind", "source", "read", "ingested", "updated", "unchanged", "quarantined", "at"]
        with closing(self._connect()) as con, con:
            con.execute(f"INSERT INTO ingest_runs VALUES ({', '.join('?' * len(cols))})", [summary[c] for c in cols])

    # Reading -------------------------------------------------------------------------
    def version(self, kind: str) -> tuple[int, ...]:
        """A value that changes whenever a write to the store commits: SQLite's file
        change counter (bytes 24–27 of the header, incremented at every commit in the
        rollback-journal mode this store uses). 4 bytes read, against 79 ms for reading
        the 1,070 walk observations again; the server keeps a table until it changes."""
        with open(self.path, "rb") as fh:
            fh.seek(24)
            return (int.from_bytes(fh.read(4), "big"),)

    def count(self, kind: str) -> int:
        with closing(self._connect()) as con:
            return int(con.execute(f'SELECT count(*) FROM "{kind}"').fetchone()[0])

    def read(self, kind: str, columns: list[str] | None = None, where: tuple[str, tuple[Any, ...]] | None = None) -> pd.DataFrame:
        """All records of one kind (or those matching `where`), typed: datetimes tz-aware UTC, ints nullable."""
        fields = self.fields(kind)
        wanted = columns or [*fields, "x", "y"]
        names = ", ".join(f'"{c}"' for c in wanted)
        condition, params = where or ("1", ())
        with closing(self._connect()) as con:
            frame = pd.read_sql_query(f'SELECT {names} FROM "{kind}" WHERE {condition} ORDER BY rowid', con, params=params)
        return typed_records(frame, fields, wanted)

    def read_quarantine(self) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return pd.read_sql_query("SELECT * FROM quarantine ORDER BY rowid", con)

    def add_resolutions(self, entries: pd.DataFrame) -> None:
        if entries.empty:
            return
        cols = list(RESOLUTION_COLUMNS)
        with closing(self._connect(durable=True)) as con, con:
            con.executemany(f"INSERT INTO quarantine_resolutions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            entries[cols].astype(object).where(entries[cols].notna(), None).itertuples(index=False, name=None))

    def read_resolutions(self) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return pd.read_sql_query("SELECT * FROM quarantine_resolutions ORDER BY rowid", con)

    def read_runs(self) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return pd.read_sql_query("SELECT * FROM ingest_runs ORDER BY rowid", con)


def id_index(kind: str) -> str:
    """The unique index on the ids of one record table."""
    return f"{kind}_id"


class SqliteBulkWriter:
    """Writes batches of records on one ADBC connection from its own thread (see `Store.bulk_writer`)."""

    def __init__(self, store: SqliteStore, kind: str):
        self.kind = kind
        self.fields = store.fields(kind)
        self.cols = store.columns(kind)
        self.batches: queue.Queue[tuple[pa.Table, pa.Table] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.con = store._bulk_connect()
        self.cur = self.con.cursor()
        self.cur.execute("BEGIN IMMEDIATE")
        # Loading an empty table: its id index is built once at the end (sorting the
        # ids), instead of one B-tree insert per row. Same transaction: a rollback
        # restores it, and a duplicate id fails the commit instead of the row.
        self.rebuild_index = self._drop_index_of_empty_table()
        self.thread = threading.Thread(target=self._run, name=f"estgeo-writer-{kind}", daemon=True)
        self.thread.start()

    def _drop_index_of_empty_table(self) -> bool:
        self.cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (id_index(self.kind),))
        has_index = self.cur.fetchone() is not None
        self.cur.execute(f'SELECT 1 FROM "{self.kind}" LIMIT 1')
        if not has_index or self.cur.fetchone() is not None:
            return False
        self.cur.execute(f'DROP INDEX "{id_index(self.kind)}"')
        return True

    def write(self, new: pd.DataFrame, changed: pd.DataFrame) -> None:
        """Queue a batch; raises at once if an earlier batch failed."""
        if self.error is not None:
            raise self.error
        if not (new.empty and changed.empty):
            # Converted here, in the caller's thread: the writer thread then only runs
            # ADBC, which releases the GIL, and never waits for Python.
            self.batches.put((_to_arrow(new[self.cols], self.fields), _to_arrow(changed[self.cols], self.fields)))

    def _run(self) -> None:
        names = ", ".join(f'"{c}"' for c in self.cols)
        while (batch := self.batches.get()) is not None:
            if self.error is not None:
                continue  # drain; the transaction is rolled back at close
            new, changed = batch
            try:
                if len(new):
                    self.cur.adbc_ingest(self.kind, new, mode="append")
                if len(changed):
                    if self.rebuild_index:  # pragma: no cover - the table was empty under this transaction's lock
                        raise RuntimeError(f"{self.kind}: changed records for a table that was empty")
                    self.cur.execute("DROP TABLE IF EXISTS temp.changed_records")
                    self.cur.adbc_ingest("changed_records", changed, mode="create", temporary=True)
                    self.cur.execute(f'INSERT OR REPLACE INTO "{self.kind}" ({names}) SELECT {names} FROM temp.changed_records')
            except BaseException as exc:  # handed to the caller's thread
                self.error = exc

    def close(self, commit: bool) -> None:
        self.batches.put(None)
        self.thread.join()
        try:
            if commit and self.error is None and self.rebuild_index:
                try:
                    self.cur.execute(f'CREATE UNIQUE INDEX "{id_index(self.kind)}" ON "{self.kind}" (id)')
                except BaseException as exc:
                    self.error = exc
            self.cur.execute("COMMIT" if commit and self.error is None else "ROLLBACK")
        finally:
            self.cur.close()
            self.con.close()
        if commit and self.error is not None:
            raise self.error


def _to_sql_values(records: pd.DataFrame, fields: dict[str, dict[str, Any]]):
    """Rows as plain Python tuples in the store's encoding (for executemany)."""
    out: dict[str, np.ndarray] = {}
    for name in records.columns:
        col = records[name]
        kind = fields.get(name, {}).get("type")
        if kind == "datetime":
            missing = col.isna().to_numpy()
            filled = col.fillna(pd.Timestamp(0, tz="UTC")).dt.tz_convert("UTC").dt.as_unit("s")
            values = filled.astype("int64").to_numpy().astype(object)
            values[missing] = None
            out[name] = values
        else:
            arr = col.astype(object).to_numpy().copy()
            arr[pd.isna(col).to_numpy()] = None
            if kind == "bool":
                arr = np.where(pd.isna(col).to_numpy(), None, col.fillna(False).astype(int).astype(object))
            out[name] = arr
    return zip(*(out[c] for c in records.columns), strict=True)
