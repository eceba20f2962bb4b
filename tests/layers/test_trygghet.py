"""Unsafe places, walks and intervention follow-up: joins pinned against brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import with_privacy

from estgeo.layers import trygghet
from estgeo.layers.context import BuildContext
from estgeo.layers.neighbourhood import incident_light_conditions

PARAMS = {
    "lamps_out_radius_m": 50, "incident_radius_m": 100, "incident_months": 12, "light_window_max_hours": 2,
    "reference_date": "2026-06-01", "follow_up_weeks": 8, "follow_up_min_incidents": 10, "place_radius_m": 100,
    "public_properties": ["walk_id", "problems", "status", "problem_belysning_dalig", "incidents_nearby"],
}
E0, N0 = 395936.0, 6634672.0


def fixture_frames(rng: np.random.Generator):
    walks = pd.DataFrame({
        "id": ["tv-1", "tv-2", "tv-3", "tv-4"],
        "walk_id": ["V1", "V1", "V1", "V2"],
        "walk_date": ["2025-10-20"] * 3 + ["2026-03-01"],
        "light_condition": ["morker"] * 3 + ["dagsljus"],
        "problems": ["belysning_dalig,skymd_sikt", "belysning_saknas", "klotter", "vegetation"],
        "status": ["ny", "atgardad", "planerad", "ny"],
        "target_date": ["2026-01-31", "2026-01-31", "2026-12-31", None],
        "resolved_at": [None, "2026-01-15", None, None],
        "proposal": ["Byt armaturer", "Ny belysning", None, None],
        "responsible": ["Gatukontoret"] * 4,
        "x": [E0, E0 + 300, E0 - 400, E0 + 1000],
        "y": [N0, N0 + 50, N0 - 200, N0 + 800],
    })
    n_lights = 400
    lights = pd.DataFrame({
        "id": [f"L{i}" for i in range(n_lights)],
        "x": E0 + rng.uniform(-800, 1200, n_lights),
        "y": N0 + rng.uniform(-600, 1000, n_lights),
        "status": rng.choice(["tand", "slackt", "fel"], n_lights, p=[0.7, 0.2, 0.1]),
    })
    n_inc = 3000
    start = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 520 * 24 * 60, n_inc), unit="min")
    incidents = pd.DataFrame({
        "id": [f"I{i}" for i in range(n_inc)],
        "x": E0 + rng.normal(0, 250, n_inc),
        "y": N0 + rng.normal(0, 250, n_inc),
        "category": "klotter",
        "occurred_from": start,
        "occurred_to": start + pd.to_timedelta(rng.choice([0, 30, 300], n_inc), unit="min"),
    })
    interventions = pd.DataFrame({
        "id": ["atg-1", "atg-2", "atg-3", "atg-4"],
        "target": ["tv-1", "tv-3", "nonsense", "tv-4"],
        "type": ["belysning", "klottersanering", "ovrigt", "dialog"],
        "decided_by": ["operativ"] * 4,
        "start": ["2025-09-01", "2025-06-01", "2025-06-01", "2026-05-20"],
        "end": ["2025-09-15", None, None, None],
    })
    return walks, lights, incidents, interventions


@pytest.fixture(params=["suppression"])
def built(request, settings):
    """The fixture built with privacy.method suppression, so the counts it checks are exact
    where published (the cell-key build: `test_cell_key_counts_are_perturbed_consistently`)."""
    settings = with_privacy(settings, method=request.param)
    rng = np.random.default_rng(3)
    walks, lights, incidents, interventions = fixture_frames(rng)
    frames = {"walks": walks, "lights": lights, "incidents": incidents, "interventions": interventions}
    ctx = BuildContext(settings=settings, read=lambda kind: frames[kind], out_dir=settings.workspace)
    out = trygghet.build(ctx, PARAMS)
    return frames, ctx, out


def test_context_joins_equal_brute_force(built, settings):
    frames, ctx, out = built
    places = ctx.built["unsafe_places"].set_index("id")
    walks, lights, incidents = frames["walks"], frames["lights"], frames["incidents"]
    light = incident_light_conditions(incidents)
    now = pd.Timestamp("2026-06-01", tz="UTC")
    recent = (incidents["occurred_from"] >= now - pd.DateOffset(months=12)) & (incidents["occurred_from"] <= now)
    for _, w in walks.iterrows():
        d = np.hypot(lights["x"] - w.x, lights["y"] - w.y)
        assert places.loc[w.id, "nearest_lamp_m"] == pytest.approx(d.min(), abs=0.06)
        out_mask = lights["status"].isin(["slackt", "fel"])
        assert places.loc[w.id, "lamps_out_nearby"] == int(((d <= 50) & out_mask).sum())
        di = np.hypot(incidents["x"] - w.x, incidents["y"] - w.y)
        near = int(((di <= 100) & recent).sum())
        near_dark = int(((di <= 100) & recent & (light == "darkness")).sum())
        if near >= 5:
            assert places.loc[w.id, "incidents_nearby"] == near
        else:
            assert pd.isna(places.loc[w.id, "incidents_nearby"])
        if near >= 5 and near_dark >= 5 and near - near_dark >= 5:
            assert places.loc[w.id, "incidents_nearby_dark"] == near_dark
        else:
            assert pd.isna(places.loc[w.id, "incidents_nearby_dark"])
    # The dense centre really has incidents near it, so the test is not vacuous.
    assert places.loc["tv-1", "incidents_nearby"] > 20 and places.loc["tv-1", "incidents_nearby_dark"] > 5


def test_problem_columns_status_and_public_profile(built):
    _, ctx, out = built
    places = ctx.built["unsafe_places"].set_index("id")
    assert places.loc["tv-1", "problems"] == "Dålig belysning, Skymd sikt"
    assert bool(places.loc["tv-1", "problem_belysning_dalig"]) and not bool(places.loc["tv-3", "problem_belysning_dalig"])
    assert bool(places.loc["tv-1", "lighting_problem"]) and bool(places.loc["tv-2", "lighting_problem"])
    assert bool(places.loc["tv-1", "overdue"]) and not bool(places.loc["tv-2", "overdue"])
    assert places.loc["tv-2", "days_open"] == (pd.Timestamp("2026-01-15") - pd.Timestamp("2025-10-20")).days
    assert places.loc["tv-1", "days_open"] == (pd.Timestamp("2026-06-01") - pd.Timestamp("2025-10-20")).days
    public = out["unsafe-places"]
    assert "proposal" not in public.columns and "responsible" not in public.columns
    assert "proposal" in out["unsafe-places-internal"].columns
    assert out["unsafe-places"].crs.to_string() == "OGC:CRS84"
    # Open items first.
    assert list(out["unsafe-places"]["status"])[-1] == "atgardad"


def test_walk_features(built):
    _, _, out = built
    walks = out["walks"].set_index("id")
    assert walks.loc["V1", "observations"] == 3 and walks.loc["V1", "share_resolved"] == pytest.approx(1 / 3, abs=1e-3)
    assert walks.loc["V1"].geometry.geom_type == "Polygon"
    assert walks.loc["V2"].geometry.geom_type == "Point"


def test_intervention_windows_known_answer(built):
    frames, ctx, out = built
    follow = out["interventions"].set_index("id")
    incidents = frames["incidents"]
    # atg-1 targets tv-1 (E0, N0), finished 2025-09-15: 8 weeks either side, 100 m circle.
    pivot = pd.Timestamp("2025-09-15", tz="Europe/Stockholm").tz_convert("UTC")
    inside = np.hypot(incidents["x"] - E0, incidents["y"] - N0) <= 100
    w = pd.Timedelta(weeks=8)
    before = int((inside & (incidents["occurred_from"] >= pivot - w) & (incidents["occurred_from"] < pivot)).sum())
    after = int((inside & (incidents["occurred_from"] >= pivot) & (incidents["occurred_from"] < pivot + w)).sum())
    assert before >= 5 and after >= 5
    assert follow.loc["atg-1", "before_count"] == before and follow.loc["atg-1", "after_count"] == after
    assert bool(follow.loc["atg-1", "window_complete"])
    assert "varken en H3-cell" in follow.loc["atg-3", "note"]
    # atg-4 started 2026-05-20: its after-window has not run out by 2026-06-01.
    assert not bool(follow.loc["atg-4", "window_complete"]) and pd.isna(follow.loc["atg-4", "change_pct"])
    assert follow.loc["atg-4", "note"] == "uppföljningsfönstret har inte löpt ut än"


def test_cell_key_counts_are_perturbed_consistently(settings):
    """privacy.method cell-key: every count of incidents near a place and in an
    intervention's windows is published, within the perturbation table's reach of the true
    count (±8), never withheld; the same incidents give the same value in a second build;
    and the change and percentage are those of the published counts."""
    rng = np.random.default_rng(3)
    walks, lights, incidents, interventions = fixture_frames(rng)
    frames = {"walks": walks, "lights": lights, "incidents": incidents, "interventions": interventions}

    def run():
        ctx = BuildContext(settings=settings, read=lambda kind: frames[kind], out_dir=settings.workspace)
        return ctx, trygghet.build(ctx, PARAMS)

    ctx, out = run()
    assert ctx.disclosure.method == "cell-key"
    places = ctx.built["unsafe_places"].set_index("id")
    now = pd.Timestamp("2026-06-01", tz="UTC")
    recent = (incidents["occurred_from"] >= now - pd.DateOffset(months=12)) & (incidents["occurred_from"] <= now)
    differ = 0
    for _, w in walks.iterrows():
        near = int(((np.hypot(incidents["x"] - w.x, incidents["y"] - w.y) <= 100) & recent).sum())
        shown = places.loc[w.id, "incidents_nearby"]
        assert pd.notna(shown) and abs(int(shown) - near) <= 8 and (near > 0 or shown == 0)
        differ += int(shown != near)
    follow = out["interventions"].set_index("id")
    assert follow["before_count"].notna().all() and follow["after_count"].notna().all()
    done = follow[follow["change"].notna()]
    assert (done["change"] == done["after_count"] - done["before_count"]).all()
    assert np.allclose(done["change_pct"], np.round(100 * done["change"] / done["before_count"], 1), equal_nan=True)
    _, again = run()
    pd.testing.assert_frame_equal(out["interventions"], again["interventions"])
    assert (places["incidents_nearby"].to_numpy() == again["unsafe-places"].set_index("id").loc[places.index, "incidents_nearby"].to_numpy()).all()
    assert differ + int((follow["before_count"] != 0).sum()) > 0  # something is perturbed at all
