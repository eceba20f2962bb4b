"""Benchmark: estgeo's server against QGIS Server (features) and nginx (tiles), side by side.

    python benchmarks/serving.py [--features 1000000] [--duration 10] [--concurrency 1 8 32]

One run, on loopback, with the same data for both sides of each comparison:

* **features** — a GeoPackage of N points (most in and around Sunne's town, the rest over
  the municipality), published as one collection by estgeo (`estgeo.publish.serve`,
  granian) and by QGIS Server 3.22 (its OGC API Features endpoint `/wfs3`, FastCGI
  processes behind nginx, the production set-up), each with the same number of worker
  processes. Requests: `/items?limit=100&bbox=…` over 1 km boxes in the town, cycled.
* **tiles** — the collection's vector tiles at zoom 14, encoded by estgeo's build
  (`estgeo.build.tiles`); served by estgeo (OGC API Tiles) and by nginx as static files
  from the same folder. Requests: every tile, cycled.

Load comes from `wrk` (bounded: a fixed duration per run, a fixed number of connections)
at each concurrency; it prints requests/s and p50/p99 latency per target, and the ratios
against the targets: estgeo's items at least as fast as QGIS Server with a
p50 under 50 ms, and its tiles at least 25 % of nginx's requests/s. Responses other than
2xx are counted and shown. The machine's cores are shared by the load tool, the servers
and anything else running, so absolute figures are noisy; the side-by-side ratios much
less so.

Needs Debian's qgis-server, nginx, spawn-fcgi and wrk.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import requests
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from estgeo.build.tiles import write_tiles  # noqa: E402
from estgeo.config import load_settings  # noqa: E402

COLLECTION = "bench-points"
SUNNE = (13.1433, 59.8366)
TILE_ZOOM = 14
QGIS_FCGI = "/usr/lib/cgi-bin/qgis_mapserv.fcgi"
LAYERS_YML = f"""
builder: points
collections:
  - id: {COLLECTION}
    title: {{sv: Testpunkter, en: Benchmark points}}
    description: {{sv: Punkter för prestandamätning, en: Points for the benchmark}}
    audience: public
    tiles: {{minzoom: {TILE_ZOOM}, maxzoom: {TILE_ZOOM}}}
"""
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
"""


# Data -----------------------------------------------------------------------------
def make_points(n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """N points: 70 % within ~5 km of Sunne's centre, the rest over the municipality."""
    rng = np.random.default_rng(seed)
    town = int(n * 0.7)
    lon = np.concatenate([rng.normal(SUNNE[0], 0.045, town), rng.uniform(12.85, 13.45, n - town)])
    lat = np.concatenate([rng.normal(SUNNE[1], 0.022, town), rng.uniform(59.55, 60.35, n - town)])
    frame = pd.DataFrame({
        "id": np.char.add("p", np.arange(n).astype(str)),
        "status": rng.choice(["tand", "slackt", "fel"], n, p=[0.9, 0.07, 0.03]),
        "power_w": rng.uniform(20, 150, n).round(1),
        "installed_year": rng.integers(1970, 2025, n),
        "owner": rng.choice(["kommun", "trafikverket", "vagforening", "privat"], n),
    })
    return gpd.GeoDataFrame(frame, geometry=shapely.points(lon, lat), crs="OGC:CRS84")


def town_boxes(count: int, size_deg: tuple[float, float] = (0.018, 0.009), seed: int = 2) -> list[str]:
    """1 km × 1 km boxes (lon/lat) around the town centre."""
    rng = np.random.default_rng(seed)
    west = rng.uniform(SUNNE[0] - 0.04, SUNNE[0] + 0.02, count)
    south = rng.uniform(SUNNE[1] - 0.02, SUNNE[1] + 0.01, count)
    return [f"{w:.5f},{s:.5f},{w + size_deg[0]:.5f},{s + size_deg[1]:.5f}" for w, s in zip(west, south, strict=True)]


# Servers --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=60).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


@contextmanager
def estgeo_server(workspace: Path, config: Path, layers: Path, workers: int) -> Iterator[str]:
    port = free_port()
    script = (
        "import sys\n"
        "from estgeo.config import load_settings\n"
        "from estgeo.publish.serve import serve\n"
        f"s = load_settings(workspace={str(workspace)!r}, config_dir={str(config)!r}, layers_dir={str(layers)!r})\n"
        f"sys.exit(serve(s, '127.0.0.1', {port}, {workers}))\n"
    )
    log = (workspace / "estgeo.log").open("w")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/conformance")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


QGS_SCRIPT = """
import sys
from qgis.core import QgsApplication, QgsProject, QgsVectorLayer, QgsCoordinateReferenceSystem
app = QgsApplication([], False)
app.initQgis()
gpkg, layer_name, qgs = sys.argv[1:4]
layer = QgsVectorLayer(f"{gpkg}|layername={layer_name}", layer_name, "ogr")
assert layer.isValid(), "layer not valid"
project = QgsProject.instance()
project.addMapLayer(layer)
project.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
project.writeEntry("WFSLayers", "/", [layer.id()])
project.writeEntry("WFSLayersPrecision", "/" + layer.id(), 8)
project.writeEntry("WMSExtent", "/", ["12.8", "59.5", "13.5", "60.4"])
assert project.write(qgs)
app.exitQgis()
"""


@contextmanager
def nginx_with_qgis(folder: Path, tiles: Path, gpkg: Path, workers: int) -> Iterator[tuple[str, str]]:
    """nginx on one port: QGIS Server (FastCGI, `workers` processes) at /wfs3, the tile
    folder as static files at /tiles/. Yields (base URL, QGIS collection id)."""
    qgs = folder / "bench.qgs"
    made = subprocess.run(["/usr/bin/python3", "-c", QGS_SCRIPT, str(gpkg), COLLECTION, str(qgs)],
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, capture_output=True, text=True, timeout=300)
    if made.returncode != 0:
        raise RuntimeError(f"could not write the QGIS project:\n{made.stderr}")
    sock = folder / "qgis.sock"
    fcgi_env = {**os.environ, "QGIS_PROJECT_FILE": str(qgs), "QGIS_SERVER_LOG_LEVEL": "2", "QT_QPA_PLATFORM": "offscreen",
                "QGIS_SERVER_LOG_STDERR": "1", "HOME": str(folder)}
    spawned = subprocess.run(["spawn-fcgi", "-s", str(sock), "-F", str(workers), "-P", str(folder / "fcgi.pid"), "--",
                              QGIS_FCGI], env=fcgi_env, capture_output=True, text=True, timeout=60)
    if spawned.returncode != 0:
        raise RuntimeError(f"spawn-fcgi failed: {spawned.stderr}")
    fcgi_pids = [int(p) for p in re.findall(r"PID: (\d+)", spawned.stdout + spawned.stderr)]
    port = free_port()
    conf = folder / "nginx.conf"
    # nginx's workers drop to an unprivileged user unless told otherwise; they must read
    # the tile files and the FastCGI socket, both the benchmark user's.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    conf.write_text(textwrap.dedent(f"""
        {user}
        worker_processes {workers};
        pid {folder}/nginx.pid;
        error_log {folder}/nginx-error.log;
        daemon off;
        events {{ worker_connections 1024; }}
        http {{
          access_log off;
          types {{ application/vnd.mapbox-vector-tile mvt; }}
          server {{
            listen 127.0.0.1:{port};
            location /tiles/ {{ alias {tiles}/; }}
            location /wfs3 {{
              fastcgi_pass unix:{sock};
              include /etc/nginx/fastcgi_params;
              fastcgi_param SCRIPT_FILENAME {QGIS_FCGI};
              fastcgi_param QGIS_PROJECT_FILE {qgs};
            }}
          }}
        }}
    """), encoding="utf-8")
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/wfs3/collections.json")
        ids = [c["id"] for c in requests.get(f"{base}/wfs3/collections.json", timeout=60).json()["collections"]]
        if not ids:
            raise RuntimeError("QGIS Server publishes no collection")
        yield base, ids[0]
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(timeout=30)
        except subprocess.TimeoutExpired:
            nginx.kill()
        for pid in fcgi_pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


# Load -----------------------------------------------------------------------------
@dataclass
class Result:
    target: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load(target: str, base: str, paths: list[str], concurrency: int, duration: int, folder: Path) -> Result:
    """Run wrk against `base` cycling through `paths` (bounded by duration)."""
    path_file = folder / f"paths-{abs(hash(target))}.txt"
    path_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
    script = folder / "cycle.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    threads = min(concurrency, 2)
    run = subprocess.run(["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{duration}s", "--timeout", "30s",
                          "--latency", "-s", str(script), base], env={**os.environ, "WRK_PATHS": str(path_file)},
                         capture_output=True, text=True, timeout=duration + 120)
    out = run.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(g) for g in socket_errors.groups())
    return Result(target, concurrency, rps, p50, p99, count)


def check_answers(estgeo: str, qgis: str, qgis_id: str, box: str) -> None:
    """Both servers answer the same request with 100 features of the same collection."""
    ours = requests.get(f"{estgeo}/collections/{COLLECTION}/items", params={"f": "json", "limit": 100, "bbox": box},
                        timeout=120).json()
    theirs = requests.get(f"{qgis}/wfs3/collections/{qgis_id}/items.json", params={"limit": 100, "bbox": box}, timeout=120).json()
    assert len(ours["features"]) == 100 == len(theirs["features"]), (len(ours["features"]), len(theirs["features"]))
    assert ours["numberMatched"] == theirs.get("numberMatched", ours["numberMatched"]), (ours["numberMatched"], theirs.get("numberMatched"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--workers", type=int, default=2, help="server processes on each side")
    parser.add_argument("--keep", type=Path, help="keep the generated data in this folder")
    args = parser.parse_args()
    for tool in ("wrk", "nginx", "spawn-fcgi", QGIS_FCGI):
        if shutil.which(tool) is None and not Path(tool).exists():
            print(f"missing {tool}: apt-get install qgis-server nginx spawn-fcgi wrk", file=sys.stderr)
            return 2

    folder = args.keep or Path(tempfile.mkdtemp(prefix="estgeo-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        workspace, config, layers = folder / "ws", folder / "config", folder / "layers"
        build = workspace / "published" / "builds" / "bench"
        gpkg = build / f"{COLLECTION}.gpkg"
        layers.mkdir(exist_ok=True)
        (layers / "bench.yml").write_text(LAYERS_YML, encoding="utf-8")
        shutil.copytree(ROOT / "config", config, dirs_exist_ok=True)
        server_yml = (config / "estgeo.yml").read_text(encoding="utf-8")
        if "access_log:" not in server_yml:  # nginx logs nothing either
            (config / "estgeo.yml").write_text(server_yml.replace("\nserver:\n", "\nserver:\n  access_log: false\n", 1),
                                               encoding="utf-8")
        settings = load_settings(workspace=workspace, config_dir=config, layers_dir=layers)
        if not gpkg.exists():
            started = time.perf_counter()
            build.mkdir(parents=True, exist_ok=True)
            make_points(args.features).to_file(gpkg, layer=COLLECTION, driver="GPKG", engine="pyogrio")
            summary = write_tiles(settings, build)
            print(f"data: {args.features:,} points, {summary.tiles[COLLECTION]:,} tiles at zoom {TILE_ZOOM} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        current = workspace / "published" / "current"
        if not current.exists():
            current.symlink_to("builds/bench")
        tiles_dir = build / "tiles"
        tile_files = sorted(tiles_dir.glob(f"{COLLECTION}/{TILE_ZOOM}/*/*.mvt"))
        tile_xy = [(int(p.parent.name), int(p.stem)) for p in tile_files]
        boxes = town_boxes(200)

        results: list[Result] = []
        with estgeo_server(workspace, config, layers, args.workers) as ours, \
                nginx_with_qgis(folder, tiles_dir, gpkg, args.workers) as (theirs, qgis_id):
            # Load the layer into every worker before measuring (a worker reads it once).
            for box in boxes[:40]:
                requests.get(f"{ours}/collections/{COLLECTION}/items", params={"f": "json", "limit": 100, "bbox": box}, timeout=300)
            check_answers(ours, theirs, qgis_id, boxes[0])
            targets = {
                "items estgeo": (ours, [f"/collections/{COLLECTION}/items?f=json&limit=100&bbox={b}" for b in boxes]),
                "items QGIS Server": (theirs, [f"/wfs3/collections/{qgis_id}/items.json?limit=100&bbox={b}" for b in boxes]),
                "tiles estgeo": (ours, [f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{TILE_ZOOM}/{y}/{x}?f=mvt"
                                        for x, y in tile_xy]),
                "tiles nginx": (theirs, [f"/tiles/{COLLECTION}/{TILE_ZOOM}/{x}/{y}.mvt" for x, y in tile_xy]),
            }
            for name, (base, paths) in targets.items():
                load(name, base, paths, 8, 2, folder)  # warm-up, not counted
            for concurrency in args.concurrency:
                for name, (base, paths) in targets.items():
                    result = load(name, base, paths, concurrency, args.duration, folder)
                    results.append(result)
                    print(f"  {name:18} c={concurrency:<3} {result.rps:9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                          f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}", flush=True)
        report(results, args)
        (folder / "results.json").write_text(json.dumps([r.__dict__ for r in results], indent=1), encoding="utf-8")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def report(results: list[Result], args: argparse.Namespace) -> None:
    by = {(r.target, r.concurrency): r for r in results}
    print()
    print(f"{args.features:,} features, {args.workers} worker processes per server, {args.duration} s per run, "
          f"{os.cpu_count()} cores shared by load tool and servers")
    print(f"{'':4}{'c':>4}  {'estgeo items':>22}  {'QGIS Server items':>22}  {'ratio':>6}  {'p50<50ms':>8}  "
          f"{'estgeo tiles':>13}  {'nginx tiles':>13}  {'ratio':>6}")
    for c in args.concurrency:
        ei, qi = by[("items estgeo", c)], by[("items QGIS Server", c)]
        et, nt = by[("tiles estgeo", c)], by[("tiles nginx", c)]
        items_ratio = ei.rps / qi.rps if qi.rps else float("inf")
        tiles_ratio = et.rps / nt.rps if nt.rps else float("inf")
        print(f"{'':4}{c:>4}  {ei.rps:8.0f}/s p50 {ei.p50_ms:6.1f}  {qi.rps:8.0f}/s p50 {qi.p50_ms:6.1f}  "
              f"{items_ratio:6.2f}  {'yes' if ei.p50_ms < 50 else 'NO':>8}  {et.rps:11.0f}/s  {nt.rps:11.0f}/s  {tiles_ratio:6.2f}")
    print("targets: items ratio ≥ 1.00 and p50 < 50 ms; tiles ratio ≥ 0.25")
    for c in args.concurrency:
        ei, qi = by[("items estgeo", c)], by[("items QGIS Server", c)]
        et, nt = by[("tiles estgeo", c)], by[("tiles nginx", c)]
        ok = ei.rps >= qi.rps and ei.p50_ms < 50 and et.rps >= 0.25 * nt.rps
        print(f"  c={c}: {'met' if ok else 'NOT met'}")
    errors = sum(r.errors for r in results)
    if errors:
        print(f"  {errors} non-2xx answers or socket errors in total (see the per-run lines)")


if __name__ == "__main__":
    sys.exit(main())
