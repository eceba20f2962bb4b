"""Ingest: every reader, every rejection reason, the summary invariant, idempotency."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from estgeo.ingest.pipeline import ingest_file

DATA = Path(__file__).resolve().parents[1] / "data"


def quarantine_by_row(store) -> dict[int, list[tuple[str, str]]]:
    q = store.read_quarantine()
    out: dict[int, list[tuple[str, str]]] = {}
    for _, r in q.iterrows():
        out.setdefault(int(r["row"]), []).append((r["field"], r["reason"]))
    return out


def test_police_csv_windows1252_semicolon_swapped_xy_mixed_good_and_bad(settings, store):
    summary = ingest_file(settings, store, DATA / "polisen_blandat.csv")
    assert summary.source == "polisen" and summary.kind == "incidents"
    assert summary.read == 12
    assert (summary.ingested, summary.updated, summary.unchanged, summary.quarantined) == (5, 0, 1, 6)
    assert summary.balanced()

    incidents = store.read("incidents").set_index("id")
    # X = northing, Y = easting in the police file: stored as easting/northing.
    assert incidents.loc["polis-P-1", ["x", "y"]].tolist() == [395936.0, 6634672.0]
    assert incidents.loc["polis-P-1", "category"] == "skadegorelse"
    assert incidents.loc["polis-P-1", "precision_m"] == 12.5  # decimal comma
    assert incidents.loc["polis-P-2", "category"] == "hot_vald"  # 'hot/vald' without å
    # 22.15 (Swedish clock) local CET = 21:15 UTC.
    assert incidents.loc["polis-P-2", "occurred_from"] == pd.Timestamp("2025-11-04T21:15Z")
    assert incidents.loc["polis-P-2", "occurred_to"] == pd.Timestamp("2025-11-04T22:00Z")
    # The autumn overlap hour happened twice: the window spans both.
    assert incidents.loc["polis-P-8", "occurred_from"] == pd.Timestamp("2025-10-26T00:30Z")
    assert incidents.loc["polis-P-8", "occurred_to"] == pd.Timestamp("2025-10-26T01:30Z")
    # Date only: the whole local day.
    assert incidents.loc["polis-P-9", "occurred_from"] == pd.Timestamp("2025-11-07T23:00Z")
    assert incidents.loc["polis-P-9", "occurred_to"] == pd.Timestamp("2025-11-08T23:00Z")
    # WGS 84 written into the X/Y columns is still recognised as Sunne.
    assert incidents.loc["polis-P-11", "x"] == pytest.approx(395936, abs=2)
    assert incidents.loc["polis-P-11", "y"] == pytest.approx(6634672, abs=2)

    reasons = quarantine_by_row(store)
    assert reasons[4] == [("occurred_from", "this local time does not exist in Europe/Stockholm (daylight-saving gap)")]
    assert reasons[5][0][0] == "category" and reasons[5][0][1].startswith("unknown category")
    assert reasons[6][0][0] == "occurred_from" and "not a date/time" in reasons[6][0][1]
    assert reasons[7][0][0] == "geometry" and "outside the municipality of Sunne" in reasons[7][0][1]
    assert reasons[8] == [("category", "required field is empty or missing")]
    assert reasons[12][0][0] == "geometry" and "no coordinates" in reasons[12][0][1]
    q = store.read_quarantine()
    assert q.loc[q["row"] == 5, "suggestion"].item() == "did you mean 'skadegorelse'?"
    assert set(q["file"]) == {"polisen_blandat.csv"}


def test_reingest_is_idempotent_and_changed_rows_are_updates(settings, store, tmp_path):
    first = ingest_file(settings, store, DATA / "polisen_blandat.csv")
    again = ingest_file(settings, store, DATA / "polisen_blandat.csv")
    assert again.ingested == 0 and again.updated == 0 and again.unchanged == first.ingested + first.unchanged
    assert store.count("incidents") == first.ingested

    edited = tmp_path / "polisen_rattad.csv"
    text = (DATA / "polisen_blandat.csv").read_bytes().decode("cp1252").replace("Krossad ruta vid torget", "Krossad ruta, rättad")
    edited.write_bytes(text.encode("cp1252"))
    third = ingest_file(settings, store, edited)
    assert third.updated == 1 and third.ingested == 0 and third.balanced()
    assert store.read("incidents").set_index("id").loc["polis-P-1", "description"] == "Krossad ruta, rättad"


def test_housing_csv_utf8_bom_wgs84_decimal_comma(settings, store):
    summary = ingest_file(settings, store, DATA / "bostadsbolaget_arenden.csv")
    assert summary.source == "bostadsbolaget"
    assert (summary.read, summary.ingested, summary.quarantined) == (5, 2, 3) and summary.balanced()
    incidents = store.read("incidents").set_index("id")
    assert incidents.loc["bb-B-100", "x"] == pytest.approx(395936, abs=2)
    assert incidents.loc["bb-B-100", "source_org"] == "bostadsbolag"
    assert incidents.loc["bb-B-101", "category"] == "nedskrapning"
    reasons = quarantine_by_row(store)
    assert reasons[4] == [("occurred_to", "occurred_to is before occurred_from")]
    assert reasons[5][0][0] == "assessment" and "outside the allowed range 1–5" in reasons[5][0][1]
    assert reasons[6][0][0] == "geometry"


def test_geojson_with_offsets_bad_geometries_and_unknown_org(settings, store):
    summary = ingest_file(settings, store, DATA / "est-app_sample.geojson")
    assert (summary.read, summary.ingested, summary.quarantined) == (5, 2, 3) and summary.balanced()
    incidents = store.read("incidents").set_index("id")
    assert incidents.loc["app-A-1", "occurred_from"] == pd.Timestamp("2025-11-03T20:40Z")
    assert bool(incidents.loc["app-A-2", "police_reported"]) is True
    assert incidents.loc["app-A-2", "source_org"] == "vaktare"
    reasons = quarantine_by_row(store)
    assert reasons[3] == [("geometry", "geometry must be a Point, not LineString")]
    assert reasons[4][0][0] == "geometry"
    # Stockholm is in Sweden but not in Sunne; the org is unknown too: both reported.
    fields = {f for f, _ in reasons[5]}
    assert fields == {"geometry", "source_org"}


def test_geopackage_lights_with_asset_system_names(settings, store):
    summary = ingest_file(settings, store, DATA / "belysning_test.gpkg")
    assert summary.source == "belysning" and summary.kind == "lights"
    assert (summary.read, summary.ingested, summary.quarantined) == (3, 2, 1) and summary.balanced()
    lights = store.read("lights").set_index("id")
    assert lights.loc["BP-2", "status"] == "slackt" and lights.loc["BP-2", "lamp_type"] == "hogtrycksnatrium"
    assert lights.loc["BP-2", "owner"] == "trafikverket"
    assert quarantine_by_row(store)[3] == [("geometry", "geometry must be a Point")]


def test_rt90_lights_with_declared_and_detected_crs(settings, store):
    detected = ingest_file(settings, store, DATA / "lights_rt90.csv", kind="lights")
    assert (detected.read, detected.ingested, detected.quarantined) == (5, 3, 2) and detected.balanced()
    lights = store.read("lights").set_index("id")
    # RT90 2.5 gon V (1350763.36, 6638238.38) is Sunne's centre: E 395936, N 6634672.
    assert lights.loc["L-1", "x"] == pytest.approx(395936.3, abs=0.5)
    assert lights.loc["L-1", "y"] == pytest.approx(6634671.9, abs=0.5)
    assert lights.loc["L-3", "owner"] == "vagforening"
    reasons = quarantine_by_row(store)
    assert reasons[5][0][0] == "pole_height_m"
    assert reasons[6][0][0] == "status" and reasons[6][0][1].startswith("unknown status")


def test_declared_crs_that_does_not_fit_is_reported(settings, store):
    summary = ingest_file(settings, store, DATA / "lights_rt90.csv", kind="lights", crs="EPSG:3006")
    assert summary.ingested == 0 and summary.balanced()
    q = store.read_quarantine()
    assert q["reason"].str.contains("do not fit Sweden in the declared EPSG:3006").any()


def test_walk_observations_with_problem_lists(settings, store):
    summary = ingest_file(settings, store, DATA / "trygghetsvandring_test.csv")
    assert summary.kind == "walks" and (summary.ingested, summary.quarantined) == (2, 2) and summary.balanced()
    walks = store.read("walks").set_index("id")
    assert walks.loc["tv-1", "problems"] == "belysning_dalig,skymd_sikt"
    assert walks.loc["tv-1", "light_condition"] == "morker"
    assert walks.loc["tv-2", "status"] == "atgardad" and walks.loc["tv-2", "resolved_at"] == "2026-01-15"
    reasons = quarantine_by_row(store)
    assert reasons[4][0][0] == "problems" and "unknown problems" in reasons[4][0][1]
    assert reasons[5] == [("problems", "required field is empty or missing")]


def test_interventions_have_no_coordinates_of_their_own(settings, store):
    summary = ingest_file(settings, store, DATA / "atgarder.csv")
    assert summary.kind == "interventions" and (summary.ingested, summary.quarantined) == (2, 1)
    interventions = store.read("interventions").set_index("id")
    assert interventions.loc["atg-2", "decided_by"] == "strategisk"
    assert quarantine_by_row(store)[4][0][0] == "type"


def test_duplicate_ids_in_one_file(settings, store):
    summary = ingest_file(settings, store, DATA / "dubbletter.csv", kind="incidents")
    # D-1 twice, identical: once ingested, once unchanged. D-2 twice, differing: the first
    # copy kept (the incident stays on the map), the second quarantined with what differs.
    assert (summary.read, summary.ingested, summary.unchanged, summary.quarantined) == (5, 3, 1, 1)
    assert store.read("incidents").set_index("id").loc["D-2", "category"] == "klotter"
    q = store.read_quarantine()
    assert q[["row", "field", "reason"]].values.tolist() == [
        [5, "id", "duplicate id with different content from row 4, which was kept: category 'brand' (kept: 'klotter')"]]
    assert q["suggestion"].iloc[0] == "keep this one instead: estgeo quarantine accept --use new"


def test_truncated_file_keeps_its_good_rows(settings, store):
    summary = ingest_file(settings, store, DATA / "trunkerad.csv", kind="incidents")
    assert (summary.read, summary.ingested, summary.quarantined) == (4, 2, 2) and summary.balanced()
    q = store.read_quarantine()
    assert sorted(q["row"].tolist()) == [3, 5]
    assert q["reason"].tolist() == [
        "has 5 fields, the header has 6 (truncated or wrong delimiter?)",
        "has 3 fields, the header has 6 (truncated or wrong delimiter?)",
    ]


def test_empty_and_unknown_files_are_kept_whole_in_quarantine(settings, store, tmp_path):
    empty = ingest_file(settings, store, DATA / "tom.csv", kind="incidents")
    assert empty.error == "tom.csv: the file is empty" and empty.balanced()
    odd = tmp_path / "oklar.csv"
    odd.write_text("Färg;Vikt;Antal\nröd;12;3\nblå;7;1\n", encoding="utf-8")
    unknown = ingest_file(settings, store, odd)
    # Refused once, saying what it found, what it lacks and the command that fixes it.
    assert "cannot tell what this file holds" in unknown.error and "Columns: Färg, Vikt, Antal" in unknown.error
    assert "missing:" in unknown.error and "estgeo sources suggest oklar.csv" in unknown.error
    assert unknown.read == unknown.quarantined == 2 and unknown.balanced()
    kept = sorted(p.name for p in settings.quarantine_dir.iterdir())
    assert any(name.endswith("_tom.csv") for name in kept) and any(name.endswith("_oklar.csv.reason.txt") for name in kept)


def test_missing_mapped_column_refuses_the_file_once_or_is_recognised(settings, store, tmp_path):
    renamed = tmp_path / "polisen_fel_kolumn.csv"
    text = (DATA / "polisen_blandat.csv").read_bytes().decode("cp1252").replace("Händelsetyp", "Typ av händelse")
    renamed.write_bytes(text.encode("cp1252"))
    original = ingest_file(settings, store, DATA / "polisen_blandat.csv")
    before = len(store.read_quarantine())
    # Named with --source, the mapping must fit: one refusal, not a line per row and field.
    named = ingest_file(settings, store, renamed, source_name="polisen")
    assert named.ingested == 0 and named.quarantined == named.read == 12 and named.balanced()
    q = store.read_quarantine().iloc[before:]
    assert len(q) == 1 and q["field"].iloc[0] == "file"
    assert "names 'Händelsetyp' (for category), which the file lacks" in q["reason"].iloc[0]
    assert "Typ av händelse" in q["reason"].iloc[0] and "estgeo sources suggest" in q["reason"].iloc[0]
    # Matched by its name only, the mapping is a guess: the columns are recognised instead,
    # and the file reads exactly as the original does: every good row the same record.
    guessed = ingest_file(settings, store, renamed)
    assert "recognised as incidents" in guessed.recognised and "Typ av händelse → category" in guessed.recognised
    assert (guessed.read, guessed.quarantined) == (original.read, original.quarantined)
    assert (guessed.ingested, guessed.updated, guessed.unchanged) == (0, 0, original.ingested + original.unchanged)

def test_quarantine_csv_neutralises_formulas(settings, store, tmp_path):
    evil = tmp_path / "formel.csv"
    evil.write_text("id,source_org,category,occurred_from,x,y\nF-1,kommun,=cmd|' /C calc'!A0,2025-05-01 12:00,395936,6634672\n",
                    encoding="utf-8")
    summary = ingest_file(settings, store, evil, kind="incidents")
    assert summary.quarantined == 1
    written = next(settings.quarantine_dir.glob("*_formel.csv")).read_text(encoding="utf-8-sig")
    assert ";'=cmd|" in written and ";=cmd" not in written


def _ingest_everything(settings, store, files):
    summaries = [ingest_file(settings, store, path, kind="incidents") for path in files]
    records = store.read("incidents").sort_values("id").reset_index(drop=True)
    quarantine = store.read_quarantine()[["file", "row", "field", "value", "reason", "suggestion"]]
    quarantine = quarantine.sort_values(["file", "row", "field"]).reset_index(drop=True)
    counts = [(s.read, s.ingested, s.updated, s.unchanged, s.quarantined, s.notes) for s in summaries]
    return counts, records, quarantine


@pytest.mark.parametrize("chunk_rows", [1, 2, 3])
def test_chunked_ingest_decides_exactly_like_whole_file(settings, tmp_path, monkeypatch, chunk_rows):
    """Rows are validated and written chunk by chunk; copies of one id that fall in
    different chunks, bad rows and a later re-ingest with one change must come out as
    if the file had been validated whole."""
    from estgeo import store as store_module
    from estgeo.config import load_settings
    from estgeo.ingest import pipeline

    first = tmp_path / "utdrag.csv"
    first.write_text(
        "id,source_org,category,occurred_from,x,y\n"
        "D-1,kommun,klotter,2025-05-01 12:00,395936,6634672\n"
        "D-2,kommun,klotter,2025-05-02 12:00,395936,6634672\n"
        "D-3,kommun,okänd,2025-05-03 12:00,395936,6634672\n"
        "D-1,kommun,klotter,2025-05-01 12:00,395936,6634672\n"
        "D-4,kommun,larm,2025-10-26 02:30,395936,6634672\n"
        "D-2,kommun,brand,2025-05-02 12:00,395936,6634672\n"
        "D-5,kommun,larm,2025-05-05 12:00,395936,6634672\n", encoding="utf-8")
    second = tmp_path / "utdrag2.csv"
    second.write_text(
        "id,source_org,category,occurred_from,x,y\n"
        "D-1,kommun,klotter,2025-05-01 12:00,395936,6634672\n"
        "D-5,kommun,brand,2025-05-05 12:00,395936,6634672\n"
        "D-6,kommun,larm,2025-05-06 12:00,395936,6634672\n", encoding="utf-8")

    whole = _ingest_everything(settings, store_module.open_store(settings), [first, second])
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", chunk_rows)
    other = load_settings(workspace=tmp_path / "chunked")
    other.ensure_workspace()
    chunked = _ingest_everything(other, store_module.open_store(other), [first, second])

    assert whole[0] == [(7, 4, 0, 1, 2, 1), (3, 1, 1, 1, 0, 0)]
    assert chunked[0] == whole[0]
    pd.testing.assert_frame_equal(chunked[1], whole[1])
    pd.testing.assert_frame_equal(chunked[2], whole[2])


def test_embedded_first_load_builds_the_id_index_after_the_rows(settings, tmp_path):
    """The SQLite store loads an empty table without its id index and builds it at the
    commit: afterwards ids are unique exactly as before, and a load that fails leaves the
    index (and no rows) behind. A unit test of estgeo.store.Store, whatever the backend."""
    import sqlite3

    from estgeo.store import SqliteStore, id_index

    store = SqliteStore(tmp_path / "first-load.sqlite", settings.model)
    summary = ingest_file(settings, store, DATA / "polisen_blandat.csv")
    assert summary.ingested > 0
    with sqlite3.connect(store.path) as con:
        assert con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (id_index("incidents"),)).fetchone()[0].startswith(
            "CREATE UNIQUE INDEX")
        taken = con.execute('SELECT id FROM "incidents" LIMIT 1').fetchone()[0]
        with pytest.raises(sqlite3.IntegrityError):
            con.execute('INSERT INTO "incidents" (id) VALUES (?)', (taken,))

    empty = SqliteStore(tmp_path / "failed-load.sqlite", settings.model)
    records = store.read("incidents", columns=store.columns("incidents"))
    with pytest.raises(Exception, match="UNIQUE constraint failed"), empty.bulk_writer("incidents") as writer:
        writer.write(pd.concat([records, records.iloc[:1]]), records.iloc[:0])  # one id twice: the index refuses it
    with sqlite3.connect(empty.path) as con:
        assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (id_index("incidents"),)).fetchone()[0] == 1
        assert con.execute('SELECT count(*) FROM "incidents"').fetchone()[0] == 0
    assert ingest_file(settings, empty, DATA / "polisen_blandat.csv").ingested == summary.ingested


@pytest.mark.parametrize("values", [
    ["12", "13,5", None, "x"],
    [" 12", "13", None],
    ["12\t", "13"],
    ["\u00a012", "13"],
    ["12\u3000", "13"],
    ["", None, "a b", "ö"],
    ["åäö ", "Ö"],
])
def test_byte_shortcuts_agree_with_pandas(values):
    """`stripped` and `contains_any` read the Arrow buffers instead of every string; on
    whole and sliced columns they must answer as pandas' strip and contains do."""
    from estgeo.ingest.fields import contains_any, stripped

    column = pd.Series(values * 3, dtype="string[pyarrow]")
    for part in (column, column.iloc[2:], column.iloc[1:-1]):
        expected = part.str.strip()
        assert stripped(part).equals(expected), (list(part), list(stripped(part)))
        for needle in (" ", "\u00a0", ",", "ö"):
            assert contains_any(part, needle) == bool(part.str.contains(needle, regex=False).fillna(False).any()), needle
