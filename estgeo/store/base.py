"""The store contract: what ingest, the builders and the API ask of a store, the
errors it raises, and the record encoding both backends share.

Two implementations: `estgeo.store.sqlite.SqliteStore` (the embedded SQLite file, the
default) and `estgeo.store.postgis.PostgisStore`. Callers hold a `Store` (this
Protocol) from `estgeo.store.open_store` and never ask which one it is.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from estgeo.errors import EstgeoError

SQL_TYPES = {
    "id": "TEXT",  # unique through the index `id_index` names (see Store.__init__)
    "text": "TEXT",
    "code": "TEXT",
    "codes": "TEXT",
    "datetime": "INTEGER",
    "date": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "bool": "INTEGER",
}
#: What `estgeo quarantine retry|accept|drop` records about a quarantined row (append-only):
#: the row (run, file, row), status retried|accepted|dropped, what happened, who, when.
RESOLUTION_COLUMNS = ("run", "file", "row", "status", "note", "user", "at")

META = {"x": "REAL", "y": "REAL", "_hash": "INTEGER", "_source": "TEXT", "_file": "TEXT", "_row": "INTEGER", "_ingested_at": "TEXT"}


class RecordExists(EstgeoError):
    """A record with this id is already stored."""


class RecordMissing(EstgeoError):
    """No record with this id is stored."""



class BulkWriter(Protocol):
    """One transaction taking batches of new and changed records (`Store.bulk_writer`)."""

    def write(self, new: pd.DataFrame, changed: pd.DataFrame) -> None: ...


class Store(Protocol):
    """The methods callers use; both backends implement all of them alike (the test suite
    runs once per backend)."""

    model: dict[str, Any]
    #: "embedded" or "postgis": what the build publishes to (the PostGIS tables).
    backend: str

    def create_schema(self) -> None: ...
    def fields(self, kind: str) -> dict[str, dict[str, Any]]: ...
    def columns(self, kind: str) -> list[str]: ...
    def existing_hashes(self, kind: str, ids: pd.Series) -> pd.Series: ...
    def ingest_lock(self, on_wait: Callable[[str], None] = ...) -> AbstractContextManager[None]: ...
    def bulk_writer(self, kind: str) -> AbstractContextManager[BulkWriter]: ...
    def upsert(self, kind: str, new: pd.DataFrame, changed: pd.DataFrame) -> None: ...
    def save(self, kind: str, record: pd.DataFrame, *, create: bool, user: str, at: str) -> None: ...
    def save_many(self, kind: str, writes: list[tuple[pd.DataFrame, bool, str, str]]) -> list[Exception | None]: ...
    def delete(self, kind: str, record_id: str, *, user: str, at: str) -> None: ...
    def version(self, kind: str) -> tuple[int, ...]: ...
    def count(self, kind: str) -> int: ...
    def read(self, kind: str, columns: list[str] | None = None,
             where: tuple[str, tuple[Any, ...]] | None = None) -> pd.DataFrame: ...
    def read_one(self, kind: str, record_id: str) -> pd.DataFrame: ...
    def add_quarantine(self, entries: pd.DataFrame) -> None: ...
    def read_quarantine(self) -> pd.DataFrame: ...
    def add_resolutions(self, entries: pd.DataFrame) -> None: ...
    def read_resolutions(self) -> pd.DataFrame: ...
    def add_notes(self, entries: pd.DataFrame) -> None: ...
    def read_notes(self) -> pd.DataFrame: ...
    def add_run(self, summary: dict[str, Any]) -> None: ...
    def read_runs(self) -> pd.DataFrame: ...
    def read_edits(self) -> pd.DataFrame: ...


def typed_records(frame: pd.DataFrame, fields: dict[str, dict[str, Any]], wanted: list[str]) -> pd.DataFrame:
    """Columns in the store's encoding (datetimes as UTC seconds, booleans as 0/1) turned
    into the types every reader of the store expects, whichever backend held them."""
    for name in wanted:
        kind_of = fields.get(name, {}).get("type")
        if kind_of == "datetime":
            frame[name] = pd.to_datetime(frame[name], unit="s", utc=True)
        elif kind_of == "int":
            frame[name] = frame[name].astype("Int64")
        elif kind_of == "bool":
            frame[name] = frame[name].astype("boolean")
        elif kind_of in ("text", "code", "codes", "date", "id"):
            frame[name] = frame[name].astype("string")
    return frame


def _to_arrow(records: pd.DataFrame, fields: dict[str, dict[str, Any]]) -> pa.Table:
    """Records as an Arrow table in the store's encoding (datetimes as UTC seconds, booleans as 0/1)."""
    arrays = {}
    for name in records.columns:
        col = records[name]
        kind = fields.get(name, {}).get("type")
        sql = SQL_TYPES[kind] if kind else META[name]
        missing = pd.isna(col).to_numpy(dtype=bool)
        if kind == "datetime":
            values = col.dt.tz_convert("UTC").to_numpy(dtype="datetime64[s]").astype(np.int64)
        elif sql == "INTEGER":
            values = col.astype("Int64").fillna(0).to_numpy(dtype=np.int64)
        elif sql == "REAL":
            values = col.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arrays[name] = pa.array(col.astype("string[pyarrow]").array, type=pa.string())
            continue
        arrays[name] = pa.array(values, mask=missing)
    return pa.table(arrays)


