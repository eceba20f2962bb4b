"""Benchmark: context joins of unsafe places — wall time and peak memory.

    python benchmarks/context_joins.py [--places 100000] [--incidents 1000000] [--lamps 100000]

Synthetic places, incidents and lamps over a 20 km × 20 km area around Sunne; times the
whole `unsafe_places` computation (nearest lamp, lamps out within 50 m, incidents and
darkness incidents within 100 m over 12 months, H3 cell) and its parts.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from estgeo.config import load_settings
from estgeo.layers import trygghet
from estgeo.layers.context import BuildContext
from estgeo.layers.neighbourhood import incident_light_conditions

E0, N0, HALF = 395936.0, 6634672.0, 10_000.0


def synthetic(places: int, incidents: int, lamps: int, seed: int = 1) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-06-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 365 * 24 * 60, incidents), unit="min")
    return {
        "walks": pd.DataFrame({
            "id": np.char.add("tv-", np.arange(places).astype(str)), "walk_id": np.char.add("V", (np.arange(places) // 50).astype(str)),
            "walk_date": "2026-03-01", "light_condition": "morker", "status": rng.choice(["ny", "planerad", "atgardad"], places),
            "problems": rng.choice(["belysning_dalig", "skymd_sikt,vegetation", "klotter"], places),
            "target_date": "2026-06-01", "resolved_at": None, "proposal": None, "responsible": None,
            "x": E0 + rng.uniform(-HALF, HALF, places), "y": N0 + rng.uniform(-HALF, HALF, places)}),
        "lights": pd.DataFrame({
            "id": np.arange(lamps).astype(str), "x": E0 + rng.uniform(-HALF, HALF, lamps), "y": N0 + rng.uniform(-HALF, HALF, lamps),
            "status": rng.choice(["tand", "slackt", "fel"], lamps, p=[0.95, 0.03, 0.02])}),
        "incidents": pd.DataFrame({
            "id": np.arange(incidents).astype(str), "x": E0 + rng.normal(0, HALF / 3, incidents), "y": N0 + rng.normal(0, HALF / 3, incidents),
            "category": "klotter", "occurred_from": start, "occurred_to": start + pd.Timedelta(minutes=30)}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--places", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--lamps", type=int, default=100_000)
    args = parser.parse_args()
    frames = synthetic(args.places, args.incidents, args.lamps)
    settings = load_settings(workspace="/tmp/estgeo-bench-ws")
    ctx = BuildContext(settings=settings, read=lambda kind: frames[kind], out_dir=settings.workspace)
    params = {"lamps_out_radius_m": 50, "incident_radius_m": 100, "incident_months": 12, "light_window_max_hours": 2,
              "reference_date": "2026-06-01"}
    t0 = time.perf_counter()
    light = incident_light_conditions(frames["incidents"])
    t_light = time.perf_counter() - t0
    t0 = time.perf_counter()
    places = trygghet.unsafe_places(ctx, frames["walks"], frames["lights"], frames["incidents"], light,
                                    trygghet.reference_time(params), params)
    t_join = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"command: python benchmarks/context_joins.py --places {args.places} --incidents {args.incidents} --lamps {args.lamps}")
    print(f"{'step':44} {'seconds':>8}")
    print(f"{'light condition of every incident (sun)':44} {t_light:>8.2f}")
    print(f"{'context joins for every place':44} {t_join:>8.2f}")
    print(f"{'total':44} {t_light + t_join:>8.2f}")
    print(f"places/s: {args.places / t_join:,.0f}; peak memory (RSS): {peak:,.0f} MB; "
          f"mean incidents within 100 m: {places['incidents_nearby'].astype('Float64').mean():.1f}")


if __name__ == "__main__":
    main()
