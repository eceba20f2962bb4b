"""Helpers for the density and privacy tests: settings with a given threshold and
resolutions, the density builder run on a frame, and random incidents around Sunne.

Not a test module: tests/layers/test_density.py and tests/audit/test_privacy_audit.py
import it by its name (tests/ is on the path, as for live_server).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pyproj

from estgeo.config import load_settings
from estgeo.layers import density
from estgeo.layers.context import BuildContext

TO_3006 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)


def settings_for(tmp_path, min_count=None, resolutions=None, default_resolution=None, method="suppression"):
    """Settings for a density fixture. The method defaults to suppression: most of these
    tests pin exact counts and the suppression rules; cell-key tests ask for it."""
    settings = load_settings(workspace=tmp_path)
    project = copy.deepcopy(settings.project)
    project["privacy"]["method"] = method
    if min_count is not None:
        project["privacy"]["min_count"] = min_count
    if resolutions is not None:
        project["h3"]["resolutions"] = resolutions
    if default_resolution is not None:
        project["h3"]["default_resolution"] = default_resolution
    return dataclasses.replace(settings, project=project)


def build(settings, incidents, **params):
    built = {}
    ctx = BuildContext(settings=settings, read=lambda kind: incidents, out_dir=settings.workspace, built=built)
    return density.build(ctx, params), built


def random_incidents(n=400, seed=7):
    """Incidents within ~2 km of Sunne's centre over ten weeks around the spring DST switch."""
    rng = np.random.default_rng(seed)
    cx, cy = TO_3006.transform(13.1433, 59.8366)
    x = cx + rng.normal(0, 700, n)
    y = cy + rng.normal(0, 700, n)
    start = pd.Timestamp("2024-03-04T00:00", tz="Europe/Stockholm").tz_convert("UTC")
    seconds = rng.integers(0, 70 * 86400, n)
    length = rng.choice([0, 600, 5400, 4 * 3600], n)
    occurred_from = start + pd.to_timedelta(seconds, unit="s")
    frame = pd.DataFrame({
        "id": [f"h{i}" for i in range(n)],
        "x": x,
        "y": y,
        "source_org": "kommun",
        "category": rng.choice(["klotter", "skadegorelse", "brand", "ordningsstorning", "larm", "narkotika", "otrygg_plats"], n),
        "occurred_from": occurred_from,
        "occurred_to": occurred_from + pd.to_timedelta(length, unit="s"),
        "reported_at": occurred_from + pd.Timedelta(days=1),
        "place_type": "park",
        "assessment": 3,
        "police_reported": False,
        "description": "fritext som aldrig får publiceras",
    })
    # A few date-only reports: the whole local day.
    day = pd.Timestamp("2024-03-31", tz="Europe/Stockholm")
    frame.loc[:4, "occurred_from"] = day.tz_convert("UTC")
    frame.loc[:4, "occurred_to"] = (day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)).tz_convert("UTC")
    return frame
