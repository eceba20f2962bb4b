"""The demo municipality generator: formats as the sources declare them, planted structure.

One small demo (2,000 incidents) is generated per module and read back with plain
pandas/geopandas in the encodings and delimiters each organisation uses, so these tests
pin the files independently of estgeo's own ingest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import yaml

from estgeo.config import Settings, load_settings, normalise_label
from estgeo.demo import DemoResult, generate_demo, town
from estgeo.demo import run as demo_run
from estgeo.demo.incidents import sun_altitude_deg

#: Pure computation: runs in the embedded pass only (tests/conftest.py).
pytestmark = pytest.mark.store_independent

N = 2_000
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, DemoResult]:
    settings = load_settings(workspace=tmp_path_factory.mktemp("demo"))
    return settings, generate_demo(settings, n_incidents=N, seed=7)


@pytest.fixture(scope="module")
def incidents_3006(generated: tuple[Settings, DemoResult]) -> pd.DataFrame:
    """E, N (EPSG:3006) and local occurred_from of every incident in the three files."""
    settings, _ = generated
    inbox = settings.inbox
    pol = pd.read_csv(inbox / "polisen_utdrag.csv", sep=";", encoding="cp1252", decimal=",", dtype={"Klockslag": str})
    bb = pd.read_csv(inbox / "bostadsbolaget_arenden.csv", sep=";", encoding="utf-8-sig", decimal=",")
    app = _read_geojson(inbox / "est-app_export.geojson")
    to_3006 = town._transformer(4326, 3006)
    bb_e, bb_n = to_3006.transform(bb["Long"].to_numpy(), bb["Lat"].to_numpy())
    app_e, app_n = to_3006.transform(app["lon"].to_numpy(), app["lat"].to_numpy())
    pol_time = pd.to_datetime(pol["Datum"] + " " + pol["Klockslag"].fillna(""), format="%Y-%m-%d %H:%M", errors="coerce")
    bb_time = pd.to_datetime(bb["Från"], format="%Y-%m-%dT%H:%M", errors="coerce")
    app_time = pd.to_datetime(app["occurred_from"], format="%Y-%m-%dT%H:%M:%S%z", errors="coerce", utc=True)
    return pd.DataFrame(
        {
            "e": np.concatenate([pol["Y"], bb_e, app_e]),
            "n": np.concatenate([pol["X"], bb_n, app_n]),
            "utc": pd.concat(
                [
                    pol_time.dt.tz_localize("Europe/Stockholm", ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC"),
                    bb_time.dt.tz_localize("Europe/Stockholm", ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC"),
                    app_time,
                ],
                ignore_index=True,
            ),
        }
    )


def _read_geojson(path: Path) -> pd.DataFrame:
    """Properties as written (GDAL would turn ISO strings into datetimes) plus lon, lat."""
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    frame = pd.DataFrame([f["properties"] for f in features])
    frame[["lon", "lat"]] = [f["geometry"]["coordinates"] for f in features]
    return frame


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _columns(settings: Settings, name: str) -> list[str]:
    cols = next(s for s in settings.sources if s["name"] == name)["columns"]
    return [c for v in cols.values() for c in (v if isinstance(v, list) else [v])]


def _utc_minutes(ts: pd.Series) -> np.ndarray:
    return ((ts - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds() / 60).to_numpy()


def test_same_seed_gives_the_same_bytes(generated: tuple[Settings, DemoResult], tmp_path: Path) -> None:
    settings, _ = generated
    again = load_settings(workspace=tmp_path / "again")
    generate_demo(again, n_incidents=N, seed=7)
    assert _digest(again.inbox) == _digest(settings.inbox)
    assert _digest(again.workspace / "basemap") == _digest(settings.workspace / "basemap")

    other = load_settings(workspace=tmp_path / "other")
    generate_demo(other, n_incidents=N, seed=8)
    assert _digest(other.inbox)["polisen_utdrag.csv"] != _digest(settings.inbox)["polisen_utdrag.csv"]


def test_town_does_not_depend_on_the_number_of_incidents(generated: tuple[Settings, DemoResult], tmp_path: Path) -> None:
    settings, result = generated
    small = generate_demo(load_settings(workspace=tmp_path), n_incidents=50, seed=7)
    assert small.truth["dark_clusters"] == result.truth["dark_clusters"]
    assert _digest(tmp_path / "inbox")["belysning_2026.gpkg"] == _digest(settings.inbox)["belysning_2026.gpkg"]


def test_writes_the_expected_files(generated: tuple[Settings, DemoResult]) -> None:
    settings, result = generated
    names = {p.name for p in result.files}
    assert names == {
        "belysning_2026.gpkg",
        "polisen_utdrag.csv",
        "bostadsbolaget_arenden.csv",
        "est-app_export.geojson",
        "trygghetsvandring_2026.geojson",
        "atgarder.csv",
    }
    assert all(p.parent == settings.inbox and p.stat().st_size > 0 for p in result.files)
    assert {p.name for p in result.basemap_files} == {"streets.gpkg", "municipality.gpkg", "demo-truth.json"}
    assert result.counts["incidents"] == N
    assert sum(result.counts[f"incidents_{s}"] for s in town.SOURCES) == N


def test_polisen_extract_is_windows_1252_with_x_northing(generated: tuple[Settings, DemoResult]) -> None:
    settings, _ = generated
    raw = (settings.inbox / "polisen_utdrag.csv").read_bytes()
    assert raw.startswith("Ärendenummer;Händelsetyp".encode("cp1252"))
    assert b"\r\n" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    pol = pd.read_csv(
        settings.inbox / "polisen_utdrag.csv",
        sep=";",
        encoding="cp1252",
        decimal=",",
        dtype={"Klockslag": str, "Klockslag till": str},
    )
    assert list(pol.columns) == _columns(settings, "polisen")
    assert pol["X"].between(6_600_000, 6_700_000).all()  # northing
    assert pol["Y"].between(380_000, 420_000).all()  # easting
    assert pol["Noggrannhet (m)"].dtype == float and (pol["Noggrannhet (m)"] > 0).all()
    assert b";12,5;" in raw or b";7,5;" in raw  # decimal comma
    assert pol["Ärendenummer"].is_unique
    assert pol["Datum"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    assert pol["Klockslag"].dropna().str.fullmatch(r"\d\d:\d\d").all()
    assert pol["Klockslag"].isna().any()  # some reports have a date only
    windows = pol["Datum till"].notna()
    assert 0.05 < windows.mean() < 0.6
    start = pd.to_datetime(pol["Datum"] + " " + pol["Klockslag"].fillna("00:00"))
    end = pd.to_datetime(pol.loc[windows, "Datum till"] + " " + pol.loc[windows, "Klockslag till"])
    assert (end > start[windows]).all()
    assert (pd.to_datetime(pol["Anmäld"]) >= start).all()


def test_bostadsbolaget_log_is_utf8_bom_with_decimal_comma(generated: tuple[Settings, DemoResult]) -> None:
    settings, _ = generated
    raw = (settings.inbox / "bostadsbolaget_arenden.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf\xc3\x84rende-ID;")
    assert raw.count(b"\xef\xbb\xbf") == 1
    bb = pd.read_csv(settings.inbox / "bostadsbolaget_arenden.csv", sep=";", encoding="utf-8-sig", decimal=",")
    assert list(bb.columns) == _columns(settings, "bostadsbolaget")
    assert bb["Lat"].between(59.7, 59.95).all() and bb["Long"].between(13.0, 13.3).all()
    assert bb["Ärende-ID"].is_unique
    assert bb["Från"].str.fullmatch(r"\d{4}-\d\d-\d\d(T\d\d:\d\d)?").all()
    assert not bb["Registrerad"].str.contains(r"[+Z]").any()  # local time, no offset
    assert bb["Bedömning"].dropna().between(1, 5).all()


def test_app_export_is_geojson_with_offsets_and_canonical_codes(generated: tuple[Settings, DemoResult]) -> None:
    settings, _ = generated
    assert "crs" not in json.loads((settings.inbox / "est-app_export.geojson").read_text(encoding="utf-8"))
    app = _read_geojson(settings.inbox / "est-app_export.geojson")
    assert app["lat"].between(59.7, 59.95).all() and app["lon"].between(13.0, 13.3).all()
    assert set(app["source_org"]) == {"kommun", "skola", "vaktare", "raddningstjanst", "naringsliv"}
    assert set(app["category"]) <= set(settings.taxonomy["categories"])
    assert set(app["place_type"]) <= set(settings.taxonomy["place_types"])
    assert app["id"].is_unique
    timed = app["occurred_from"].str.len() > 10
    assert app.loc[timed, "occurred_from"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\+0[12]:00").all()
    assert app["reported_at"].str.endswith(("+01:00", "+02:00")).all()
    summer = app["reported_at"].str[5:7].isin(["06", "07"])
    assert app.loc[summer, "reported_at"].str.endswith("+02:00").all()
    assert app["assessment"].between(1, 5).all()
    assert app["police_reported"].dtype == bool


def test_labels_in_files_resolve_through_the_taxonomy(generated: tuple[Settings, DemoResult]) -> None:
    settings, _ = generated
    inbox = settings.inbox
    pol = pd.read_csv(inbox / "polisen_utdrag.csv", sep=";", encoding="cp1252")
    bb = pd.read_csv(inbox / "bostadsbolaget_arenden.csv", sep=";", encoding="utf-8-sig")
    lights = gpd.read_file(inbox / "belysning_2026.gpkg")
    walks = gpd.read_file(inbox / "trygghetsvandring_2026.geojson")
    atg = pd.read_csv(inbox / "atgarder.csv", sep=";", encoding="utf-8-sig")
    problems = walks["problem"].str.split(", ").explode()
    checks = [
        ("categories", pol["Händelsetyp"]),
        ("categories", bb["Typ"]),
        ("place_types", pol["Platstyp"]),
        ("place_types", bb["Plats"]),
        ("lamp_types", lights["armaturtyp"]),
        ("lamp_statuses", lights["status"]),
        ("lamp_owners", lights["agare"]),
        ("walk_problems", problems),
        ("walk_statuses", walks["status"]),
        ("walk_light_conditions", walks["ljusforhallande"]),
        ("intervention_types", atg["Typ"]),
        ("decision_levels", atg["Beslutad av"]),
    ]
    for code_list, labels in checks:
        lookup = settings.code_lists[code_list].lookup
        unknown = {v for v in labels.dropna().unique() if normalise_label(v) not in lookup}
        assert not unknown, f"{code_list}: {unknown}"


def test_all_categories_and_reporting_organisations_occur(generated: tuple[Settings, DemoResult]) -> None:
    settings, _ = generated
    lookup = settings.code_lists["categories"].lookup
    pol = pd.read_csv(settings.inbox / "polisen_utdrag.csv", sep=";", encoding="cp1252")
    bb = pd.read_csv(settings.inbox / "bostadsbolaget_arenden.csv", sep=";", encoding="utf-8-sig")
    app = _read_geojson(settings.inbox / "est-app_export.geojson")
    found = {lookup[normalise_label(v)] for v in pd.concat([pol["Händelsetyp"], bb["Typ"], app["category"]])}
    assert found == set(settings.taxonomy["categories"])
    shares = np.array([len(pol), len(bb), len(app)]) / N
    assert np.allclose(shares, [0.35, 0.25, 0.40], atol=0.04)


def test_lamps_in_range_with_outages_in_dark_clusters(generated: tuple[Settings, DemoResult]) -> None:
    settings, result = generated
    lights = gpd.read_file(settings.inbox / "belysning_2026.gpkg", layer="belysning")
    assert lights.crs.to_epsg() == 3006
    assert list(lights.columns) == [*_columns(settings, "belysning"), "geometry"]
    assert 8_000 <= len(lights) <= 12_000
    assert lights["driftsmarkning"].is_unique
    out = lights["status"].isin(["Släckt", "Fel"]).to_numpy()
    assert 0.04 <= out.mean() <= 0.06
    clusters = result.truth["dark_clusters"]
    assert 4 <= len(clusters) <= 6
    centres = np.array([[c["E"], c["N"]] for c in clusters])
    xy = np.column_stack([lights.geometry.x, lights.geometry.y])
    near = (np.hypot(*(xy[:, None, :] - centres[None]).transpose(2, 0, 1)) < town.DARK_CLUSTER_RADIUS_M).any(axis=1)
    assert out[near].mean() > 0.5
    assert out[~near].mean() < 0.05
    assert all(c["lamps"] >= 15 and c["lamps_out"] / c["lamps"] > 0.45 for c in clusters)


def test_lamp_power_and_flux_follow_technology(generated: tuple[Settings, DemoResult]) -> None:
    settings, _ = generated
    lights = gpd.read_file(settings.inbox / "belysning_2026.gpkg")
    efficacy = lights["ljusflode_lm"] / lights["effekt_w"]
    expected = {"LED": (95, 145), "Högtrycksnatrium": (80, 100), "Kvicksilver": (40, 60), "Metallhalogen": (70, 95)}
    for label, (lo, hi) in expected.items():
        assert efficacy[lights["armaturtyp"] == label].between(lo, hi).all(), label
    assert (lights["armaturtyp"] == "LED").mean() > 0.5
    assert lights["ljuspunktshojd_m"].between(4, 12).all()
    assert set(lights["agare"]) == {"Kommunen", "Trafikverket", "Vägförening", "Privat"}


def test_incidents_cluster_at_the_planted_hot_spots(generated: tuple[Settings, DemoResult], incidents_3006: pd.DataFrame) -> None:
    _, result = generated
    e, n = incidents_3006["e"].to_numpy(), incidents_3006["n"].to_numpy()
    centre = result.truth["centre"]
    town = np.hypot(e - centre["E"], n - centre["N"]) < 2_000
    town_density = town.sum() / (np.pi * 2_000**2)
    for spot in result.truth["hot_spots"]:
        near = np.hypot(e - spot["E"], n - spot["N"]) < 150
        assert near.sum() / (np.pi * 150**2) > 5 * town_density, spot["name"]


def test_more_incidents_after_dark_than_at_random_times(
    generated: tuple[Settings, DemoResult], incidents_3006: pd.DataFrame
) -> None:
    _, result = generated
    centre = result.truth["centre"]
    timed = _utc_minutes(incidents_3006["utc"].dropna())
    dark = (sun_altitude_deg(timed, centre["lon"], centre["lat"]) < -6).mean()
    period = pd.to_datetime([result.truth["period"]["start"], result.truth["period"]["end"]]).tz_localize("UTC")
    uniform = np.random.default_rng(0).uniform(*_utc_minutes(pd.Series(period)), 50_000)
    baseline = (sun_altitude_deg(uniform, centre["lon"], centre["lat"]) < -6).mean()
    assert dark > baseline + 0.1


def test_sun_altitude_matches_spa_reference() -> None:
    ref = pd.read_csv(DATA / "sunne_sun_times.csv", comment="#")
    minutes = _utc_minutes(pd.to_datetime(ref["local_time"], utc=True))
    assert np.allclose(sun_altitude_deg(minutes, 13.1433, 59.8366), ref["altitude_deg"], atol=0.05)


def test_walk_lighting_problems_are_where_lamps_are_out(generated: tuple[Settings, DemoResult]) -> None:
    settings, _ = generated
    walks = gpd.read_file(settings.inbox / "trygghetsvandring_2026.geojson", datetime_as_string=True)
    mapping = next(s for s in settings.sources if s["name"] == "trygghetsvandring")["columns"]
    assert set(mapping.values()) <= set(walks.columns)
    assert walks.crs.to_epsg() == 4326
    assert 40 <= len(walks) <= 80 and walks["observation_id"].is_unique
    assert walks["vandring"].nunique() == 4
    assert {"Mörker", "Dagsljus"} <= set(walks["ljusforhallande"])
    resolved = walks["status"] == "Åtgärdad"
    assert walks.loc[resolved, "atgardad_datum"].notna().all() and walks.loc[~resolved, "atgardad_datum"].isna().all()

    lights = gpd.read_file(settings.inbox / "belysning_2026.gpkg")
    out = lights[lights["status"] != "Tänd"].geometry
    walks = walks.to_crs(3006)
    dist = walks.geometry.apply(lambda p: out.distance(p).min())
    lighting = walks["problem"].str.contains("belysning", case=False)
    assert lighting.sum() >= 8
    assert (dist[lighting] < 60).mean() > 0.9
    assert (dist[~lighting] < 60).mean() < 0.5


def test_interventions_target_hot_spot_cells_or_walk_observations(generated: tuple[Settings, DemoResult]) -> None:
    settings, result = generated
    atg = pd.read_csv(settings.inbox / "atgarder.csv", sep=";", encoding="utf-8-sig", keep_default_na=False)
    assert list(atg.columns) == _columns(settings, "atgarder")
    assert 4 <= len(atg) <= 6 and atg["Nr"].is_unique
    walks = gpd.read_file(settings.inbox / "trygghetsvandring_2026.geojson")
    walk_ids = {"tv-" + i for i in walks["observation_id"]}
    cells = {s["h3_res9"] for s in result.truth["hot_spots"]}
    for target in atg["Mål"]:
        if target.startswith("tv-"):
            assert target in walk_ids
        else:
            assert h3.is_valid_cell(target) and h3.get_resolution(target) == 9 and target in cells
    start = pd.to_datetime(atg["Start"])
    assert start.between(result.truth["period"]["start"], result.truth["period"]["end"]).all()


def test_basemap_layers(generated: tuple[Settings, DemoResult]) -> None:
    settings, result = generated
    streets = gpd.read_file(settings.workspace / "basemap" / "streets.gpkg", layer="streets")
    assert streets.crs.to_epsg() == 3006
    assert set(streets["kind"]) == {"huvudgata", "lokalgata", "gcvag"}
    assert (streets.geom_type == "LineString").all()
    outline = gpd.read_file(settings.workspace / "basemap" / "municipality.gpkg", layer="municipality")
    minx, miny, maxx, maxy = settings.extent_3006
    bx = outline.total_bounds
    assert minx <= bx[0] and miny <= bx[1] and bx[2] <= maxx and bx[3] <= maxy
    assert outline.geometry.iloc[0].contains(streets.union_all().envelope)
    truth = json.loads((settings.workspace / "basemap" / "demo-truth.json").read_text(encoding="utf-8"))
    assert truth == result.truth
    assert {s["name"] for s in truth["hot_spots"]} >= {"Torget", "Resecentrum", "Stadsparken"}


def test_large_runs_write_the_app_share_as_csv_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_run, "GEOJSON_MAX_INCIDENTS", 100)
    monkeypatch.setattr(demo_run, "CHUNK_ROWS", 700)
    settings = load_settings(workspace=tmp_path)
    steps: list[tuple[str, float]] = []
    result = generate_demo(settings, n_incidents=N, seed=3, progress=lambda d, f: steps.append((d, f)))
    assert sum(f for _, f in steps) == pytest.approx(1.0)
    assert sum("Händelser" in d for d, _ in steps) == 3  # three chunks
    app = pd.read_csv(settings.inbox / "est-app_export.csv")
    assert not (settings.inbox / "est-app_export.geojson").exists()
    assert {"lon", "lat", "id", "source_org", "category", "occurred_from"} <= set(app.columns)
    assert app["id"].is_unique and app["lat"].between(59.7, 59.95).all()
    pol = pd.read_csv(settings.inbox / "polisen_utdrag.csv", sep=";", encoding="cp1252")
    assert pol["Ärendenummer"].is_unique
    assert (settings.inbox / "bostadsbolaget_arenden.csv").read_bytes().count(b"\xef\xbb\xbf") == 1
    assert len(pol) + len(app) + result.counts["incidents_bostadsbolaget"] == N
    match = yaml.safe_load((settings.config_dir / "sources" / "est-app.yml").read_text(encoding="utf-8"))["match"]
    assert "est-app*.csv" in match
