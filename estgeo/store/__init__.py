"""The store: canonical records, the quarantine and the logs (see `estgeo.store.base`).

`open_store(settings)` gives the store `settings.store_url` names: the embedded SQLite
file (`estgeo.store.sqlite`) or PostGIS (`estgeo.store.postgis`).
"""

from __future__ import annotations

from typing import Any

from estgeo.store.base import META, BulkWriter, RecordExists, RecordMissing, Store, typed_records
from estgeo.store.postgis import PostgisStore, is_postgis_url, split_url
from estgeo.store.sqlite import SqliteStore, id_index


def open_store(settings: Any, create: bool = True) -> Store:
    """The store `settings.store_url` names: the embedded SQLite file, or PostGIS.

    `create`: make the tables that are missing (ingest, build, the command line). The
    server opens its store with `create=False`: serving a request runs no DDL."""
    url = settings.store_url
    if is_postgis_url(url):
        return PostgisStore(url, settings.model, create=create)
    if url != "embedded":
        raise ValueError(f"store: {url!r} is neither 'embedded' nor a postgresql:// URL")
    return SqliteStore(settings.store_path, settings.model, create=create)


__all__ = ["META", "BulkWriter", "PostgisStore", "RecordExists", "RecordMissing", "SqliteStore", "Store", "id_index",
           "is_postgis_url", "open_store", "split_url", "typed_records"]
