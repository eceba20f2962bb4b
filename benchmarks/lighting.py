"""Benchmark: the modelled-light rasters (both COGs) for a large town and for a whole country.

    python benchmarks/lighting.py [--cases town national] [--threads N]

* **town**: 100,000 lamps along a street grid over 20 km × 20 km, 5 m pixels;
* **national**: 2,500,000 lamps in 2,000 towns (sizes by Zipf's law) over Sweden's extent
  (905 km × 1,600 km), 5 m pixels: a 58-gigapixel grid of which only the tiles that some
  lamp reaches are computed and stored (sparse tiles).

Each case runs `estgeo.layers.lighting.rasters.write_modelled_light` — render every tile of both
rasters (current and repaired) and write them as Cloud Optimized GeoTIFFs — in a fresh child
process (so peak memory is its own), after a warm-up that loads the compiled kernel.

Columns: wall time in all and its parts (render = kernel + scratch writes; finish =
overviews + COG copy), peak resident memory, lamp-pixel updates (pixel centres inside a
lamp's reach; each adds to both rasters), the kernel's rate per core (the same render run
again on one thread, nothing written, per CPU second) and its ratio to the target of 100 million per second
per core, the kernel's rate on all threads (wall), and the write rate (COG bytes, and the
raw float32 bytes of the tiles, per second outside the kernel).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from estgeo.layers.illuminance import Lamps, LightModel, RenderStats, lamp_photometry, render_tiles  # noqa: E402
from estgeo.layers.lighting import merged_params  # noqa: E402
from estgeo.layers.lighting.rasters import lamps_grid, write_modelled_light  # noqa: E402

TARGET_UPDATES_PER_CORE = 100e6
SWEDEN_3006 = (180_000.0, 6_100_000.0, 1_085_000.0, 7_700_000.0)


def street_grid(rng: np.random.Generator, x0: float, y0: float, width: float, height: float,
                street_spacing: float, lamp_spacing: float = 30.0) -> np.ndarray:
    """Lamp positions every `lamp_spacing` m along a jittered grid of streets."""
    parts = []
    for along, across, length, origin_along, origin_across in ((0, 1, width, x0, y0), (1, 0, height, y0, x0)):
        n_streets = max(1, int((height if along == 0 else width) // street_spacing))
        offsets = origin_across + (np.arange(n_streets) + 0.5) * street_spacing + rng.normal(0, street_spacing / 10, n_streets)
        positions = origin_along + np.arange(0, length, lamp_spacing)
        a = np.tile(positions, n_streets) + rng.normal(0, 2, n_streets * positions.size)
        b = np.repeat(offsets, positions.size) + rng.normal(0, 2, n_streets * positions.size)
        xy = np.empty((a.size, 2))
        xy[:, along], xy[:, across] = a, b
        parts.append(xy)
    return np.concatenate(parts)


def lamps_frame(xy: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = len(xy)
    height = np.round(rng.uniform(4, 12, n) * 2) / 2
    return pd.DataFrame({
        "x": xy[:, 0], "y": xy[:, 1], "pole_height_m": height, "lamp_type": "led",
        "flux_lm": np.round(120 * height**2 * rng.uniform(0.8, 1.2, n), -1),
        "status": np.where(rng.random(n) < 0.05, "slackt", "tand"),
    })


def town_lamps(n: int = 100_000, seed: int = 1) -> pd.DataFrame:
    """`n` lamps on a street grid over 20 km × 20 km (streets ~267 m apart, lamps every 30 m)."""
    rng = np.random.default_rng(seed)
    side = 20_000.0
    spacing = 2 * side * (side / 30.0) / n
    xy = street_grid(rng, 400_000.0, 6_600_000.0, side, side, spacing)
    return lamps_frame(xy[rng.permutation(len(xy))[:n]], rng)


def national_lamps(n: int = 2_500_000, towns: int = 2000, seed: int = 2) -> pd.DataFrame:
    """`n` lamps in `towns` towns of Zipf-distributed size scattered over Sweden's extent."""
    rng = np.random.default_rng(seed)
    share = 1.0 / np.arange(1, towns + 1)
    sizes = np.maximum(20, np.round(n * share / share.sum())).astype(int)
    sizes[0] += n - sizes.sum()
    xmin, ymin, xmax, ymax = SWEDEN_3006
    parts = []
    for size in sizes:
        # 150 m street spacing and 30 m lamp spacing: about 444 lamps per km² (a little more
        # area than needed, so every town gets its full number of lamps).
        side = max(300.0, np.sqrt(1.3 * size / 444.0) * 1000.0)
        x0, y0 = rng.uniform(xmin, xmax - side), rng.uniform(ymin, ymax - side)
        xy = street_grid(rng, x0, y0, side, side, 150.0)
        parts.append(xy[rng.permutation(len(xy))[:size]])
    return lamps_frame(np.concatenate(parts), rng)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(case: str, threads: int | None, workdir: str | None) -> dict:
    import numba

    if threads:
        numba.set_num_threads(threads)
    model = LightModel.from_params(merged_params({})["model"] | {
        "efficacy_lm_per_w": {"led": 120}, "default_flux_lm": {"led": 4000}})
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        out = Path(tmp)
        warm = lamps_frame(np.array([[500_000.0, 6_600_000.0], [500_030.0, 6_600_000.0]]), np.random.default_rng(0))
        wl = Lamps.from_photometry(warm["x"], warm["y"], lamp_photometry(warm, model))
        write_modelled_light(wl, lamps_grid(wl, model), model, out / "w1.tif", out / "w2.tif")

        made = time.perf_counter()
        lights = town_lamps() if case == "town" else national_lamps()
        lamps = Lamps.from_photometry(lights["x"], lights["y"], lamp_photometry(lights, model))
        grid = lamps_grid(lamps, model)
        make_s = time.perf_counter() - made
        started = time.perf_counter()
        result = write_modelled_light(lamps, grid, model, out / "now.tif", out / "repaired.tif",
                                      compress="DEFLATE", batch_tiles=16)
        wall = time.perf_counter() - started
        st = result.stats
        # The rate per core: the kernel alone on one thread (render, nothing written), per CPU
        # second (on a shared machine wall time also counts time the core ran others; with
        # several threads CPU time also counts threads waiting for each other).
        threads_used = numba.get_num_threads()
        numba.set_num_threads(1)
        single = RenderStats()
        for _tile in render_tiles(lamps, grid, model.nodata, 16, single):
            pass
        numba.set_num_threads(threads_used)
        write_s = wall - st.kernel_seconds
        raw_bytes = 2 * 4 * st.tiles_written * model.tile_size**2
        return {
            "case": case,
            "lamps": len(lamps),
            "grid_px": grid.width * grid.height,
            "grid": f"{grid.width:,} × {grid.height:,}",
            "tiles_total": grid.tiles_x * grid.tiles_y,
            "tiles_written": st.tiles_written,
            "threads": threads_used,
            "make_lamps_s": make_s,
            "wall_s": wall,
            "render_s": result.render_seconds,
            "finish_s": result.finish_seconds,
            "overview_s": result.overview_seconds,
            "cog_copy_s": result.cog_seconds,
            "kernel_s": st.kernel_seconds,
            "kernel_cpu_s": st.kernel_cpu_seconds,
            "updates": st.lamp_pixel_updates,
            "updates_per_core_s": single.lamp_pixel_updates / max(single.kernel_cpu_seconds, 1e-9),
            "updates_per_cpu_s_threads": st.lamp_pixel_updates / max(st.kernel_cpu_seconds, 1e-9),
            "updates_per_wall_s": st.lamp_pixel_updates / max(st.kernel_seconds, 1e-9),
            "cog_mb": result.bytes_written / 1e6,
            "write_mb_s": result.bytes_written / 1e6 / max(write_s, 1e-9),
            "raw_mb_s": raw_bytes / 1e6 / max(write_s, 1e-9),
            "peak_rss_mb": _rss_mb(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=["town", "national"], default=["town", "national"])
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")
    parser.add_argument("--workdir", default=None, help="folder for the rasters (default: the system's temp; national needs ~5 GB)")
    parser.add_argument("--child", choices=["town", "national"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.threads, args.workdir)))
        return
    rows = []
    for case in args.cases:
        cmd = [sys.executable, __file__, "--child", case] + (["--threads", str(args.threads)] if args.threads else []) \
            + (["--workdir", args.workdir] if args.workdir else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(out.returncode)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'case':<9} {'lamps':>10} {'grid (px)':>19} {'tiles':>15} {'thr':>3} {'wall s':>7} {'render':>7} {'finish':>7} "
          f"{'peak MB':>8} {'updates':>14} {'M upd/s/core':>12} {'× target':>8} {'M upd/s wall':>12} {'COG MB':>8} "
          f"{'MB/s':>6} {'raw MB/s':>8}")
    for r in rows:
        print(f"{r['case']:<9} {r['lamps']:>10,} {r['grid']:>19} {r['tiles_written']:>6,}/{r['tiles_total']:>8,} {r['threads']:>3} "
              f"{r['wall_s']:>7.1f} {r['render_s']:>7.1f} {r['finish_s']:>7.1f} {r['peak_rss_mb']:>8,.0f} {r['updates']:>14,} "
              f"{r['updates_per_core_s'] / 1e6:>12.0f} {r['updates_per_core_s'] / TARGET_UPDATES_PER_CORE:>8.2f} "
              f"{r['updates_per_wall_s'] / 1e6:>12.0f} {r['cog_mb']:>8,.0f} {r['write_mb_s']:>6.0f} {r['raw_mb_s']:>8.0f}")
    print("finish, per raster (the two run side by side): "
          + "; ".join(f"{r['case']}: overviews {r['overview_s'] / 2:.1f} s, GDAL COG copy {r['cog_copy_s'] / 2:.1f} s" for r in rows))


if __name__ == "__main__":
    main()
