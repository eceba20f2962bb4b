"""`estgeo sources suggest FILE`: the mapping ingest would use, a preview, and a file to keep.

The preview validates the first rows exactly as ingest will (`validate`), so what it
shows — position in SWEREF 99 TM, the time window in local time, the category code, and
each row's problems — is what the store will hold, not a guess.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from rich.markup import escape
from rich.table import Table

from estgeo.config import Settings, normalise_label
from estgeo.errors import EstgeoError
from estgeo.ingest.mapping import choose_source
from estgeo.ingest.pipeline import decide_source, display_name, slice_rows, validate
from estgeo.ingest.readers import read_table
from estgeo.ingest.recognise import Recognition


class SuggestError(EstgeoError):
    """The mapping cannot be written (the name is taken, or not a valid file name)."""


def suggest(settings: Settings, file: Path, kind: str | None, sheet: str | None) -> Recognition:
    """What ingest would read `file` with (raises the refusal ingest would give)."""
    table = read_table(file, sheet=sheet)
    chosen = choose_source(settings, file, kind, None)
    source, recognised = decide_source(settings, table, display_name(file), kind, chosen, explicit=False)
    if recognised:
        return Recognition(source["kind"], source, [], [], [], said=recognised)
    used = [(str(c), name) for name, c in (source.get("columns") or {}).items()]
    mapped = {p for c in (source.get("columns") or {}).values() for p in (c if isinstance(c, list) else [c])}
    unplaced = [str(c) for c in table.frame.columns if str(c) not in mapped]
    return Recognition(source["kind"], source, used, unplaced, [],
                       said=f"read with the mapping '{source['name']}' ({source.get('_path')}), as written")


def preview(settings: Settings, file: Path, found: Recognition, sheet: str | None, rows: int) -> Table:
    """The first `rows` rows as ingest would read them."""
    table = read_table(file, sheet=sheet)
    head = slice_rows(table, 0, min(rows, len(table.frame)))
    records, problems = validate(settings, head, found.source, found.kind, found.source.get("crs"))
    issues = problems.frame()
    fields = settings.model[found.kind]["fields"]
    mapped = found.source.get("columns") or {}
    code = next((n for n, f in fields.items() if f["type"] in ("code", "codes") and f.get("required") and n in mapped),
                next((n for n, f in fields.items() if f["type"] in ("code", "codes") and f.get("required")), None))
    moment = next((n for n, f in fields.items() if f["type"] in ("datetime", "date") and f.get("required")), None)
    end = next((n for n, f in fields.items() if f.get("window_end_of") == moment), None)
    view = Table(title=f"{display_name(file)}: the first {len(head.frame)} rows as estgeo reads them ({found.kind})")
    for col in ("row", "id", code or "", "when (local time)", "E, N (EPSG:3006)", "problems"):
        if col:
            view.add_column(col, overflow="fold")
    zone = settings.time_zone
    for i in range(len(head.frame)):
        record = records.iloc[i]
        when = _local(record.get(moment), zone) if moment else ""
        if end and pd.notna(record.get(end)) and record.get(end) != record.get(moment):
            when += " – " + _local(record.get(end), zone)
        where = "" if pd.isna(record["x"]) else f"{record['x']:.1f}, {record['y']:.1f}"
        if "placed_by" in record and record["placed_by"] not in (None, "koordinater") and where:
            where += f" ({record['placed_by']})"
        found_here = issues[issues["pos"] == i] if not issues.empty else issues
        text = "; ".join(f"{r.field}: {r.reason}" for r in found_here.itertuples()) or "ok"
        cells = [str(head.row[i]), str(record["id"]), *([str(record.get(code))] if code else []), when, where, escape(text)]
        view.add_row(*cells)
    return view


def _local(value: Any, zone: str) -> str:
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.tz_convert(zone).strftime("%Y-%m-%d %H:%M")
    return str(value)


def file_pattern(file: Path) -> str:
    """A pattern for the next exports of the same kind: the name with its digits as '*'
    ("polisen_export_v45.csv" → "polisen_export_v*.csv")."""
    stem = re.sub(r"\d+", "*", file.stem)
    stem = re.sub(r"\*[^A-Za-zÅÄÖåäö]*\*", "*", stem)
    return f"{stem}{file.suffix.lower()}"


def write_mapping(settings: Settings, file: Path, found: Recognition, name: str) -> Path:
    """Write the mapping to config/sources/NAME.yml (never over an existing one)."""
    if normalise_label(name).replace("_", "-") != name.lower().replace("_", "-") or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise SuggestError(f"'{name}': a mapping's name is letters, digits, '-' and '_' (it becomes config/sources/{name}.yml)")
    path = settings.config_dir / "sources" / f"{name}.yml"
    if path.exists():
        raise SuggestError(f"{path} exists already: choose another name, or edit that file")
    source = found.source
    mapping: dict[str, Any] = {"name": name, "kind": found.kind, "match": [file_pattern(file)]}
    for key in ("id_prefix", "crs", "defaults", "vocabulary"):
        if source.get(key):
            mapping[key] = source[key]
    mapping["columns"] = source.get("columns") or {}
    header = (f"# Written by `estgeo sources suggest {display_name(file)} --write {name}` on "
              f"{datetime.now(UTC):%Y-%m-%d}: {found.kind}, recognised from the file's columns.\n"
              "# Edit freely: `columns` maps each field to the export's column (a list joins a date and a\n"
              "# time), `defaults` fills fields the export lacks, `match` picks the files it is used for.\n")
    path.write_text(header + yaml.safe_dump(mapping, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
