"""Partners' exports whose headers are in no mapping ingest as they come (issue: any
partner's export ingests without hand-written YAML).

Three exports as partners write them, each made here from known truth points:

* the police's: Windows-1252, semicolons, Swedish headers, X = northing, decimal commas,
  the police's own words for categories ("Misstänkt narkotikahandel");
* a guard company's: UTF-8, commas, short lower-case headers, RT90 2.5 gon V (EPSG:3021);
* the housing company's `.xlsx` log: a title row above the header, addresses and no
  coordinates, dates as Excel typed them (date cells, text, a bare day number).

Each is ingested with no mapping written and no flags; every good row must land within
1 m of its truth (or on its address point), every bad row be quarantined once with its
reason. Then the quarantine is worked through: retry after a synonym is added, accept a
conflict, drop with a reason, and `sources suggest --write`.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from click.testing import CliRunner
from pyproj import Transformer

from estgeo.cli import main
from estgeo.config import Settings, load_settings
from estgeo.ingest.pipeline import ingest_file
from estgeo.ingest.quarantine import Selection, accept, drop, open_entries, retry
from estgeo.store import Store, open_store

REPO = Path(__file__).resolve().parents[2]
#: Central Sunne, SWEREF 99 TM.
E0, N0 = 395_936.0, 6_634_672.0
CATEGORIES = [("Misstänkt narkotikahandel", "narkotika"), ("Skadegörelse", "skadegorelse"), ("Bilbrand", "brand"),
              ("Snatteri", "stold_inbrott"), ("Hot mot personal", "hot_vald"), ("Ungdomsgäng", "stork_folksamling"),
              ("Nedskräpning", "nedskrapning"), ("Inbrott", "stold_inbrott"), ("Klotter", "klotter")]


def _truth(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"e": E0 + rng.uniform(-900, 900, n), "n": N0 + rng.uniform(-900, 900, n),
                         "label": [CATEGORIES[i % len(CATEGORIES)][0] for i in range(n)],
                         "code": [CATEGORIES[i % len(CATEGORIES)][1] for i in range(n)]})


def police_export(path: Path) -> tuple[pd.DataFrame, dict[int, str]]:
    """38 rows; the truth of the good ones by id, and the bad rows' expected reasons."""
    truth = _truth(35, 1)
    lines = ["Händelsenummer;Datum;Klockslag;Händelsetyp;Plats;X;Y;Kommentar"]
    ids = []
    for i, r in truth.iterrows():
        comment = "=5 personer vid porten" if i == 3 else f"Rapport {i}"
        north = f"{r.n:.2f}".replace(".", ",")
        east = f"{r.e:.2f}".replace(".", ",")
        lines.append(f"5000-K{i:04d};2026-11-{1 + i % 28:02d};{20 + i % 4}:{i % 60:02d};{r.label};Torget;{north};{east};{comment}")
        ids.append(f"polis-5000-K{i:04d}")
    lines.append(f"5000-K9001;2026-11-05;21:00;Märklig företeelse;Torget;{N0:.0f};{E0:.0f};okänd sort")  # row 37
    lines.append(f"5000-K9002;2026-13-45;21:00;Klotter;Torget;{N0:.0f};{E0:.0f};fel datum")  # row 38
    lines.append(f"5000-K0001;2026-11-02;21:01;Bilbrand;Torget;{N0:.0f};{E0:.0f};samma id, annat innehåll")  # row 39
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return truth.assign(id=ids).set_index("id"), {37: "category", 38: "occurred_from", 39: "id"}


def guards_export(path: Path) -> pd.DataFrame:
    truth = _truth(20, 2)
    to_rt90 = Transformer.from_crs("EPSG:3006", "EPSG:3021", always_xy=True)
    e90, n90 = to_rt90.transform(truth["e"].to_numpy(), truth["n"].to_numpy())
    rows = ["nr,datum,tid,typ,x,y,info"]
    for i, r in truth.iterrows():
        rows.append(f"V{i},2026-10-{1 + i:02d},{1 + i % 5}:15,{r.label.lower()},{n90[i]:.2f},{e90[i]:.2f},rond {i}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return truth.assign(id=[f"vaktare-V{i}" for i in range(len(truth))]).set_index("id")


def write_register(settings: Settings) -> gpd.GeoDataFrame:
    """A small address register in the workspace, where config/municipality.yml points."""
    streets = ["Storgatan", "Kyrkogatan", "Skolgatan", "Östra Ringvägen"]
    rows, geoms = [], []
    for s, street in enumerate(streets):
        for number in range(1, 41):
            rows.append({"gatunamn": street, "nummer": str(number), "postnummer": "686 30"})
            geoms.append(shapely.Point(E0 + 20 * number, N0 + 200 * s))
    rows.append({"gatunamn": "Storgatan", "nummer": "12B", "postnummer": "686 30"})
    geoms.append(shapely.Point(E0 + 245, N0 + 5))
    register = gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:3006")
    path = settings.workspace / "reference" / "adresser.gpkg"
    path.parent.mkdir(parents=True, exist_ok=True)
    register.to_file(path, layer="adresser", driver="GPKG")
    return register


def housing_workbook(path: Path) -> tuple[dict[str, tuple[float, float, str]], dict[int, str]]:
    """The housing company's log; truth id → (E, N, placed_by), and the bad rows."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Felanmälan"
    sheet.append(["Felanmälningar november 2026"])
    sheet.merge_cells("A1:E1")
    sheet.append(["Ärende", "Inträffade", "Händelse", "Adress", "Beskrivning"])
    when = datetime(2026, 11, 3, 21, 30)
    rows = [  # (id, registered, category, address, truth E, N, placed_by)
        ("F-101", when, "Klotter", "Storgatan 12", E0 + 240, N0, "adress"),
        ("F-102", "2026-11-05 14:20", "Skadegörelse", "Storg. 12B", E0 + 245, N0 + 5, "adress"),
        ("F-103", 46331.5, "Hot mot personal", "KYRKOGATAN 3, 686 30 Sunne", E0 + 60, N0 + 200, "adress"),
        ("F-104", when, "Nedskräpning", "Storgatn 5", E0 + 100, N0, "adress_ungefar"),
        ("F-105", when, "Inbrott", "Skolgatan 7B", E0 + 140, N0 + 400, "adress_ungefar"),
        ("F-106", when, "Brand i soprum", "Östra Ringv. 20", E0 + 400, N0 + 600, "adress"),
        ("F-107", when, "Klotter", "Påhittade vägen 3", np.nan, np.nan, ""),
    ]
    for rid, registered, category, address, *_ in rows:
        sheet.append([rid, registered, category, address, "från jouren"])
    book.save(path)
    truth = {f"bostadsbolag-{r[0]}": (r[4], r[5], r[6]) for r in rows if r[6]}
    return truth, {9: "address"}


def _distance(store: Store, truth: pd.DataFrame | dict[str, tuple[float, float, str]]) -> np.ndarray:
    stored = store.read("incidents").set_index("id")
    if isinstance(truth, dict):
        truth = pd.DataFrame({k: {"e": v[0], "n": v[1]} for k, v in truth.items()}).T
    here = stored.loc[truth.index]
    return np.hypot(here["x"].to_numpy() - truth["e"].to_numpy(float), here["y"].to_numpy() - truth["n"].to_numpy(float))


def _quarantined_rows(store: Store, file: str) -> dict[int, list[str]]:
    q = open_entries(store, Selection(file=file))
    return {int(row): sorted(group["field"]) for row, group in q.groupby("row")}


def test_police_export_with_swedish_headers_ingests_with_no_mapping(settings: Settings, store: Store, tmp_path: Path) -> None:
    before = sorted(p.name for p in (REPO / "config" / "sources").iterdir())
    path = tmp_path / "polisen_utdrag_2026-11.csv"
    truth, bad = police_export(path)
    summary = ingest_file(settings, store, path)
    assert not summary.error and summary.balanced()
    assert summary.kind == "incidents" and "Händelsenummer → id" in summary.recognised
    assert "Datum + Klockslag → occurred_from" in summary.recognised and "X → x" in summary.recognised
    assert (summary.read, summary.ingested, summary.quarantined) == (38, 35, 3)
    assert _distance(store, truth).max() < 1.0
    stored = store.read("incidents").set_index("id")
    assert (stored.loc[truth.index, "category"] == truth["code"]).all()  # "Misstänkt narkotikahandel" → narkotika
    assert stored.loc["polis-5000-K0003", "description"] == "=5 personer vid porten"  # kept as written
    assert (stored["source_org"] == "polis").all()
    assert _quarantined_rows(store, path.name) == {row: [field] for row, field in bad.items()}
    reasons = open_entries(store, Selection(file=path.name)).set_index("row")
    assert "did you mean" in reasons.loc[37, "suggestion"]  # never an empty suggestion
    assert "kept: 'Skadegörelse'" not in reasons.loc[39, "reason"] and "category 'brand'" in reasons.loc[39, "reason"]
    assert sorted(p.name for p in (REPO / "config" / "sources").iterdir()) == before


def test_rt90_export_with_short_lower_case_headers(settings: Settings, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "vaktbolaget_rapporter.csv"
    truth = guards_export(path)
    summary = ingest_file(settings, store, path)
    assert not summary.error and summary.balanced(), summary
    assert (summary.read, summary.ingested, summary.quarantined) == (20, 20, 0)
    assert "source_org vaktare, from the file name" in summary.recognised
    assert _distance(store, truth).max() < 1.0
    stored = store.read("incidents").set_index("id")
    assert (stored.loc[truth.index, "category"] == truth["code"]).all()
    local = stored.loc["vaktare-V0", "occurred_from"].tz_convert("Europe/Stockholm")
    assert (local.day, local.hour, local.minute) == (1, 1, 15)


def test_housing_workbook_with_addresses_is_placed_by_the_register(settings: Settings, store: Store, tmp_path: Path) -> None:
    write_register(settings)
    path = tmp_path / "bostadsbolaget_felanmalan_2026-11.xlsx"
    truth, bad = housing_workbook(path)
    summary = ingest_file(settings, store, path)
    assert not summary.error and summary.balanced(), summary
    assert (summary.read, summary.ingested, summary.quarantined) == (7, 6, 1)
    assert "Adress → address" in summary.recognised and "source_org bostadsbolag" in summary.recognised
    assert _distance(store, truth).max() < 0.01  # on the address point
    stored = store.read("incidents").set_index("id")
    assert {k: stored.loc[k, "placed_by"] for k in truth} == {k: v[2] for k, v in truth.items()}
    assert stored.loc["bostadsbolag-F-101", "precision_m"] == 10 and stored.loc["bostadsbolag-F-104", "precision_m"] == 50
    moments = stored["occurred_from"].dt.tz_convert("Europe/Stockholm").dt.strftime("%Y-%m-%d %H:%M")
    assert moments["bostadsbolag-F-102"] == "2026-11-05 14:20"  # text date
    assert moments["bostadsbolag-F-103"] == "2026-11-05 12:00"  # Excel day number 46331.5
    q = open_entries(store, Selection(file=path.name))
    assert q["row"].tolist() == [9] and q["field"].tolist() == ["address"]
    assert "nearest in the register" in q["suggestion"].iloc[0]
    notes = store.read_notes()
    assert notes["note"].str.contains("placed by the address register, exactly: Storgatan 12B").any()


def test_an_unrecognisable_file_is_refused_once_with_what_to_do(settings: Settings, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Kolumn1;Kolumn2\nabc;12\ndef;13\n", encoding="utf-8")
    summary = ingest_file(settings, store, path)
    assert summary.read == summary.quarantined == 2 and summary.ingested == 0
    q = store.read_quarantine()
    assert len(q) == 1 and "cannot tell what this file holds" in q["reason"].iloc[0]
    assert "Columns: Kolumn1, Kolumn2" in q["reason"].iloc[0] and "estgeo sources suggest export.csv" in q["reason"].iloc[0]


def _config_copy(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    return config


def _file_rows(store: Store, file: str) -> int:
    """Rows of `file` that are stored or open in the quarantine."""
    stored = store.read("incidents", columns=["id", "_file"])
    return int((stored["_file"] == file).sum()) + open_entries(store, Selection(file=file))["row"].nunique()


def test_retry_after_adding_a_synonym_moves_the_rows_out(tmp_path: Path) -> None:
    config = _config_copy(tmp_path)
    settings = load_settings(workspace=tmp_path / "ws", config_dir=config)
    settings.ensure_workspace()
    store = open_store(settings)
    path = tmp_path / "polisen_utdrag_2026-11.csv"
    police_export(path)
    text = path.read_bytes().decode("cp1252").replace("Hot mot personal", "Personalhot")
    path.write_bytes(text.encode("cp1252"))
    first = ingest_file(settings, store, path)
    assert first.balanced() and first.quarantined == 7  # 4 × Personalhot, and the 3 bad rows
    assert _file_rows(store, path.name) == 38

    vocabulary = yaml.safe_load((config / "vocabulary.yml").read_text(encoding="utf-8"))
    vocabulary["categories"]["hot_vald"].append("personalhot")
    (config / "vocabulary.yml").write_text(yaml.safe_dump(vocabulary, allow_unicode=True), encoding="utf-8")
    settings = load_settings(workspace=tmp_path / "ws", config_dir=config)
    result = retry(settings, store)
    again = [s for s in result.summaries if Path(s.file).name == path.name]
    assert len(again) == 1 and again[0].balanced()
    assert (again[0].read, again[0].ingested, again[0].quarantined) == (6, 4, 2)  # the conflict waits for accept
    assert [why for _, row, why in result.skipped] == ["a conflicting duplicate: settle it with `estgeo quarantine accept`"]
    assert sorted(_quarantined_rows(store, path.name)) == [37, 38, 39]
    assert _file_rows(store, path.name) == 38
    assert (store.read("incidents").set_index("id").loc[["polis-5000-K0004", "polis-5000-K0013"], "category"] == "hot_vald").all()
    # A second retry finds the same rows still bad and changes nothing.
    assert sum(s.ingested for s in retry(settings, store).summaries) == 0
    assert _file_rows(store, path.name) == 38

    # The conflict: keep the quarantined version, then drop the rest with a reason.
    assert "stored" in accept(settings, store, path.name, 39, "new")
    assert store.read("incidents").set_index("id").loc["polis-5000-K0001", "category"] == "brand"
    assert drop(store, Selection(file=path.name), "felaktiga rader i polisens utdrag") == 2
    assert open_entries(store, Selection(file=path.name)).empty
    resolutions = store.read_resolutions()
    assert (resolutions["status"] == "dropped").sum() == 2
    assert resolutions.loc[resolutions["status"] == "dropped", "note"].eq("felaktiga rader i polisens utdrag").all()


def test_a_refused_file_is_retried_from_the_quarantines_copy(tmp_path: Path) -> None:
    config = _config_copy(tmp_path)
    settings = load_settings(workspace=tmp_path / "ws", config_dir=config)
    settings.ensure_workspace()
    store = open_store(settings)
    path = tmp_path / "nattrapport.csv"  # no partner in the name: who reported is unknown
    guards_export(path)
    refused = ingest_file(settings, store, path)
    assert refused.error and "source_org" in refused.error and refused.quarantined == 20
    runner = CliRunner()
    env = {"ESTGEO_CONFIG": str(config)}
    listed = runner.invoke(main, ["-w", str(settings.workspace), "quarantine", "list"], env=env)
    assert listed.exit_code == 0 and "nattrapport.csv" in listed.output
    # The fix the message names: write the mapping, say who the partner is, retry.
    written = runner.invoke(main, ["-w", str(settings.workspace), "sources", "suggest", str(path), "--kind", "incidents"],
                            env=env)
    assert written.exit_code != 0 and "source_org" in written.output
    mapping = {"name": "nattrapport", "kind": "incidents", "match": ["nattrapport*.csv"], "id_prefix": "vaktare-",
               "defaults": {"source_org": "vaktare"}, "columns": {"id": "nr", "occurred_from": ["datum", "tid"],
                                                                   "category": "typ", "x": "x", "y": "y", "description": "info"}}
    (config / "sources" / "nattrapport.yml").write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    retried = runner.invoke(main, ["-w", str(settings.workspace), "quarantine", "retry"], env=env)
    assert retried.exit_code == 0, retried.output
    assert store.count("incidents") == 20 and open_entries(store).empty


def test_sources_suggest_writes_a_mapping_that_ingest_then_uses(tmp_path: Path) -> None:
    config = _config_copy(tmp_path)
    workspace = tmp_path / "ws"
    path = tmp_path / "vaktbolaget_rapporter_v47.csv"
    truth = guards_export(path)
    env = {"ESTGEO_CONFIG": str(config), "COLUMNS": "200"}
    result = CliRunner().invoke(main, ["-w", str(workspace), "sources", "suggest", str(path), "--write", "vaktbolaget"],
                                env=env)
    assert result.exit_code == 0, result.output
    assert "recognised as incidents" in result.output and "vaktare-V0" in result.output  # the preview
    written = yaml.safe_load((config / "sources" / "vaktbolaget.yml").read_text(encoding="utf-8"))
    assert written["match"] == ["vaktbolaget_rapporter_v*.csv"] and written["columns"]["occurred_from"] == ["datum", "tid"]
    settings = load_settings(workspace=workspace, config_dir=config)
    store = open_store(settings)
    summary = ingest_file(settings, store, path)
    assert summary.source == "vaktbolaget" and summary.recognised == "" and summary.ingested == 20
    assert _distance(store, truth).max() < 1.0
    again = CliRunner().invoke(main, ["-w", str(workspace), "sources", "suggest", str(path), "--write", "vaktbolaget"], env=env)
    assert again.exit_code != 0 and "exists already" in again.output


@pytest.mark.store_independent
def test_every_unknown_label_gets_a_suggestion() -> None:
    from estgeo.ingest.fields import nearest_code

    codes = load_settings(workspace="/nonexistent").code_lists["categories"]
    for label in ["xyz", "skadegörelse på bil", "q", "Ärende av okänd typ", "1" * 300]:
        assert nearest_code(label.lower(), codes) in codes.entries
    assert codes.lookup["misstankt_narkotikahandel"] == "narkotika" and codes.by_number("1201") == "skadegorelse"
