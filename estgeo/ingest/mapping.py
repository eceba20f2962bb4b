"""Column mappings per source organisation (config/sources/*.yml).

Each organisation's export has its own column names; a mapping says which column holds
which canonical field, so an export is ingested as it comes, with no hand editing. A
file without a mapping is read by the canonical names of its kind.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from estgeo.config import Settings, normalise_label
from estgeo.errors import EstgeoError

#: Column names understood for the two coordinates when a mapping names none.
COORDINATE_NAMES = [("x", "y"), ("e", "n"), ("easting", "northing"), ("lon", "lat"), ("long", "lat"),
                    ("longitude", "latitude"), ("lng", "lat"), ("ost", "nord")]


#: Two numbers in one cell: "6634672, 395936", "59.37 13.50", "6634672;395936".
PAIR = r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*(?:[;,/]\s*|\s+)([+-]?\d+(?:[.,]\d+)?)\s*$"


class MappingError(EstgeoError):
    """The file cannot be matched to a source or a kind; the message says what to do."""


def choose_source(settings: Settings, path: Path, kind: str | None, source: str | None) -> dict[str, Any] | None:
    """The mapping for a file: by name (`--source`), else by file-name pattern, else None
    (the columns are then recognised, `estgeo.ingest.recognise`)."""
    if source:
        for candidate in settings.sources:
            if candidate["name"] == source:
                return candidate
        names = ", ".join(s["name"] for s in settings.sources)
        raise MappingError(f"no source mapping named '{source}' in {settings.config_dir / 'sources'} (known: {names})")
    for candidate in settings.sources:
        if kind and candidate["kind"] != kind:
            continue
        if any(fnmatch.fnmatch(path.name.lower(), pattern.lower()) for pattern in candidate.get("match", [])):
            return candidate
    return None


def lacking_columns(frame: pd.DataFrame, source: dict[str, Any], fields: dict[str, Any], geometry: bool) -> list[str]:
    """The columns a mapping names for required fields (and coordinates) that the file
    lacks, as "'Ärendenummer' (for id)". An optional column may be absent (an export
    without "Anmäld" simply has no report times); `geometry`: the rows have points."""
    _, missing = map_columns(frame.iloc[:0], source, fields)
    needed = {name for name, spec in fields.items() if spec.get("required")}
    if not geometry and "address" not in (source.get("columns") or {}):
        needed |= {"x", "y"}
    return [text for name, text in missing if name in needed]


def _find_column(frame: pd.DataFrame, name: str) -> str | None:
    folded = {normalise_label(c): c for c in frame.columns}
    return frame.columns[frame.columns.get_loc(name)] if name in frame.columns else folded.get(normalise_label(name))


def map_columns(frame: pd.DataFrame, source: dict[str, Any], fields: dict[str, Any],
                only: list[str] | None = None) -> tuple[dict[str, pd.Series], list[tuple[str, str]]]:
    """Raw text column per canonical field (and 'x'/'y' for coordinates).

    A mapping entry is a column name, or a list of columns joined with a space (a date
    and a time in two columns). Returns the columns found and the mapped columns the
    file lacks, as (field, description) pairs. `only` limits the work to some fields.
    """
    mapping: dict[str, Any] = dict(source.get("columns") or {})
    found: dict[str, pd.Series] = {}
    missing: list[tuple[str, str]] = []
    for name in only or [*fields, "x", "y", "address"]:
        wanted = mapping.get(name)
        if isinstance(wanted, dict):
            # Both coordinates in one column ("6634672, 395936"): {column: C, part: 1|2}.
            column = _find_column(frame, str(wanted.get("column")))
            if column is None:
                missing.append((name, f"'{wanted.get('column')}' (for {name})"))
                continue
            halves = frame[column].astype("string").str.extract(PAIR)
            found[name] = halves[int(wanted.get("part", 1)) - 1].astype("string")
            continue
        if wanted is None:
            column = _find_column(frame, name)
            if column is not None:
                found[name] = frame[column]
            continue
        parts = wanted if isinstance(wanted, list) else [wanted]
        columns = [_find_column(frame, part) for part in parts]
        if columns[0] is None:
            missing.append((name, f"'{parts[0]}' (for {name})"))
            continue
        series = frame[columns[0]].astype("string")
        present = [extra for extra in columns[1:] if extra is not None]
        if present:
            # Arrow kernels join the parts (a date and a clock) for all rows at once.
            def text(column: str) -> pa.Array:
                values = pa.array(frame[column].astype("string[pyarrow]").array)
                return values.cast(pa.large_string()).fill_null("")

            joined = text(columns[0])
            for extra in present:
                joined = pc.utf8_trim_whitespace(pc.binary_join_element_wise(joined, text(extra), pa.scalar(" ", pa.large_string())))
            series = pd.Series(pd.arrays.ArrowStringArray(joined), index=frame.index)
        found[name] = series.mask(series == "")
    if only is None and ("x" not in found or "y" not in found):
        for a, b in COORDINATE_NAMES:
            ca, cb = _find_column(frame, a), _find_column(frame, b)
            if ca is not None and cb is not None:
                found["x"], found["y"] = frame[ca], frame[cb]
                break
    return found, missing
