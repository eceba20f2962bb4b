"""The lighting builder's parameters: defaults, merging layers/lighting.yml over them, file names.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

import copy
from typing import Any

import pyproj

LIGHT_FILE = "modelled-light.tif"
REPAIRED_FILE = "modelled-light-repaired.tif"

DEFAULTS: dict[str, Any] = {
    "model": {},
    "compress": "DEFLATE",
    "batch_tiles": 16,
    "dark_threshold_lux": 0.4,
    "dark_conditions": ["darkness"],
    "light_window_max_hours": 2.0,
    "incident_window_days": None,
    "streets": "basemap/streets.gpkg",
    "street_buffer_m": 6.0,
    "lamp_buffer_m": 30.0,
    "open_report_statuses": ["ny", "planerad"],
    "min_count": None,
    "area_counts_resolution": None,
    "collections": {
        "insecurity": "lighting-insecurity",
        "gaps": "dark-gaps",
        "lamps_out": "lamps-out",
    },
    "gaps": {"evidence_radius_m": 50.0, "min_area_m2": 100.0, "repair_share": 0.5},
    "work_list": {
        "reach_lux": None,
        "min_reach_m": 25.0,
        "max_reach_m": 75.0,
        "neighbour_radius_m": 100.0,
        "weights": {"dark_incident": 1.0, "lighting_report": 3.0},
    },
    "index": {
        "resolution": None,
        "weights": {"dark_area": 0.3, "lamps_out": 0.15, "dark_incidents": 0.25, "dark_share": 0.1, "lighting_reports": 0.2},
        "incidents_ref": None,
        "incidents_ref_percentile": 90,
        "reports_ref": 3,
    },
}

TO_WGS84 = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)


def merged_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """The layer's parameters over `DEFAULTS`, section by section."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in (params or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = value
    return out


def _deep_update(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    for key, value in new.items():
        base[key] = _deep_update(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base
