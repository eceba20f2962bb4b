"""The lighting builder's inputs: incidents with their light condition, lighting reports, streets.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from estgeo.layers.lighting.params import TO_WGS84
from estgeo.layers.sun import LIGHT_CONDITIONS, UNKNOWN, light_condition


@dataclass
class Evidence:
    """Incidents (with their light condition) and lighting reports, as points in EPSG:3006."""

    incident_xy: np.ndarray  # (n, 2) all incidents of the window
    incident_dark: np.ndarray  # bool: in darkness
    incident_known: np.ndarray  # bool: light condition known
    report_xy: np.ndarray  # (m, 2) lighting reports
    report_open: np.ndarray  # bool
    dark_lux_now: np.ndarray | None = None  # modelled light now at each incident in darkness (0: unlit)
    incident_key: np.ndarray | None = None  # record key of each incident (privacy.method cell-key)

    def dark_unlit_xy(self, threshold: float) -> np.ndarray:
        """Incidents in darkness at spots the model now lights below `threshold` (all, before the rasters exist)."""
        if self.dark_lux_now is None:
            return self.dark_xy
        return self.dark_xy[self.dark_lux_now < threshold]

    def dark_unlit_keys(self, threshold: float) -> np.ndarray | None:
        """The record keys of `dark_unlit_xy`."""
        if self.dark_keys is None or self.dark_lux_now is None:
            return self.dark_keys
        return self.dark_keys[self.dark_lux_now < threshold]

    @property
    def dark_xy(self) -> np.ndarray:
        return self.incident_xy[self.incident_dark]

    @property
    def dark_keys(self) -> np.ndarray | None:
        return None if self.incident_key is None else self.incident_key[self.incident_dark]

    @property
    def open_report_xy(self) -> np.ndarray:
        return self.report_xy[self.report_open]


def incident_light(incidents: pd.DataFrame, max_window_hours: float) -> np.ndarray:
    """Light-condition code (`estgeo.layers.sun.LIGHT_CONDITIONS`) of each incident."""
    if incidents.empty:
        return np.empty(0, dtype=np.int8)
    lon, lat = TO_WGS84.transform(incidents["x"].to_numpy(dtype=np.float64), incidents["y"].to_numpy(dtype=np.float64))
    start = _unix_seconds(incidents["occurred_from"])
    end = _unix_seconds(incidents["occurred_to"]) if "occurred_to" in incidents else start
    end = np.where(np.isnan(end), start, end)
    return light_condition(start, end, lat, lon, max_window_s=max_window_hours * 3600.0)


def _unix_seconds(moments: pd.Series) -> np.ndarray:
    moments = pd.to_datetime(moments, utc=True)
    return ((moments - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)


def lighting_problem_codes(settings) -> list[str]:
    return [code for code, entry in settings.taxonomy.get("walk_problems", {}).items() if entry.get("lighting")]


def gather_evidence(incidents: pd.DataFrame, walks: pd.DataFrame, settings, opts: dict[str, Any],
                    record_keys: Callable[[pd.Series], np.ndarray | None] | None = None) -> Evidence:
    if opts["incident_window_days"] and not incidents.empty:
        last = pd.to_datetime(incidents["occurred_from"], utc=True).max()
        incidents = incidents[
            pd.to_datetime(incidents["occurred_from"], utc=True) > last - pd.Timedelta(days=float(opts["incident_window_days"]))
        ]
    light = incident_light(incidents, float(opts["light_window_max_hours"]))
    unknown = sorted(set(opts["dark_conditions"]) - set(LIGHT_CONDITIONS))
    if unknown:
        raise ValueError(f"lighting: dark_conditions {unknown} are not light conditions ({', '.join(LIGHT_CONDITIONS)})")
    dark_codes = [LIGHT_CONDITIONS.index(c) for c in opts["dark_conditions"]]
    codes = "|".join(re.escape(c) for c in lighting_problem_codes(settings)) or "(?!)"
    problems = (
        walks["problems"].astype("string").fillna("") if "problems" in walks else pd.Series("", index=walks.index, dtype="string")
    )
    # `problems` holds codes comma-joined (estgeo.ingest.fields.parse_codes).
    is_lighting = problems.str.contains(rf"(?:^|,)\s*(?:{codes})\s*(?:,|$)", regex=True).fillna(False).to_numpy(dtype=bool)
    reports = walks[is_lighting]
    status = reports["status"].astype("string").fillna("ny") if "status" in reports else pd.Series("ny", index=reports.index)
    return Evidence(
        incident_xy=incidents[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2),
        incident_dark=np.isin(light, dark_codes),
        incident_known=light != UNKNOWN,
        report_xy=reports[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2),
        report_open=status.isin(opts["open_report_statuses"]).to_numpy(dtype=bool),
        incident_key=record_keys(incidents["id"]) if record_keys is not None and "id" in incidents else None,
    )


def read_streets(settings, opts: dict[str, Any]) -> gpd.GeoSeries | None:
    """Street and path centrelines in EPSG:3006, or None when the layer has no street file."""
    if not opts.get("streets"):
        return None
    path = Path(opts["streets"])
    path = path if path.is_absolute() else settings.workspace / path
    if not path.exists():
        return None
    streets = gpd.read_file(path, engine="pyogrio")
    if streets.crs is not None and streets.crs.to_epsg() != 3006:
        streets = streets.to_crs("EPSG:3006")
    lines = streets.geometry[~streets.geometry.is_empty & streets.geometry.notna()]
    return lines.reset_index(drop=True)
