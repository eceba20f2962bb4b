"""Working through the quarantine: list, show, retry, accept, drop.

The quarantine keeps every row ingest could not take, with its reason; this is how a
person gets them out again. Nothing is edited in place: what happens to a quarantined
row is appended to `quarantine_resolutions` (retried, accepted, dropped — with a note,
who and when), and a row is *open* while it has no resolution. So the history stays,
and the counts add up across retries: every row read is in the store, or open in the
quarantine, or resolved with its reason.

* `retry` reads the open rows again with today's mappings and vocabularies (after a
  synonym was added to config/vocabulary.yml, say): each (run, file) is ingested as a
  small file of its own, through the same validation, as one run whose summary keeps
  read = ingested + updated + unchanged + quarantined. A file refused whole is read
  again from the copy the quarantine kept. Conflicting duplicates are not retried
  (that would overwrite the kept version): they wait for `accept`.
* `accept --use new|stored` settles a duplicate id with different content.
* `drop --why` gives a row up, with the reason recorded.
"""

from __future__ import annotations

import getpass
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estgeo.config import Settings
from estgeo.errors import EstgeoError
from estgeo.ingest.pipeline import GEOMETRY_KEY, IngestSummary, decide_source, ingest_file, ingest_table, new_run_id
from estgeo.ingest.readers import RawTable
from estgeo.store import Store

#: Reasons that mark a conflicting duplicate (settled by `accept`, not `retry`).
CONFLICT = "duplicate id with different content"


class QuarantineError(EstgeoError):
    """A quarantine command cannot do what was asked (nothing matches, not a conflict, …)."""


@dataclass
class Selection:
    """Which quarantined rows a command acts on (all open ones by default)."""

    file: str | None = None
    row: int | None = None
    run: str | None = None
    reason: str | None = None


def open_entries(store: Store, selection: Selection | None = None) -> pd.DataFrame:
    """The quarantine lines of rows with no resolution, in the order they were quarantined."""
    entries = store.read_quarantine()
    resolved = store.read_resolutions()
    if not resolved.empty and not entries.empty:
        done = pd.MultiIndex.from_frame(resolved[["run", "file", "row"]].astype({"row": "int64"}))
        key = pd.MultiIndex.from_frame(entries[["run", "file", "row"]].astype({"row": "int64"}))
        entries = entries[~key.isin(done)]
    if selection is not None and not entries.empty:
        if selection.file:
            entries = entries[entries["file"] == selection.file]
        if selection.row is not None:
            entries = entries[entries["row"].astype("int64") == selection.row]
        if selection.run:
            entries = entries[entries["run"] == selection.run]
        if selection.reason:
            entries = entries[entries["reason"].str.contains(selection.reason, case=False, regex=False, na=False)]
    return entries.reset_index(drop=True)


def summary(entries: pd.DataFrame) -> pd.DataFrame:
    """Open quarantined rows by file and reason: rows, an example value and suggestion."""
    if entries.empty:
        return pd.DataFrame(columns=["file", "field", "reason", "rows", "example", "suggestion"])
    reason = entries["reason"].str.replace(r" \(valid codes: [^)]*\)", "", regex=True)
    reason = reason.str.replace(r"(duplicate id with different content) from row .*", r"\1", regex=True)
    frame = entries.assign(reason=reason)
    grouped = frame.groupby(["file", "field", "reason"], sort=False)
    out = grouped.agg(rows=("row", "nunique"), example=("value", "first"), suggestion=("suggestion", "first"))
    return out.reset_index().sort_values(["file", "rows"], ascending=[True, False]).reset_index(drop=True)


def _resolve(store: Store, rows: pd.DataFrame, status: str, note: str | pd.Series) -> None:
    at = new_run_id()
    out = rows[["run", "file", "row"]].drop_duplicates().copy()
    out["status"] = status
    out["note"] = note if isinstance(note, str) else note.reindex(out.index).to_numpy()
    out["user"] = _user()
    out["at"] = at
    store.add_resolutions(out)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 — no login name (a container): still recorded
        return "?"


def _table(entries: pd.DataFrame, file: str) -> tuple[RawTable, list[int]]:
    """The quarantined rows of one file as a table to validate again (their original
    columns and row numbers), and the rows that cannot be (broken lines, kept as text)."""
    records, rows, points, broken = [], [], [], []
    for row, group in entries.groupby("row", sort=True):
        text = group["record"].iloc[0]
        try:
            record = json.loads(text) if text else None
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            broken.append(int(row))
            continue
        point = record.pop(GEOMETRY_KEY, None)
        records.append(record)
        rows.append(int(row))
        points.append(point)
    columns = list(dict.fromkeys(k for r in records for k in r))
    frame = pd.DataFrame({c: pd.array([None if r.get(c) is None else str(r.get(c)) for r in records], dtype="string")
                          for c in columns}, index=pd.RangeIndex(len(records)))
    has_points = any(p for p in points)
    gx = np.array([p[0] if p else np.nan for p in points], dtype=float) if has_points else None
    gy = np.array([p[1] if p else np.nan for p in points], dtype=float) if has_points else None
    crs = next((p[2] for p in points if p and p[2]), None)
    problem = np.full(len(records), "", dtype=object) if has_points else None
    table = RawTable(path=Path(file), frame=frame, row=np.asarray(rows, dtype=np.int64), gx=gx, gy=gy,
                     geometry_crs=crs, geometry_problem=problem)
    return table, broken


def _source_of(settings: Settings, store: Store, run: str, file: str) -> dict[str, Any] | None:
    runs = store.read_runs()
    used = runs.loc[(runs["run"] == run) & (runs["file"].map(lambda f: Path(str(f)).name) == file), "source"]
    name = str(used.iloc[-1]) if len(used) else ""
    return next((s for s in settings.sources if s["name"] == name), None)


@dataclass
class RetryResult:
    summaries: list[IngestSummary]
    #: (file, row, why) of rows that cannot be retried.
    skipped: list[tuple[str, int, str]]


def retry(settings: Settings, store: Store, selection: Selection | None = None) -> RetryResult:
    """Read the selected open rows again, with today's configuration."""
    entries = open_entries(store, selection)
    conflicts = entries["reason"].str.startswith(CONFLICT, na=False)
    conflict_rows = entries.loc[conflicts, ["run", "file", "row"]].drop_duplicates()
    entries = entries.merge(conflict_rows, how="left", indicator=True).query("_merge == 'left_only'").drop(columns="_merge")
    skipped = [(str(r.file), int(r.row), "a conflicting duplicate: settle it with `estgeo quarantine accept`")
               for r in conflict_rows.itertuples()]
    summaries: list[IngestSummary] = []
    read_again: list[tuple[str, pd.DataFrame]] = []
    run_id = new_run_id()
    for (run, file), group in entries.groupby(["run", "file"], sort=False):
        whole = group[group["field"] == "file"]
        if not whole.empty:
            summaries.append(_retry_file(settings, store, str(run), str(file), whole, run_id, skipped))
            continue
        table, broken = _table(group, str(file))
        skipped += [(str(file), r, "the line could not be split into fields: fix the file and ingest it again")
                    for r in broken]
        if table.frame.empty:
            continue
        kind = str(group["kind"].iloc[0])
        chosen = _source_of(settings, store, str(run), str(file))
        try:
            source, recognised = decide_source(settings, table, str(file), kind, chosen, explicit=False)
        except EstgeoError as exc:
            skipped += [(str(file), int(r), str(exc)) for r in table.row]
            continue
        summaries.append(ingest_table(settings, store, table, source, source.get("crs"), run_id, recognised))
        read_again.append((str(file), group[group["row"].astype(int).isin(table.row)]))
    if read_again:
        # What this retry quarantined again, read once for all files.
        fresh = store.read_quarantine()
        fresh = fresh[fresh["run"] == run_id]
        for file, group in read_again:
            still = group["row"].astype(int).isin(set(fresh.loc[fresh["file"] == file, "row"].astype(int)))
            if (~still).any():
                _resolve(store, group[~still], "retried", f"ingested by the retry in run {run_id}")
            if still.any():
                _resolve(store, group[still], "retried", f"read again in run {run_id}, quarantined there again")
    return RetryResult(summaries, skipped)


def _retry_file(settings: Settings, store: Store, run: str, file: str, whole: pd.DataFrame, run_id: str,
                skipped: list[tuple[str, int, str]]) -> IngestSummary:
    """A file refused whole, ingested again from the quarantine's copy (under its own name,
    so that mappings matched by file name apply)."""
    kept = settings.quarantine_dir / f"{run}_{file}"
    if not kept.exists():
        skipped.append((file, 0, f"the quarantine has no copy of the file ({kept.name}): ingest it again"))
        return IngestSummary(file=file, kind=str(whole["kind"].iloc[0]), source="?", error="no copy kept")
    with tempfile.TemporaryDirectory(prefix="estgeo-retry-") as folder:
        copy = Path(folder) / file
        shutil.copyfile(kept, copy)
        kind = str(whole["kind"].iloc[0])
        result = ingest_file(settings, store, copy, kind=None if kind == "?" else kind, run_id=run_id)
    result.file = file
    note = (f"refused again in run {run_id}: {result.error}" if result.error
            else f"ingested by the retry in run {run_id}: {result.ingested} new, {result.quarantined} quarantined")
    _resolve(store, whole, "retried", note)
    return result


def accept(settings: Settings, store: Store, file: str, row: int, use: str) -> str:
    """Settle a conflicting duplicate: keep the stored version, or store the quarantined one."""
    entries = open_entries(store, Selection(file=file, row=row))
    conflict = entries[entries["reason"].str.startswith(CONFLICT, na=False)]
    if conflict.empty:
        raise QuarantineError(f"{file} row {row}: no open conflicting duplicate there "
                              "(see `estgeo quarantine list`; `accept` is for duplicate ids with different content)")
    if use == "stored":
        _resolve(store, conflict, "accepted", "the stored version kept")
        return "the stored version kept"
    table, _ = _table(conflict, file)
    run = str(conflict["run"].iloc[0])
    chosen = _source_of(settings, store, run, file)
    source, _ = decide_source(settings, table, file, str(conflict["kind"].iloc[0]), chosen, explicit=False)
    run_id = new_run_id()
    result = ingest_table(settings, store, table, source, source.get("crs"), run_id)
    if result.quarantined:
        raise QuarantineError(f"{file} row {row}: the quarantined version no longer validates "
                              f"(see `estgeo quarantine show {file} --row {row}`)")
    _resolve(store, conflict, "accepted", f"the quarantined version stored in run {run_id}, replacing the kept one")
    return f"the quarantined version stored ({result.updated} updated)"


def drop(store: Store, selection: Selection, why: str) -> int:
    """Give the selected open rows up, with the reason recorded; returns the rows dropped."""
    if not why.strip():
        raise QuarantineError("say why the rows are dropped (--why), it is recorded")
    entries = open_entries(store, selection)
    if entries.empty:
        raise QuarantineError("no open quarantined rows match")
    _resolve(store, entries, "dropped", why.strip())
    return len(entries[["run", "file", "row"]].drop_duplicates())
