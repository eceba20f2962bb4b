"""Benchmark: the incident-density build against bare H3 indexing of the same points.

    python benchmarks/density.py [--incidents 1000000 10000000]

Synthetic incidents around Sunne (clusters in town plus a thin spread over the whole
municipality, two years of times, mixed exact and vague time windows) are made in memory.
For each size the script times, in one run and on the same points:

* **bare indexing**: `estgeo.layers.density.index_points` (the same call the build uses)
  at every configured resolution, after the same EPSG:3006 → WGS 84 transform;
* **the whole build**: `estgeo.layers.density.build` — all resolutions, all period kinds,
  suppression, Gi*, emerging hot spots and the GeoDataFrames (not the file writing, which
  the orchestration does).

Both wall time and process CPU time are reported: on a shared machine the wall time of
either side swings with the load, the CPU-time ratio much less. Peak memory is the
process's maximum resident set size (ru_maxrss); each size runs in a fresh child process
so sizes do not inherit each other's peak. `--stages` prints where the build's time goes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from estgeo.config import load_settings  # noqa: E402
from estgeo.layers import density  # noqa: E402
from estgeo.layers.context import BuildContext  # noqa: E402


def synthetic_incidents(n: int, seed: int = 0, settings=None) -> pd.DataFrame:
    """`n` incidents in Sunne: 60 % in 40 town clusters, 40 % spread over the municipality."""
    rng = np.random.default_rng(seed)
    settings = settings or load_settings(workspace=tempfile.gettempdir())
    minx, miny, maxx, maxy = settings.extent_3006
    centre = settings.municipality["centre_wgs84"]
    cx, cy = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True).transform(centre["lon"], centre["lat"])
    n_cluster = int(n * 0.6)
    centres = np.c_[cx + rng.normal(0, 3000, 40), cy + rng.normal(0, 4000, 40)]
    spread = rng.uniform(100, 900, 40)
    which = rng.integers(0, 40, n_cluster)
    x = np.concatenate([centres[which, 0] + rng.normal(0, 1, n_cluster) * spread[which], rng.uniform(minx, maxx, n - n_cluster)])
    y = np.concatenate([centres[which, 1] + rng.normal(0, 1, n_cluster) * spread[which], rng.uniform(miny, maxy, n - n_cluster)])
    x, y = np.clip(x, minx, maxx), np.clip(y, miny, maxy)
    start = np.datetime64("2023-01-01T00:00", "s").astype(np.int64) - 3600
    seconds = start + rng.integers(0, 2 * 365 * 86400, n)
    # Window lengths: 40 % exact, 35 % up to 2 h, 15 % up to 12 h, 10 % a whole day (date only).
    kind = rng.random(n)
    length = np.where(kind < 0.4, 0, np.where(kind < 0.75, rng.integers(60, 7200, n), rng.integers(7200, 43200, n)))
    whole_day = kind >= 0.9
    day_start = (seconds + 3600) // 86400 * 86400 - 3600  # local (CET) midnight, near enough for synthetic data
    seconds = np.where(whole_day, day_start, seconds)
    length = np.where(whole_day, 86400 - 1, length)
    categories = list(settings.taxonomy["categories"])
    weights = rng.dirichlet(np.ones(len(categories)) * 2)
    frame = pd.DataFrame({
        "id": pd.array(np.char.add("i", np.arange(n).astype(str)), dtype="str"),
        "x": x,
        "y": y,
        "source_org": pd.Categorical.from_codes(rng.integers(0, 3, n), categories=["kommun", "polis", "bostadsbolag"]),
        "category": pd.Categorical.from_codes(rng.choice(len(categories), n, p=weights), categories=categories),
        "occurred_from": pd.to_datetime(seconds, unit="s", utc=True),
        "occurred_to": pd.to_datetime(seconds + length, unit="s", utc=True),
        "reported_at": pd.to_datetime(seconds + length + 3600, unit="s", utc=True),
    })
    return frame


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(n: int) -> dict:
    settings = load_settings(workspace=tempfile.mkdtemp(prefix="estgeo-bench-"))
    incidents = synthetic_incidents(n, settings=settings)
    rss_data = _rss_mb()
    resolutions = settings.h3_resolutions
    # Bare indexing: the same transform and the same indexing call, at every resolution.
    t0, c0 = time.perf_counter(), time.process_time()
    lon, lat = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True).transform(
        incidents["x"].to_numpy(), incidents["y"].to_numpy())
    for res in resolutions:
        density.index_points(lat, lon, res)
    bare, bare_cpu = time.perf_counter() - t0, time.process_time() - c0
    del lon, lat
    stages: list[tuple[str, float]] = []
    ctx = BuildContext(settings=settings, read=lambda kind: incidents, out_dir=Path(tempfile.mkdtemp()),
                       progress=lambda message: stages.append((message, time.perf_counter())))
    t0, c0 = time.perf_counter(), time.process_time()
    frames = density.build(ctx, {})
    whole, whole_cpu = time.perf_counter() - t0, time.process_time() - c0
    marks = [t0] + [t for _, t in stages] + [t0 + whole]
    return {
        "incidents": n,
        "resolutions": resolutions,
        "bare_indexing_s": round(bare, 2),
        "build_s": round(whole, 2),
        "ratio": round(whole / bare, 2),
        "bare_indexing_cpu_s": round(bare_cpu, 2),
        "build_cpu_s": round(whole_cpu, 2),
        "cpu_ratio": round(whole_cpu / bare_cpu, 2),
        "peak_rss_mb": round(_rss_mb(), 0),
        "rss_after_data_mb": round(rss_data, 0),
        "rows": {k: len(v) for k, v in frames.items()},
        "stages": [(message, round(marks[i + 2] - marks[i + 1], 2)) for i, (message, _) in enumerate(stages)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--stages", action="store_true", help="print the time of each build stage")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.incidents[0])))
        return
    results = []
    for n in args.incidents:
        out = subprocess.run([sys.executable, __file__, "--child", "--incidents", str(n)], capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(out.returncode)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'incidents':>12} {'bare H3 wall/CPU (s)':>21} {'build wall/CPU (s)':>19} {'ratio wall/CPU':>15} "
          f"{'peak RSS (MB)':>14}")
    for r in results:
        print(f"{r['incidents']:>12,} {r['bare_indexing_s']:>10.2f} /{r['bare_indexing_cpu_s']:>8.2f} "
              f"{r['build_s']:>9.2f} /{r['build_cpu_s']:>7.2f} {r['ratio']:>7.2f} /{r['cpu_ratio']:>5.2f} {r['peak_rss_mb']:>14,.0f}")
    for r in results:
        print(f"\n{r['incidents']:,} incidents, rows: " + ", ".join(f"{k}={v:,}" for k, v in r["rows"].items()))
        if args.stages:
            for message, seconds in r["stages"]:
                print(f"  {seconds:8.2f} s  {message}")


if __name__ == "__main__":
    main()
