"""Ingest one file: read → map columns → validate → reproject → upsert, bad rows → quarantine.

The invariant every run keeps, and reports: read = ingested + updated + unchanged +
quarantined. Nothing is dropped: a row is either in the store or in the quarantine with
the file, row, field, value and reason.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import stat
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from estgeo.config import CodeList, Settings
from estgeo.errors import EstgeoError
from estgeo.ingest import fields as parse
from estgeo.ingest.coords import check_extent, to_storage_crs
from estgeo.ingest.geocode import Placed, geocode, load_register, register_path
from estgeo.ingest.mapping import MappingError, choose_source, lacking_columns, map_columns
from estgeo.ingest.problems import Problems
from estgeo.ingest.readers import READERS, RawTable, UnreadableFile, read_table
from estgeo.ingest.recognise import NotRecognised, recognise
from estgeo.store import BulkWriter, Store

LOGGER = logging.getLogger(__name__)

#: File name endings that `estgeo ingest FOLDER` picks up.
READABLE_SUFFIXES = frozenset(READERS)


@dataclass
class IngestSummary:
    file: str
    kind: str
    source: str
    read: int = 0
    ingested: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    error: str = ""
    #: Rows ingested with a note (e.g. a time in the daylight-saving overlap); see `ingest_notes`.
    notes: int = 0
    #: How the columns were recognised when no mapping was used as written ("" otherwise).
    recognised: str = ""

    def balanced(self) -> bool:
        return self.read == self.ingested + self.updated + self.unchanged + self.quarantined


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


class DiskFull(EstgeoError, OSError):
    """The disk (or the database) is full: nothing more can be written."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or what caused it, says the disk or the database is full
    (OSError ENOSPC, SQLite's "database or disk is full", GDAL's "No space left")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull) or getattr(current, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(current).lower()
        if "disk is full" in text or "no space left" in text or "disk full" in text:
            return True
        current = current.__cause__ or current.__context__
    return False


def display_name(path: Path) -> str:
    """A file name as text that can be printed and stored: bytes that are not UTF-8
    (a name from a Windows share, say) are shown as U+FFFD instead of ending the run
    with a UnicodeEncodeError."""
    return os.fsencode(path.name).decode("utf-8", "replace")


def regular_file_problem(path: Path) -> str | None:
    """Why `path` is not read (a symbolic link, a device, a folder…), None for a regular
    file. Checked on the link itself (lstat): the inbox is often a shared folder, and a
    link named `polisen_x.csv` pointing at /etc/shadow must not be read."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISLNK(info.st_mode):
        return ("is a symbolic link; only regular files are read from a folder "
                "(name the file itself on the command line, or copy it into the inbox)")
    if stat.S_ISREG(info.st_mode):
        return None
    what = ("a folder" if stat.S_ISDIR(info.st_mode) else "a named pipe" if stat.S_ISFIFO(info.st_mode)
            else "a socket" if stat.S_ISSOCK(info.st_mode) else "a device")
    return f"is {what}, not a regular file"


def files_to_ingest(paths: list[Path]) -> tuple[list[tuple[Path, bool]], list[Path]]:
    """What `estgeo ingest PATH…` reads: ([(file, named on the command line)], skipped).

    A folder gives its entries with a readable ending, *and* every entry that is not a
    regular file whatever its name (a link, a device), so that `ingest_file` refuses it
    with its reason instead of it vanishing; other regular files are skipped (and
    listed). A path named on the command line is read even through a link.
    """
    files: list[tuple[Path, bool]] = []
    skipped: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for entry in sorted(path.iterdir()):
                real_folder = entry.is_dir() and not entry.is_symlink()
                if real_folder:
                    continue  # folders inside the inbox are not read (no recursion)
                if entry.suffix.lower() in READABLE_SUFFIXES or regular_file_problem(entry):
                    files.append((entry, False))
                else:
                    skipped.append(entry)
        else:
            files.append((path, True))
    return files, skipped


def ingest_file(
    settings: Settings,
    store: Store,
    path: Path,
    kind: str | None = None,
    crs: str | None = None,
    source_name: str | None = None,
    run_id: str | None = None,
    follow_links: bool = False,
    sheet: str | None = None,
) -> IngestSummary:
    """Ingest one file and return its summary; never raises for bad content.

    Whatever the file holds — nesting too deep to parse, a name that is not UTF-8, an
    error nobody foresaw — it ends as a summary with its reason and a run record, and
    the next file of the batch is read. Only a full disk stops the batch (`DiskFull`):
    nothing after it could be written either. `follow_links`: the path was named by the
    user, so a symbolic link to a regular file may be read.
    """
    run_id = run_id or new_run_id()
    path = Path(path)
    target = path.resolve() if follow_links else path
    problem = regular_file_problem(target)
    if problem:
        return _reject_file(settings, store, path, kind or "?", "?", f"{display_name(path)}: {problem}", run_id,
                            rows=0, keep_copy=False)
    try:
        return _ingest_file(settings, store, target if follow_links else path, kind, crs, source_name, run_id, sheet)
    except RecursionError:
        reason = f"{display_name(path)}: nested too deeply to be read (JSON arrays or objects within each other)"
    except Exception as exc:  # noqa: BLE001 — any failure of one file is that file's result, not the batch's
        if is_disk_full(exc):
            raise DiskFull(errno.ENOSPC, f"the disk is full: {display_name(path)} was not ingested "
                                         f"(free space for {settings.workspace} and run the ingest again)") from exc
        LOGGER.exception("ingest of %s failed", display_name(path))
        reason = f"{display_name(path)}: could not be ingested ({type(exc).__name__}: {exc})"
    return _reject_file(settings, store, path, kind or "?", source_name or "?", reason, run_id, rows=0)


def _ingest_file(settings: Settings, store: Store, path: Path, kind: str | None, crs: str | None,
                 source_name: str | None, run_id: str, sheet: str | None = None) -> IngestSummary:
    try:
        chosen = choose_source(settings, path, kind, source_name)
    except MappingError as exc:
        return _reject_file(settings, store, path, kind or "?", "?", str(exc), run_id, rows=0)
    if chosen and kind and chosen["kind"] != kind:
        return _reject_file(settings, store, path, kind, chosen["name"],
                            f"the mapping '{chosen['name']}' is for {chosen['kind']}, not {kind}", run_id, rows=0)
    said_kind, said_source = kind or (chosen or {}).get("kind", "?"), (chosen or {}).get("name", "?")
    try:
        table = read_table(path, sheet=sheet)
    except UnreadableFile as exc:
        return _reject_file(settings, store, path, said_kind, said_source, f"{display_name(path)}: {exc}", run_id, rows=0)
    try:
        source, recognised = decide_source(settings, table, display_name(path), kind, chosen, explicit=bool(source_name))
    except MappingError as exc:
        return _reject_file(settings, store, path, said_kind, said_source, str(exc), run_id,
                            rows=len(table.frame) + len(table.broken))
    return ingest_table(settings, store, table, source, crs, run_id, recognised)


def decide_source(settings: Settings, table: RawTable, name: str, kind: str | None, chosen: dict[str, Any] | None,
                  explicit: bool) -> tuple[dict[str, Any], str]:
    """The mapping to read `table` with, and what recognition said ("" for a mapping used as written).

    A mapping named with --source must fit: a column it names for a required field that
    the file lacks refuses the file, once. One that matched the file by name only is a
    guess: when the file lacks its columns, they are recognised instead (keeping the
    mapping's kind and defaults). With no mapping, the columns are recognised.
    """
    geometry = table.has_points
    if chosen is not None:
        lacking = lacking_columns(table.frame, chosen, settings.model[chosen["kind"]]["fields"], geometry)
        if not lacking:
            return chosen, ""
        where = chosen.get("_path", f"config/sources/{chosen['name']}.yml")
        problem = (f"{name}: the mapping '{chosen['name']}' ({where}) names {', '.join(lacking)}, which the file lacks; "
                   f"the file has: {', '.join(map(str, table.frame.columns))}")
        if explicit:
            raise MappingError(problem + f". Fix the mapping, or see what estgeo would use: `estgeo sources suggest {name}`")
        try:
            found = recognise(settings, table.frame, name, chosen["kind"], base=chosen, geometry=geometry)
        except NotRecognised as exc:
            raise MappingError(f"{problem}; and {exc}") from exc
        return found.source, f"the mapping '{chosen['name']}' does not fit ({', '.join(lacking)} missing); {found.describe()}"
    if kind and table.frame.empty:
        # No rows (a header only, an empty collection): nothing to recognise, nothing lost.
        return {"name": f"canonical-{kind}", "kind": kind, "columns": {}}, ""
    found = recognise(settings, table.frame, name, kind, geometry=geometry)
    return found.source, found.describe()


def ingest_table(settings: Settings, store: Store, table: RawTable, source: dict[str, Any], crs: str | None,
                 run_id: str, recognised: str = "") -> IngestSummary:
    """Validate and write the rows of a table read with `source`; bad rows to the quarantine."""
    path = table.path
    kind = source["kind"]
    summary = IngestSummary(file=display_path(path), kind=kind, source=source["name"], read=len(table.frame) + len(table.broken),
                            recognised=recognised)
    n = len(table.frame)
    fields = settings.model[kind]["fields"]
    problems = Problems()
    records_parts: list[pd.DataFrame] = []
    geometry_present = table.has_points
    counts = np.zeros(3, dtype=np.int64)  # new, changed, unchanged
    extra = {"_source": source["name"], "_file": display_name(path), "_ingested_at": run_id}
    def validate_chunk(rows: tuple[int, int]) -> tuple[pd.DataFrame, Problems]:
        return validate(settings, slice_rows(table, *rows), source, kind, crs, geometry_present)

    with store.bulk_writer(kind) as writer, ThreadPoolExecutor(VALIDATION_THREADS, "estgeo-validate") as pool:
        validated = InOrder(pool, validate_chunk, _chunks(n), ahead=VALIDATION_THREADS)
        # While the first chunks are validated: rows that share an id with another row
        # are decided only once the whole file is validated (all copies may have to be
        # quarantined); every other row is decided by its own content, so it can be
        # written while the next chunk is validated.
        ids = _file_ids(table, source, fields)
        repeated = _repeated(ids)
        stored_hash = _stored_hashes(store.existing_hashes(kind, ids.dropna()), ids)
        for (start, stop), (records, found) in validated:
            problems.absorb(found, start)
            records_parts.append(records.loc[repeated[start:stop]])
            decided = ~found.bad_rows(stop - start) & ~repeated[start:stop]
            counts += _write_classified(writer, records.loc[decided], stored_hash.iloc[start:stop][decided], extra)
        records = pd.concat(records_parts) if len(records_parts) > 1 else records_parts[0]
        decided_bad = problems.bad_rows(n)
        repeats = _duplicate_ids(records, problems, n)
        bad = problems.bad_rows(n)
        if ((bad & ~decided_bad) | repeats)[~repeated].any():  # pragma: no cover - a broken invariant, not bad input
            raise RuntimeError(f"{path.name}: rows written before the duplicate check turned out to be duplicates")
        last = repeated & ~bad & ~repeats
        counts += _write_classified(writer, records.loc[last[records.index.to_numpy()]], stored_hash[last], extra)

    summary.ingested, summary.updated = int(counts[0]), int(counts[1])
    summary.unchanged = int(counts[2]) + int(repeats.sum())
    summary.quarantined = int(bad.sum()) + len(table.broken)
    _quarantine_rows(settings, store, table, problems, kind, run_id)
    summary.notes = _record_notes(store, table, problems, ~bad, kind, run_id)
    store.add_run({**asdict(summary), "run": run_id, "at": run_id})
    return summary


#: Rows validated at a time: large enough that Arrow's kernels outweigh pandas' per-call
#: overhead, small enough that writing one chunk overlaps validating the next.
CHUNK_ROWS = 200_000
#: The first chunk is smaller, so that the writer, the slowest stage, starts early.
FIRST_CHUNK_ROWS = 40_000
#: Chunks validated at once. Arrow's and numpy's kernels, where validation spends its
#: time, release the GIL, so two threads keep both cores of a small server busy.
VALIDATION_THREADS = 2


def _chunks(n: int) -> list[tuple[int, int]]:
    """(start, stop) of each chunk of `n` rows; one empty chunk when there are none."""
    bounds = [0, *range(min(FIRST_CHUNK_ROWS, CHUNK_ROWS), n, CHUNK_ROWS), n] if n else [0, 0]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a or n == 0]


class InOrder[T]:
    """`work` for each chunk on a thread pool, results in file order; chunks are
    submitted `ahead` of the one consumed, so memory stays bounded by the threads, not
    the file. The first ones are submitted at once, before iteration begins."""

    def __init__(self, pool: ThreadPoolExecutor, work: Callable[[tuple[int, int]], T],
                 chunks: list[tuple[int, int]], ahead: int):
        self.pool, self.work, self.waiting = pool, work, deque(chunks)
        self.pending: deque[tuple[tuple[int, int], Future[T]]] = deque()
        for _ in range(ahead + 1):
            self._submit()

    def _submit(self) -> None:
        if self.waiting:
            chunk = self.waiting.popleft()
            self.pending.append((chunk, self.pool.submit(self.work, chunk)))

    def __iter__(self) -> Iterator[tuple[tuple[int, int], T]]:
        while self.pending:
            chunk, future = self.pending.popleft()
            self._submit()
            yield chunk, future.result()


def slice_rows(table: RawTable, start: int, stop: int) -> RawTable:
    """Rows start:stop of a table (validation is row by row, so a slice validates alike)."""
    def cut(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[start:stop]

    if start == 0 and stop == len(table.frame):
        return replace(table, broken=[])
    return replace(table, frame=table.frame.iloc[start:stop], row=table.row[start:stop], gx=cut(table.gx),
                   gy=cut(table.gy), geometry_problem=cut(table.geometry_problem), broken=[])


def _file_ids(table: RawTable, source: dict[str, Any], fields: dict[str, dict[str, Any]]) -> pd.Series:
    """The id of every row as validation will read it (nulls where there is none)."""
    name = next(name for name, field in fields.items() if field["type"] == "id")
    columns, _ = map_columns(table.frame, source, fields, only=[name])
    raw = columns.get(name, pd.Series(pd.NA, index=table.frame.index, dtype="string"))
    defaults = {**{k: v["default"] for k, v in fields.items() if "default" in v}, **(source.get("defaults") or {})}
    if name in defaults:
        raw = raw.astype("string").mask(parse.blank(raw), str(defaults[name]))
    ids = parse.parse_text(raw)
    return source["id_prefix"] + ids if source.get("id_prefix") else ids


def _repeated(ids: pd.Series) -> np.ndarray:
    """Rows whose id occurs more than once in the file."""
    values = pa.array(ids.astype("string[pyarrow]").array, type=pa.string())
    present = values.drop_null() if values.null_count else values
    # The usual case, found with one hash pass in C (Arrow's unique: faster here than its
    # count_distinct, which also hashes every value).
    if len(pc.unique(present)) == len(present):
        return np.zeros(len(ids), dtype=bool)
    codes, _ = pd.factorize(ids, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=1)
    return (codes >= 0) & (counts[np.maximum(codes, 0)] > 1)


def _stored_hashes(existing: pd.Series, ids: pd.Series) -> pd.Series:
    """The stored content hash for each row's id (<NA> where the id is new).

    Arrow's hash look-up, in C: no Python string is made for a million ids.
    """
    hashes = pd.Series(pd.NA, index=ids.index, dtype="Int64")
    if existing.empty:
        return hashes
    position = pc.index_in(pa.array(ids.astype("string[pyarrow]").array, type=pa.string()),
                           value_set=pa.array(existing.index.astype("string[pyarrow]").array, type=pa.string()))
    found = position.is_valid().to_numpy(zero_copy_only=False)
    hashes[found] = existing.to_numpy(dtype=np.int64)[position.drop_null().to_numpy()]
    return hashes


def _write_classified(writer: BulkWriter, good: pd.DataFrame, stored_hash: pd.Series, extra: dict[str, str]) -> np.ndarray:
    """Queue new and changed records for writing; returns the counts (new, changed, unchanged)."""
    is_new = stored_hash.isna().to_numpy(dtype=bool)
    is_changed = ~is_new & (stored_hash.to_numpy(dtype=np.int64, na_value=0) != good["_hash"].to_numpy())
    good = good.assign(**extra)
    writer.write(good.loc[is_new], good.loc[is_changed])
    return np.array([is_new.sum(), is_changed.sum(), (~is_new & ~is_changed).sum()], dtype=np.int64)


def validate(settings: Settings, table: RawTable, source: dict[str, Any], kind: str, crs: str | None,
             geometry_present: bool | None = None) -> tuple[pd.DataFrame, Problems]:
    """Typed canonical records for every row (bad values as nulls) and the problems found.

    `geometry_present` says whether the file (not just these rows) has point geometries
    to use rather than x/y columns; by default it is judged from these rows.
    """
    spec = settings.model[kind]
    fields: dict[str, dict[str, Any]] = spec["fields"]
    frame = table.frame
    n = len(frame)
    problems = Problems()
    columns, missing = map_columns(frame, source, fields)
    # A mapped column the export lacks matters only for required fields: optional ones
    # (an export without "Anmäld") are simply empty.
    missing_columns = [text for name, text in missing if fields.get(name, {}).get("required") or name in ("x", "y")]
    if missing_columns:
        problems.add(np.ones(n, bool), "file", None,
                     f"column {', '.join(missing_columns)} not found; the file has: {', '.join(map(str, frame.columns))}")

    defaults = {**{k: v["default"] for k, v in fields.items() if "default" in v}, **(source.get("defaults") or {})}
    empty = pd.Series(pd.NA, index=frame.index, dtype="string")
    out: dict[str, Any] = {}
    moments: dict[str, parse.Moments] = {}
    # Nothing reported can have happened after the ingest (a day of slack for clocks).
    not_after = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    window_fields = {n for f in fields.values() if f.get("window_end_of") for n in (f["window_end_of"],)}
    window_fields |= {n for n, f in fields.items() if f.get("window_end_of")}
    for name, field in fields.items():
        raw = columns.get(name, empty)
        if name in defaults:
            raw = (pd.Series(str(defaults[name]), index=frame.index, dtype="string") if name not in columns
                   else raw.astype("string").mask(parse.blank(raw), str(defaults[name])))
        kind_of = field["type"]
        bounds = field.get("range")
        if kind_of in ("id", "text"):
            value = parse.parse_text(raw)
            parse.check_text(value, raw, name, problems, int(field.get("max_length", parse.MAX_TEXT_LENGTH)))
            if kind_of == "id":
                parse.check_identifier(value, raw, name, problems)
            if kind_of == "id" and source.get("id_prefix"):
                value = source["id_prefix"] + value
        elif kind_of == "code":
            value = parse.parse_code(raw, name, problems, code_list(settings, source, field, name))
        elif kind_of == "codes":
            value = parse.parse_codes(raw, name, problems, code_list(settings, source, field, name))
        elif kind_of == "datetime":
            moments[name] = parse.parse_datetime(raw, name, problems, settings.time_zone)
            value = moments[name].start
            future = (value > not_after).fillna(False).to_numpy(dtype=bool)
            problems.add(future, name, raw, f"is in the future (after {not_after:%Y-%m-%d %H:%M} UTC); a typo in the year?")
            problems.note(moments[name].ambiguous, name, raw,
                          "local time in the autumn daylight-saving overlap (it happened twice): "
                          + ("the time window covers both" if name in window_fields else "the earlier one is used"))
        elif kind_of == "date":
            value = parse.parse_date(raw, name, problems)
        elif kind_of == "int":
            value = parse.parse_int(raw, name, problems, bounds)
        elif kind_of == "float":
            value = parse.parse_float(raw, name, problems, bounds)
        elif kind_of == "bool":
            value = parse.parse_bool(raw, name, problems)
        else:  # pragma: no cover - config validated by tests over config/model.yml
            raise ValueError(f"config/model.yml: unknown type {kind_of!r} for {kind}.{name}")
        if field.get("required"):
            problems.add(parse.blank(raw), name, raw, "required field is empty or missing")
        out[name] = value

    for name, field in fields.items():
        start_name = field.get("window_end_of")
        if start_name:
            # A window's end: an explicit date-only end means the end of that day, and an
            # absent end means the start's own latest instant (end of day, DST overlap).
            # An end in the autumn overlap is its later instant too, so the window covers both.
            widen = moments[name].date_only | moments[name].ambiguous
            end = moments[name].latest.where(widen, moments[name].start)
            end = end.fillna(moments[start_name].latest)
            before = (end < moments[start_name].start).fillna(False).to_numpy(dtype=bool)
            problems.add(before, name, columns.get(name, empty), f"{name} is before {start_name}")
            out[name] = end

    if geometry_present is None:
        geometry_present = table.has_points
    x, y, placed = _coordinates(settings, table, columns, crs or source.get("crs"), problems, spec, geometry_present)
    out["x"], out["y"] = x, y
    if placed is not None and "placed_by" in fields:
        geocoded = placed.how != ""
        out["placed_by"] = out["placed_by"].mask(geocoded, pd.Series(placed.how, index=frame.index).astype("string"))
        if "precision_m" in fields:
            # The register's precision for an exact address; 50 m when only the street was
            # near or the letter of the number missing (a block, not a door).
            precision = np.where(placed.how == "adress", placed.precision_m, max(placed.precision_m, 50.0))
            out["precision_m"] = out["precision_m"].mask(geocoded & out["precision_m"].isna().to_numpy(),
                                                         pd.Series(precision, index=frame.index))
    records = pd.DataFrame(out, index=frame.index)
    # The hash is only ever compared between records of the same id, so the id itself
    # (a million distinct strings, the costliest column to hash) stays out of it.
    content = [name for name, field in fields.items() if field["type"] != "id"] + ["x", "y"]
    records["_hash"] = pd.util.hash_pandas_object(records[content], index=False).to_numpy().view(np.int64)
    records["_row"] = table.row
    return records, problems


def code_list(settings: Settings, source: dict[str, Any], field: dict[str, Any], name: str) -> CodeList:
    """The code list of a field with the source's own words (its mapping's `vocabulary:`) first."""
    return settings.code_lists[field["codes"]].with_synonyms((source.get("vocabulary") or {}).get(name))


def validate_one(settings: Settings, kind: str, values: dict[str, str | None], point: tuple[float, float] | None,
                 crs: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate one record that comes alone (over the API) exactly as a file row is validated.

    `values` are the canonical fields as text, as a file would hold them; `point` is the
    geometry's two coordinates in `crs` (default WGS 84, either axis order). Returns the
    typed record (one row, ready for `Store`) and its problems (field, value, reason,
    suggestion), which are empty when the record is valid.
    """
    return validate_many(settings, kind, [(values, point)], crs)[0]


def validate_many(settings: Settings, kind: str, items: list[tuple[dict[str, str | None], tuple[float, float] | None]],
                  crs: str | None) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """`validate_one` for several records at once (each its own result), in one pass of
    the vectorised validator: its cost is nearly all fixed — 85 ms for one record, about
    as much for twenty — so the API validates the writes that arrive together as one
    batch (`estgeo.publish.transactions`). All items must have the same property names
    (a missing column is reported differently from an empty value)."""
    names = list(items[0][0]) if items else []
    if any(list(values) != names for values, _ in items):
        raise ValueError("validate_many: every item must have the same property names")
    n = len(items)
    frame = pd.DataFrame({name: pd.array([values[name] for values, _ in items], dtype="string") for name in names},
                         index=pd.RangeIndex(n))
    points = np.array([point if point is not None else (np.nan, np.nan) for _, point in items], dtype=float).reshape(n, 2)
    table = RawTable(path=Path("api"), frame=frame, row=np.arange(1, n + 1), gx=points[:, 0], gy=points[:, 1],
                     geometry_crs=crs or "EPSG:4326", geometry_problem=np.full(n, "", dtype=object))
    records, problems = validate(settings, table, {"name": "api", "kind": kind, "columns": {}}, kind, crs)
    found = problems.frame()
    by_row = {pos: group.drop(columns="pos").reset_index(drop=True) for pos, group in found.groupby("pos")} \
        if not found.empty else {}
    empty = found.drop(columns="pos").iloc[0:0]
    return [(records.iloc[[i]].reset_index(drop=True), by_row.get(i, empty)) for i in range(n)]


def _coordinates(settings: Settings, table: RawTable, columns: dict[str, pd.Series], crs: str | None,
                 problems: Problems, spec: dict[str, Any], geometry_present: bool
                 ) -> tuple[np.ndarray, np.ndarray, Placed | None]:
    n = len(table.frame)
    if table.gx is not None and ("x" not in columns or geometry_present):
        a, b = pd.Series(table.gx), pd.Series(table.gy)
        declared = crs or table.geometry_crs
        if table.geometry_problem is not None:
            problems.add(table.geometry_problem != "", "geometry", None, pd.Series(table.geometry_problem))
        field_a, field_b = "geometry", "geometry"
    elif "x" in columns:
        a = parse.parse_float(columns["x"], "x", problems)
        b = parse.parse_float(columns["y"], "y", problems)
        declared, field_a, field_b = crs, "x", "y"
    else:
        a = b = pd.Series(np.full(n, np.nan))
        declared, field_a, field_b = crs, "x", "y"
    missing = (a.isna() | b.isna()).to_numpy().copy()
    placed = None
    address = columns.get("address")
    if address is not None and missing.any():
        placed = _geocode(settings, address, missing, problems)
        missing &= placed.how == ""
        missing &= parse.blank(address)  # an address that was not found has its own reason
    if spec.get("geometry") != "optional":
        already = problems.bad_rows(n)
        problems.add(missing & ~already, "geometry", None, "no coordinates (expected a point or x/y columns)")
    x, y = to_storage_crs(a.reset_index(drop=True), b.reset_index(drop=True), declared, settings.storage_crs,
                          problems, field_a, field_b)
    if placed is not None:
        geocoded = placed.how != ""
        x[geocoded], y[geocoded] = placed.x[geocoded], placed.y[geocoded]
    outside_sweden = check_extent(x, y, settings.sweden_extent_3006, "Sweden", problems)
    inside = ~outside_sweden
    name = settings.municipality.get("name", "the municipality")
    extent_problems = Problems()
    check_extent(x, y, settings.extent_3006, f"the municipality of {name} (config/municipality.yml extent_3006)", extent_problems)
    for part in extent_problems.parts:
        part = part[inside[part["pos"].to_numpy()]]
        problems.parts.append(part)
    return x, y, placed


def _geocode(settings: Settings, address: pd.Series, missing: np.ndarray, problems: Problems) -> Placed:
    """Place the rows with an address and no coordinates against the address register."""
    n = len(address)
    out = Placed(np.full(n, np.nan), np.full(n, np.nan), np.full(n, "", dtype=object), np.full(n, "", dtype=object))
    wanted = missing & ~parse.blank(address)
    if not wanted.any():
        return out
    register = load_register(settings)
    if register is None:
        where = register_path(settings)
        problems.add(wanted, "address", address, "no coordinates, and no address register to place the address by "
                     + (f"({where} does not exist)" if where else "(config/municipality.yml address_register: the "
                        "municipality's address points)"))
        return out
    rows = np.flatnonzero(wanted)
    found = geocode(register, address.iloc[rows])
    out.x[rows], out.y[rows], out.how[rows], out.precision_m = found.x, found.y, found.how, register.precision_m
    not_found = np.zeros(n, dtype=bool)
    not_found[rows] = found.how == ""
    candidates = pd.Series("", index=address.index, dtype="string")
    candidates.iloc[rows] = found.matched.astype(str)
    problems.add(not_found, "address", address, "not in the address register (and no coordinates)",
                 "nearest in the register: " + candidates)
    placed_note = np.zeros(n, dtype=bool)
    placed_note[rows] = found.how != ""
    if placed_note.any():
        label = pd.Series("", index=address.index, dtype="string")
        label.iloc[rows] = found.matched.astype(str)
        how = pd.Series("", index=address.index, dtype="string")
        how.iloc[rows] = np.where(found.how == "adress", "exactly", "approximately")
        problems.note(placed_note, "address", address, "placed by the address register, " + how + ": " + label)
    return out


def _duplicate_ids(records: pd.DataFrame, problems: Problems, n: int) -> np.ndarray:
    """Same id twice in one file: the first valid copy is kept; an identical later copy
    is returned in the mask (over all `n` rows), counted as unchanged rather than written
    twice; a later copy with different content is quarantined, naming the fields that
    differ and the row kept, so that `estgeo quarantine accept --use new` can take it
    instead. (Before, both versions were quarantined and the incident left the map.)

    `records` holds only the rows whose id occurs more than once, indexed by position.
    """
    repeats = np.zeros(n, dtype=bool)
    if records.empty:
        return repeats
    pos = records.index.to_numpy()
    valid = ~problems.bad_rows(n)[pos] & records["id"].notna().to_numpy()
    ids = records["id"].where(valid)
    later = (ids.duplicated(keep="first") & ids.notna()).to_numpy()
    if not later.any():
        return repeats
    kept = records.loc[valid].drop_duplicates("id").set_index("id")
    # Only the rows of repeated ids are here (a few in a file): a dict keeps the int64 hashes exact.
    first_hash = dict(zip(kept.index, kept["_hash"].tolist(), strict=True))
    same = np.array([first_hash.get(i) == h for i, h in zip(ids.tolist(), records["_hash"].tolist(), strict=True)])
    conflict = later & ~same
    repeats[pos] = later & same
    if conflict.any():
        content = [c for c in records.columns if c not in ("id", "_hash", "_row")]
        reasons = pd.Series("", index=pd.RangeIndex(n), dtype="string")
        values = pd.Series(pd.NA, index=pd.RangeIndex(n), dtype="string")
        for i in np.flatnonzero(conflict):
            row = records.iloc[i]
            first = kept.loc[row["id"]]
            differ = [c for c in content if not (pd.isna(row[c]) and pd.isna(first[c])) and
                      (pd.isna(row[c]) or pd.isna(first[c]) or row[c] != first[c])]
            shown = ", ".join(f"{c} {_shown(row[c])} (kept: {_shown(first[c])})" for c in differ)
            reasons.iloc[pos[i]] = (f"duplicate id with different content from row {int(first['_row'])}, which was "
                                    f"kept: {shown}")
            values.iloc[pos[i]] = str(row["id"])
        problems.add(_spread(conflict, pos, n), "id", values, reasons,
                     "keep this one instead: estgeo quarantine accept --use new")
    return repeats


def _shown(value: Any) -> str:
    return "empty" if pd.isna(value) else f"'{value}'"


def _spread(values: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[pos] = values
    return out


def _quarantine_rows(settings: Settings, store: Store, table: RawTable, problems: Problems, kind: str, run_id: str) -> None:
    found = problems.frame()
    frame = table.frame
    entries = []
    if not found.empty:
        pos = found["pos"].to_numpy()
        raw = frame.iloc[np.unique(pos)]
        rows = raw.to_dict(orient="records")
        if table.gx is not None and table.gy is not None:
            # A point that came as a geometry (GeoJSON, GeoPackage) travels with the row,
            # so that `estgeo quarantine retry` can read it again.
            for r, i in zip(rows, np.unique(pos), strict=True):
                if not (np.isnan(table.gx[i]) or np.isnan(table.gy[i])):
                    r[GEOMETRY_KEY] = [float(table.gx[i]), float(table.gy[i]), table.geometry_crs or ""]
        as_json = pd.Series([json.dumps({k: v for k, v in r.items() if k == GEOMETRY_KEY or pd.notna(v)},
                                        ensure_ascii=False, default=str) for r in rows], index=np.unique(pos))
        entries.append(pd.DataFrame({
            "row": table.row[pos],
            "field": found["field"].to_numpy(),
            "value": found["value"].to_numpy(),
            "reason": found["reason"].to_numpy(),
            "suggestion": found["suggestion"].to_numpy(),
            "record": as_json.loc[pos].to_numpy(),
        }))
    if table.broken:
        entries.append(pd.DataFrame([{"row": r, "field": "row", "value": text[:200], "reason": reason,
                                      "suggestion": "", "record": text} for r, reason, text in table.broken]))
    if not entries:
        return
    out = pd.concat(entries, ignore_index=True).assign(run=run_id, kind=kind, file=display_name(table.path), at=run_id)
    store.add_quarantine(out)
    write_quarantine_csv(settings, out, f"{run_id}_{display_name(table.path.with_suffix(''))}.csv")


#: The key of a quarantined row's own point in its stored record (x, y, CRS).
GEOMETRY_KEY = "_geometry"


def _record_notes(store: Store, table: RawTable, problems: Problems, kept: np.ndarray, kind: str, run_id: str) -> int:
    """Store the notes about rows that were ingested (quarantined rows have their reasons)."""
    if problems.notes is None:
        return 0
    found = problems.notes.frame()
    found = found[kept[found["pos"].to_numpy(dtype=np.int64)]]
    if found.empty:
        return 0
    store.add_notes(pd.DataFrame({"run": run_id, "kind": kind, "file": display_name(table.path),
                                  "row": table.row[found["pos"].to_numpy(dtype=np.int64)], "field": found["field"].to_numpy(),
                                  "value": found["value"].to_numpy(), "note": found["reason"].to_numpy()}))
    return int(found["pos"].nunique())


#: Excel keeps at most 32,767 characters in a cell; longer cells break the row in two.
EXCEL_CELL_LIMIT = 32_000


def write_quarantine_csv(settings: Settings, entries: pd.DataFrame, name: str) -> Path:
    """A human-readable copy of the quarantine entries, safe to open in Excel."""
    settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
    path = settings.quarantine_dir / name
    cols = ["file", "row", "field", "value", "reason", "suggestion", "record"]
    safe = entries[cols].astype("string").apply(neutralise_formulas)
    long = safe.apply(lambda col: col.str.len() > EXCEL_CELL_LIMIT).fillna(False)
    if long.to_numpy().any():
        # The whole value stays in the store's quarantine table; the CSV is for reading.
        safe = safe.where(~long, safe.apply(lambda col: col.str.slice(0, EXCEL_CELL_LIMIT)
                                            + " … (cut; " + col.str.len().astype("string") + " characters in all)"))
    safe.to_csv(path, index=False, encoding="utf-8-sig", sep=";")
    return path


def neutralise_formulas(col: pd.Series) -> pd.Series:
    """Prefix cells that a spreadsheet would run as a formula (CSV injection)."""
    return col.where(~col.str.match(r"^[=+\-@\t\r]", na=False), "'" + col)


def _reject_file(settings: Settings, store: Store, path: Path, kind: str, source: str, reason: str,
                 run_id: str, rows: int, keep_copy: bool = True) -> IngestSummary:
    """A file that cannot be read at all is kept whole in the quarantine with its reason
    (a copy of its bytes only when it is a regular file: never what a link points at,
    never a device)."""
    settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
    name = display_name(path)
    kept = settings.quarantine_dir / f"{run_id}_{name}"
    try:
        if keep_copy and regular_file_problem(path) is None:
            shutil.copyfile(path, kept, follow_symlinks=False)
        kept.with_name(kept.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        store.add_quarantine(pd.DataFrame([{"run": run_id, "kind": kind, "file": name, "row": 0, "field": "file",
                                            "value": "", "reason": reason, "suggestion": "", "record": "", "at": run_id}]))
        summary = IngestSummary(file=display_path(path), kind=kind, source=source, read=rows, quarantined=rows, error=reason)
        store.add_run({**asdict(summary), "run": run_id, "at": run_id})
    except Exception as exc:
        if is_disk_full(exc):
            raise DiskFull(errno.ENOSPC, f"the disk is full: {name} was not ingested "
                                         f"(free space for {settings.workspace} and run the ingest again)") from exc
        raise
    return summary


def display_path(path: Path) -> str:
    """`display_name` for a whole path."""
    return os.fsencode(str(path)).decode("utf-8", "replace")
