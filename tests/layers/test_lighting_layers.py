"""The lighting builders on a small planted town: a dark cluster must show everywhere it should."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import with_privacy

from estgeo.layers import lighting, street_lights
from estgeo.layers.context import BuildContext

#: Pure computation: runs in the embedded pass only (tests/conftest.py).
pytestmark = pytest.mark.store_independent

#: South-west corner of the planted town (EPSG:3006, inside the configured municipality).
X0, Y0 = 395_000.0, 6_635_000.0
#: The dark cluster: every lamp within CLUSTER_R of this street crossing is out.
CLUSTER = np.array([X0 + 360.0, Y0 + 240.0])
CLUSTER_R = 70.0
#: A busy, brightly lit square (lamps every 15 m) with one lamp out.
SQUARE = np.array([X0 + 120.0, Y0 + 480.0])


def _streets() -> gpd.GeoDataFrame:
    lines = [shapely.LineString([(X0, Y0 + k * 120), (X0 + 600, Y0 + k * 120)]) for k in range(6)]
    lines += [shapely.LineString([(X0 + k * 120, Y0), (X0 + k * 120, Y0 + 600)]) for k in range(6)]
    return gpd.GeoDataFrame({"kind": ["lokalgata"] * len(lines)}, geometry=lines, crs="EPSG:3006")


def _lights(rng: np.random.Generator) -> pd.DataFrame:
    pts = []
    for line in _streets().geometry:
        d = np.arange(0, line.length + 1, 30.0)
        pts.append(shapely.get_coordinates(shapely.line_interpolate_point(line, d)))
    xy = np.unique(np.round(np.concatenate(pts), 1), axis=0)
    gx, gy = np.meshgrid(np.arange(-45, 46, 15.0), np.arange(-45, 46, 15.0))
    square = np.c_[gx.ravel(), gy.ravel()] + SQUARE
    xy = np.concatenate([xy, square])
    n = len(xy)
    status = np.full(n, "tand", dtype=object)
    in_cluster = np.hypot(*(xy - CLUSTER).T) < CLUSTER_R
    status[in_cluster] = "slackt"
    status[np.flatnonzero(in_cluster)[::3]] = "fel"
    status[len(xy) - len(square) + len(square) // 2] = "slackt"  # the square's middle lamp
    scattered = rng.choice(np.flatnonzero(~in_cluster & (np.hypot(*(xy - SQUARE).T) > 80)), 4, replace=False)
    status[scattered] = "slackt"
    return pd.DataFrame({
        "id": [f"L{i:04d}" for i in range(n)],
        "x": xy[:, 0], "y": xy[:, 1],
        "pole_height_m": 6.0, "lamp_type": "led", "power_w": 35.0, "flux_lm": 4000.0,
        "owner": "kommun", "status": status, "installed_year": 2015,
        "last_inspected": "2026-01-15",
    })


def _moments(day: str, local_hour: float, n: int, rng: np.random.Generator) -> pd.Series:
    start = pd.Timestamp(f"{day} 00:00", tz="Europe/Stockholm") + pd.to_timedelta(local_hour + rng.uniform(0, 0.5, n), unit="h")
    return pd.Series(start).dt.tz_convert("UTC")


def _incidents(rng: np.random.Generator) -> pd.DataFrame:
    parts = []

    def add(centre, spread, n, day, hour):
        xy = centre + rng.normal(0, spread, (n, 2))
        parts.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "occurred_from": _moments(day, hour, n, rng)}))

    add(CLUSTER, 25, 70, "2025-12-10", 21.0)  # after dark at the dark cluster
    add(CLUSTER, 25, 6, "2025-06-10", 12.0)
    add(SQUARE, 20, 50, "2025-12-12", 22.5)  # a busy square, day and night
    add(SQUARE, 20, 50, "2025-06-12", 13.0)
    background = np.c_[rng.uniform(X0, X0 + 600, 150), rng.uniform(Y0, Y0 + 600, 150)]
    parts.append(pd.DataFrame({"x": background[:, 0], "y": background[:, 1],
                               "occurred_from": _moments("2025-11-03", 0, 150, rng) + pd.to_timedelta(rng.integers(0, 24, 150), unit="h")}))
    frame = pd.concat(parts, ignore_index=True)
    frame["occurred_to"] = frame["occurred_from"] + pd.Timedelta(minutes=20)
    frame["id"] = [f"I{i:05d}" for i in range(len(frame))]
    frame["category"] = "skadegorelse"
    return frame


def _walks() -> pd.DataFrame:
    rows = [
        (CLUSTER + [10, 5], "belysning_saknas", "ny"),
        (CLUSTER + [-20, 8], "belysning_dalig,skymd_sikt", "planerad"),
        (CLUSTER + [5, -30], "belysning_saknas", "ny"),
        (SQUARE + [5, 5], "belysning_dalig", "atgardad"),
        (SQUARE + [-30, 20], "klotter", "ny"),
    ]
    return pd.DataFrame({
        "id": [f"W{i}" for i in range(len(rows))],
        "x": [r[0][0] for r in rows], "y": [r[0][1] for r in rows],
        "problems": pd.array([r[1] for r in rows], dtype="string"),
        "status": pd.array([r[2] for r in rows], dtype="string"),
    })


@pytest.fixture
def town(settings):
    rng = np.random.default_rng(11)
    (settings.workspace / "basemap").mkdir(parents=True, exist_ok=True)
    _streets().to_file(settings.workspace / "basemap" / "streets.gpkg", layer="streets", engine="pyogrio")
    frames = {"lights": _lights(rng), "incidents": _incidents(rng), "walks": _walks()}
    return settings, frames


def _build(settings, frames, out_dir, params=None):
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = BuildContext(settings=settings, read=lambda kind: frames[kind].copy(), out_dir=out_dir)
    layer = next(layer for layer in settings.layers if layer["name"] == "lighting")
    p = lighting.merged_params(layer["params"])
    p = lighting.params._deep_update(p, {"as_of": "2026-03-01", **(params or {})})
    return ctx, lighting.build(ctx, p)


def _distance(frame: gpd.GeoDataFrame, point: np.ndarray) -> np.ndarray:
    geom = frame.to_crs("EPSG:3006").geometry
    return np.asarray(shapely.distance(geom.to_numpy(), shapely.Point(*point)))


def test_builds_every_collection_in_crs84_and_the_rasters(town, tmp_path):
    settings, frames = town
    ctx, out = _build(settings, frames, tmp_path / "build")
    assert set(out) == {"lighting-insecurity", "dark-gaps", "lamps-out"}
    for frame in out.values():
        assert frame.crs.to_string() == "OGC:CRS84"
        assert len(frame) > 0
    assert (tmp_path / "build" / "modelled-light.tif").exists()
    assert (tmp_path / "build" / "modelled-light-repaired.tif").exists()
    assert ctx.built["modelled_light"] == tmp_path / "build" / "modelled-light.tif"
    declared = {c["id"]: c for c in settings.collections}
    assert declared["modelled-light"]["type"] == "coverage" and declared["modelled-light-repaired"]["type"] == "coverage"
    assert set(out) <= set(declared)


def test_planted_dark_cluster_is_the_top_dark_gap(town, tmp_path):
    settings, frames = town
    _, out = _build(settings, frames, tmp_path / "build")
    gaps = out["dark-gaps"]
    assert list(gaps["rank"]) == list(range(1, len(gaps) + 1))
    top = gaps.iloc[0]
    assert _distance(gaps.iloc[[0]], CLUSTER)[0] < CLUSTER_R
    assert top["cause"] == "lamps_out" and top["lux_mean"] < 0.4 and top["lux_mean_repaired"] > 0.4
    assert top["lighting_reports"] == 3 and top["dark_incidents"] >= 50 and top["lamps_out"] >= 5
    assert top["street_length_m"] > 50


def test_lamps_in_the_dark_cluster_top_the_work_list(town, tmp_path):
    """The ranking on exact counts (suppression): with cell-key, a lamp beside one or two
    darkness incidents may show 0 of them, and the ranking follows what is shown."""
    settings, frames = town
    settings = with_privacy(settings, method="suppression")
    _, out = _build(settings, frames, tmp_path / "build")
    work = out["lamps-out"]
    lights = frames["lights"]
    assert len(work) == int((lights["status"] != "tand").sum())
    assert list(work["rank"]) == list(range(1, len(work) + 1))
    in_cluster = _distance(work, CLUSTER) < CLUSTER_R
    n = int(in_cluster.sum())
    assert in_cluster[:n].all(), work[["id", "rank", "score", "rank_reason_en"]].head(n + 3)
    # The lamp out on the busy square is surrounded by lit lamps: its darkness incidents happen
    # where it is still light, so it ranks below the cluster.
    square_rank = work.loc[_distance(work, SQUARE) < 5, "rank"].iloc[0]
    assert square_rank > n
    first = work.iloc[0]
    assert first["dark_gap"] == out["dark-gaps"].iloc[0]["id"]
    assert "incidents in darkness" in first["rank_reason_en"] and "händelser i mörker" in first["rank_reason"]
    assert first["lux_now"] < first["lux_repaired"]
    assert first["age_since_inspection_days"] == (pd.Timestamp("2026-03-01") - pd.Timestamp("2026-01-15")).days


def test_cluster_cell_has_the_highest_lighting_insecurity(town, tmp_path):
    settings, frames = town
    _, out = _build(settings, frames, tmp_path / "build")
    cells = out["lighting-insecurity"]
    top = cells.iloc[0]
    assert top["rank"] == 1 and _distance(cells.iloc[[0]], CLUSTER)[0] < 150
    assert top["lamps_out"] >= 3 and top["dark_share"] > 0.8
    components = [c for c in cells.columns if c.startswith("c_")]
    assert components == ["c_dark_area", "c_lamps_out", "c_dark_incidents", "c_dark_share", "c_lighting_reports"]
    w = {"dark_area": 0.3, "lamps_out": 0.15, "dark_incidents": 0.25, "dark_share": 0.1, "lighting_reports": 0.2}
    recomputed = 100 * sum(w[c[2:]] * cells[c] for c in components) / sum(w.values())
    assert np.allclose(recomputed, cells["index"], atol=0.1)  # the index is its published components
    assert (cells["lux_p10"] <= cells["lux_mean"] + 1e-9).all()
    assert (cells["lux_mean"] <= cells["lux_mean_repaired"] + 1e-9).all()


def test_small_counts_are_withheld_and_scores_do_not_reveal_them(town, tmp_path):
    settings, frames = town
    settings = with_privacy(settings, method="suppression")
    _, out = _build(settings, frames, tmp_path / "build")
    for name in ("lamps-out", "dark-gaps", "lighting-insecurity"):
        frame = out[name]
        counts = frame["dark_incidents"]
        assert not ((counts > 0) & (counts < settings.privacy_min_count)).any()
        assert (frame["suppressed"] == counts.isna()).all() if name != "lighting-insecurity" else frame.loc[counts.isna(), "suppressed"].all()
    work = out["lamps-out"]
    hidden = work[work["suppressed"]]
    assert len(hidden) > 0
    w = lighting.DEFAULTS["work_list"]["weights"]
    expected = w["dark_incident"] * settings.privacy_min_count / 2 + w["lighting_report"] * hidden["lighting_reports"]
    assert np.allclose(hidden["score"], expected)
    assert hidden["rank_reason_en"].str.contains(f"fewer than {settings.privacy_min_count}").all()


def test_ranking_is_reproducible(town, tmp_path):
    settings, frames = town
    _, a = _build(settings, frames, tmp_path / "a")
    _, b = _build(settings, frames, tmp_path / "b")
    for name in a:
        pd.testing.assert_frame_equal(pd.DataFrame(a[name].drop(columns="geometry")), pd.DataFrame(b[name].drop(columns="geometry")))
        assert a[name].geometry.equals(b[name].geometry)


def test_without_a_street_file_the_lamps_stand_in_for_streets(town, tmp_path):
    settings, frames = town
    (settings.workspace / "basemap" / "streets.gpkg").unlink()
    _, out = _build(settings, frames, tmp_path / "build")
    gaps = out["dark-gaps"]
    assert _distance(gaps.iloc[[0]], CLUSTER)[0] < CLUSTER_R
    assert gaps["street_length_m"].isna().all()


def test_an_empty_inventory_builds_empty_layers(town, tmp_path):
    settings, frames = town
    frames = {**frames, "lights": frames["lights"].iloc[0:0]}
    _, out = _build(settings, frames, tmp_path / "build")
    assert all(len(f) == 0 for f in out.values())
    assert not (tmp_path / "build" / "modelled-light.tif").exists()


def test_street_lights_layer_has_out_flag_and_inspection_age(town, tmp_path):
    settings, frames = town
    ctx = BuildContext(settings=settings, read=lambda kind: frames[kind], out_dir=tmp_path)
    layer = next(layer for layer in settings.layers if layer["name"] == "street-lights")
    out = street_lights.build(ctx, {**layer["params"], "as_of": "2026-03-01"})["street-lights"]
    assert out.crs.to_string() == "OGC:CRS84"
    assert (out["out"] == (frames["lights"]["status"] != "tand").to_numpy()).all()
    assert (out["age_since_inspection_days"] == 45).all()
    assert {"status", "lamp_type", "power_w", "flux_lm", "pole_height_m", "owner", "last_inspected"} <= set(out.columns)


def test_cell_key_counts_are_the_density_s_and_scores_use_them(town, tmp_path):
    """privacy.method cell-key (the default): no darkness count is withheld; a cell's
    darkness count in lighting-insecurity is exactly what a density build of the same
    incidents publishes for it (the same incidents, the same cell key, the same value);
    scores are computed from the published counts."""
    settings, frames = town
    ctx, out = _build(settings, frames, tmp_path / "build")
    assert ctx.disclosure.method == "cell-key"
    for name in ("lamps-out", "dark-gaps", "lighting-insecurity"):
        assert out[name]["dark_incidents"].notna().all() and not out[name]["suppressed"].any(), name
    work = out["lamps-out"]
    w = lighting.DEFAULTS["work_list"]["weights"]
    expected = w["dark_incident"] * work["dark_incidents"].astype(float) + w["lighting_report"] * work["lighting_reports"]
    assert np.allclose(work["score"], expected.round(2))
    from estgeo.layers import density

    dctx = BuildContext(settings=settings, read=lambda kind: frames[kind].copy(), out_dir=tmp_path)
    dens = density.build(dctx, {})
    res = int(settings.project["h3"]["default_resolution"])
    whole = dens[f"incident-density-r{res}"].query("period_kind == 'all'").set_index("h3")
    cells = out["lighting-insecurity"].set_index("h3")
    both = cells.index.intersection(whole.index)
    assert len(both) > 3
    assert (cells.loc[both, "dark_incidents"].astype(int) == whole.loc[both, "light_darkness"].astype(int)).all()
