"""Readers: one per input kind (CSV, GeoJSON, GeoPackage), each giving a `RawTable`.

A reader does not interpret values: every attribute arrives as text, exactly as the
file had it, so that validation can quote the original value in the quarantine.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


class UnreadableFile(Exception):
    """The file as a whole cannot be read (empty, not the format its name says, …)."""


@dataclass
class RawTable:
    """The rows of one input file, as text, with 1-based row numbers.

    `row` numbers the data rows as a person counts them in a spreadsheet with a header
    (first data row = 2) or features in a GeoJSON file (first = 1). Points that came as
    geometries are in `gx`/`gy` with `geometry_crs`; coordinates in columns stay in `frame`.
    `broken` holds rows that could not even be split into fields (row, reason, raw text).
    """

    path: Path
    frame: pd.DataFrame
    row: np.ndarray
    gx: np.ndarray | None = None
    gy: np.ndarray | None = None
    geometry_crs: str | None = None
    geometry_problem: np.ndarray | None = None
    broken: list[tuple[int, str, str]] = field(default_factory=list)
    encoding: str = "utf-8"


def decode(data: bytes) -> tuple[str, str]:
    """Text of a file in UTF-8 (with or without BOM) or Windows-1252, line by line if mixed.

    Swedish Excel saves CSV as Windows-1252; other systems write UTF-8; files stitched
    together from both exist. Decoding each line on its own keeps both kinds readable.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _UTF8_MULTIBYTE.search(data) is None:
        # No UTF-8 sequence anywhere: a plain Windows-1252 file, decoded in one go.
        return data.decode("cp1252", errors="replace"), "windows-1252"
    lines = data.split(b"\n")
    out = []
    mixed = False
    for line in lines:
        try:
            out.append(line.decode("utf-8"))
            mixed = mixed or any(b > 0x7F for b in line)
        except UnicodeDecodeError:
            out.append(line.decode("cp1252", errors="replace"))
    return "\n".join(out), ("mixed utf-8/windows-1252" if mixed else "windows-1252")


def sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (";", ",", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_csv(path: Path) -> RawTable:
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFile("the file is empty")
    text, encoding = decode(data)
    header = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(header)
    try:
        frame = pd.read_csv(
            io.StringIO(text) if encoding != "utf-8" else io.BytesIO(data.removeprefix(b"\xef\xbb\xbf")),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            engine="pyarrow",
        )
        broken: list[tuple[int, str, str]] = []
        rows = np.arange(2, len(frame) + 2)
    except Exception:
        # Ragged rows (a truncated export, a stray delimiter): read line by line and
        # keep every row that does not split into the header's fields as broken.
        frame, rows, broken = _read_csv_tolerant(text, delimiter)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.columns.duplicated().any():
        raise UnreadableFile(f"duplicate column names: {', '.join(frame.columns[frame.columns.duplicated()])}")
    return RawTable(path=path, frame=frame.reset_index(drop=True), row=rows, broken=broken, encoding=encoding)


def _read_csv_tolerant(text: str, delimiter: str) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, str, str]]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration as exc:
        raise UnreadableFile("the file has no header row") from exc
    good: list[list[str]] = []
    rows: list[int] = []
    broken: list[tuple[int, str, str]] = []
    try:
        for record in reader:
            line = reader.line_num
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                broken.append((line, f"has {len(record)} fields, the header has {len(header)} (truncated or wrong delimiter?)", delimiter.join(record)))
                continue
            good.append(record)
            rows.append(line)
    except csv.Error as exc:
        broken.append((reader.line_num, f"cannot be parsed as CSV: {exc}", ""))
    frame = pd.DataFrame(good, columns=[h.strip() for h in header], dtype="string")
    frame = frame.mask(frame.apply(lambda col: col.str.strip() == ""))
    return frame, np.asarray(rows, dtype=np.int64), broken


def read_geojson(path: Path) -> RawTable:
    """GeoJSON FeatureCollection; a feature without a usable point is kept as a problem row."""
    text, encoding = decode(path.read_bytes())
    if not text.strip():
        raise UnreadableFile("the file is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise UnreadableFile("not a GeoJSON FeatureCollection (no 'features' list)")
    props = [f.get("properties") or {} if isinstance(f, dict) else {} for f in features]
    frame = pd.DataFrame.from_records(props).astype("string") if props else pd.DataFrame()
    gx = np.full(len(features), np.nan)
    gy = np.full(len(features), np.nan)
    problem = np.full(len(features), "", dtype=object)
    for i, feature in enumerate(features):
        geom = feature.get("geometry") if isinstance(feature, dict) else None
        if geom is None:
            continue
        coords = geom.get("coordinates") if isinstance(geom, dict) else None
        if not isinstance(geom, dict) or geom.get("type") != "Point":
            problem[i] = f"geometry must be a Point, not {geom.get('type') if isinstance(geom, dict) else type(geom).__name__}"
        elif not (isinstance(coords, list) and len(coords) >= 2 and all(isinstance(c, (int, float)) for c in coords[:2])):
            problem[i] = "Point has no valid coordinates"
        else:
            gx[i], gy[i] = float(coords[0]), float(coords[1])
    crs = None
    if isinstance(doc.get("crs"), dict):
        crs = (doc["crs"].get("properties") or {}).get("name")
    return RawTable(
        path=path,
        frame=frame,
        row=np.arange(1, len(features) + 1),
        gx=gx,
        gy=gy,
        # RFC 7946 GeoJSON is WGS 84 lon/lat unless a (legacy) crs member says otherwise.
        geometry_crs=crs or "EPSG:4326",
        geometry_problem=problem,
        encoding=encoding,
    )


def read_gpkg(path: Path) -> RawTable:
    import pyogrio

    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:
        raise UnreadableFile(f"cannot be read as a GeoPackage: {exc}") from exc
    geometry = frame.geometry
    problem = np.full(len(frame), "", dtype=object)
    is_point = (geometry.geom_type == "Point").to_numpy(dtype=bool)
    empty = (geometry.isna() | geometry.is_empty).to_numpy(dtype=bool)
    problem[~is_point & ~empty] = "geometry must be a Point"
    import shapely

    points = np.where(is_point & ~empty, geometry.to_numpy(), None)
    gx = shapely.get_x(points)
    gy = shapely.get_y(points)
    attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for col in attrs.columns:
        if pd.api.types.is_datetime64_any_dtype(attrs[col]):
            attrs[col] = attrs[col].dt.strftime("%Y-%m-%dT%H:%M:%S")
    crs = frame.crs.to_string() if frame.crs is not None else None
    return RawTable(
        path=path,
        frame=attrs.astype("string"),
        row=np.arange(1, len(frame) + 1),
        gx=gx,
        gy=gy,
        geometry_crs=crs,
        geometry_problem=problem,
    )


READERS = {".csv": read_csv, ".txt": read_csv, ".geojson": read_geojson, ".json": read_geojson, ".gpkg": read_gpkg}


def read_table(path: Path) -> RawTable:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(f"unknown file type '{path.suffix}' (expected {', '.join(READERS)})")
    return reader(path)
