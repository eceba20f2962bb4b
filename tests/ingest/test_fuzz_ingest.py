"""Property-based tests of the ingest parsers with hypothesis.

Whatever text a cell holds, the parsers return a value or a problem — never an
exception — and whatever bytes a file holds, reading it gives rows or a clear
`UnreadableFile`, and ingesting it keeps read = ingested + updated + unchanged +
quarantined. Coordinates in any of the three Swedish systems, in either axis order, land
on the same point.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estgeo.config import load_settings, normalise_label
from estgeo.ingest import fields as parse
from estgeo.ingest.coords import to_storage_crs
from estgeo.ingest.pipeline import ingest_file
from estgeo.ingest.problems import Problems
from estgeo.ingest.readers import UnreadableFile, read_csv, read_geojson
from estgeo.store import open_store

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = load_settings(workspace=tempfile.mkdtemp(prefix="estgeo-fuzz-"))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
#: Cells as exports really write them, and anything else.
CELL = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(["2025-03-30 02:30", "2025-10-26 02:30", "2025-02-30", "14.30", "2025-05-01T12:00:00+02:00",
                     "12,5", "1 250,0", "-0", "1e309", "NaN", "inf", "ja", "Nej", "Hot/Våld", "skadegörelse",
                     "=cmd|' /C calc'!A0", "0025-01-01", "9999-12-31 23:59", "\ufeff", "  ", "\x00"]),
    st.from_regex(r"\d{4}-\d{2}-\d{2}( \d{1,2}[:.]\d{2})?", fullmatch=True),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
COLUMN = st.lists(CELL, min_size=1, max_size=30).map(lambda v: pd.Series(v, dtype="string"))


def _checked(problems: Problems, n: int) -> None:
    frame = problems.frame()
    assert frame.empty or (frame["pos"].between(0, n - 1).all() and frame["reason"].str.len().gt(0).all())


@FUZZ
@given(COLUMN)
def test_number_parsers_never_raise(raw: pd.Series) -> None:
    problems = Problems()
    values = parse.parse_float(raw, "x", problems, [0, 100])
    ints = parse.parse_int(raw, "n", problems, [1, 5])
    flags = parse.parse_bool(raw, "b", problems)
    assert len(values) == len(ints) == len(flags) == len(raw)
    assert ((values >= 0) & (values <= 100)).where(values.notna(), True).all()
    _checked(problems, len(raw))


@FUZZ
@given(COLUMN)
def test_time_parsers_never_raise(raw: pd.Series) -> None:
    problems = Problems()
    moments = parse.parse_datetime(raw, "t", problems, "Europe/Stockholm")
    dates = parse.parse_date(raw, "d", problems)
    assert len(moments.start) == len(dates) == len(raw)
    # Where a moment was parsed, its window end is never before it.
    both = moments.start.notna() & moments.latest.notna()
    assert (moments.latest[both] >= moments.start[both]).all()
    years = moments.start.dropna().dt.year
    assert years.between(1899, 2101).all()
    _checked(problems, len(raw))


@FUZZ
@given(COLUMN)
def test_code_parsers_give_known_codes_or_a_problem(raw: pd.Series) -> None:
    problems = Problems()
    categories = SETTINGS.code_lists["categories"]
    codes = parse.parse_code(raw, "category", problems, categories)
    lists = parse.parse_codes(raw, "problems", problems, SETTINGS.code_lists["walk_problems"])
    assert set(codes.dropna()) <= set(categories.entries)
    for joined in lists.dropna():
        assert set(joined.split(",")) <= set(SETTINGS.code_lists["walk_problems"].entries)
    _checked(problems, len(raw))


@FUZZ
@given(st.text(max_size=60))
def test_label_folding_is_idempotent(text: str) -> None:
    assert normalise_label(normalise_label(text)) == normalise_label(text)


@FUZZ
@given(st.floats(365_000, 425_000), st.floats(6_595_000, 6_690_000), st.sampled_from(["EPSG:3006", "EPSG:4326", "EPSG:3021"]),
       st.booleans(), st.booleans())
def test_any_swedish_crs_and_axis_order_lands_on_the_same_point(east: float, north: float, crs: str, swap: bool,
                                                                  declare: bool) -> None:
    from pyproj import Transformer

    a, b = Transformer.from_crs("EPSG:3006", crs, always_xy=True).transform(east, north)
    if swap:
        a, b = b, a
    problems = Problems()
    x, y = to_storage_crs(pd.Series([a]), pd.Series([b]), crs if declare else None, "EPSG:3006", problems)
    assert problems.frame().empty
    assert x[0] == pytest.approx(east, abs=0.5) and y[0] == pytest.approx(north, abs=0.5)


HEADER = "id,source_org,category,occurred_from,occurred_to,x,y,description"


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(st.lists(CELL.map(lambda c: "" if c is None else c), min_size=1, max_size=10), max_size=12),
       st.sampled_from([",", ";", "\t"]), st.sampled_from(["utf-8", "cp1252", "utf-8-sig"]))
def test_any_csv_is_ingested_or_refused_and_stays_balanced(rows: list[list[str]], delimiter: str, encoding: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = load_settings(workspace=Path(tmp) / "ws")
        ws.ensure_workspace()
        store = open_store(ws)
        path = Path(tmp) / "fuzz.csv"
        text = "\n".join([HEADER.replace(",", delimiter), *(delimiter.join(r) for r in rows)])
        path.write_bytes(text.encode(encoding, errors="replace"))
        summary = ingest_file(ws, store, path, kind="incidents")
        assert summary.balanced()
        if not summary.error:
            q = store.read_quarantine()
            assert q.empty or q["row"].nunique() == summary.quarantined


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_read_as_csv_or_refused(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.csv"
        path.write_bytes(data)
        try:
            table = read_csv(path)
        except UnreadableFile as exc:
            assert str(exc)
            return
        assert len(table.row) == len(table.frame)


JSON = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
                    max_leaves=20)
FEATURE = st.fixed_dictionaries({"type": st.just("Feature"),
                                 "geometry": st.one_of(JSON, st.fixed_dictionaries(
                                     {"type": st.sampled_from(["Point", "LineString"]),
                                      "coordinates": st.lists(st.floats() | st.integers() | st.text(max_size=3), max_size=3)})),
                                 "properties": st.one_of(JSON, st.dictionaries(st.sampled_from(
                                     ["id", "source_org", "category", "occurred_from"]), CELL, max_size=4))})


@FUZZ
@given(st.one_of(JSON, st.fixed_dictionaries({"type": st.just("FeatureCollection"),
                                              "features": st.lists(st.one_of(FEATURE, JSON), max_size=6)})))
def test_any_json_reads_as_geojson_or_is_refused(doc: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.geojson"
        path.write_text(json.dumps(doc), encoding="utf-8")
        try:
            table = read_geojson(path)
        except UnreadableFile as exc:
            assert str(exc)
            return
        assert len(table.frame) == len(table.row) == len(table.gx)
        assert np.isfinite(table.gx[~np.isnan(table.gx)]).all()
