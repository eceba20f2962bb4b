"""Benchmark: the embedded store against PostGIS — build time and serving throughput.

    python benchmarks/backends.py [--incidents 10000000] [--workers 1 2 4] [--seconds 15]
                                  [--postgis postgresql://…]   (default: a throwaway cluster)

For each backend the same demo municipality (`estgeo demo --incidents N`, same seed) is
written, ingested and built with the CLI, timed step by step. Then for 1, 2 and 4 server
workers, `estgeo serve` is started and `--clients` concurrent clients ask, for
`--seconds` each, for pages of density items inside a bbox, pages matching a CQL2
filter, and vector tiles; the table gives requests per second and the median latency.
With PostGIS the tiles are measured twice: the pre-generated files (the default) and
cut per request in the database (`postgis.tiles: database` in a copy of config/, the
`tiles (db)` rows), which decides the default. The clients run on the same machine as
the server (two cores here), so the figures compare the backends with each other, not
with a production server.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
ESTGEO = [sys.executable, "-m", "estgeo.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([*ESTGEO, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _tile(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2 ** zoom
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _paths(rng: random.Random) -> dict[str, callable]:
    def bbox() -> str:
        lon, lat = 13.14 + rng.uniform(-0.08, 0.08), 59.84 + rng.uniform(-0.04, 0.04)
        return (f"/collections/incident-density-r10/items?f=json&limit=100"
                f"&bbox={lon - 0.01:.4f},{lat - 0.005:.4f},{lon + 0.01:.4f},{lat + 0.005:.4f}")

    def cql() -> str:
        return (f"/collections/incident-density/items?f=json&limit=100&offset={rng.randrange(0, 500)}"
                f"&filter=count%20%3E%20{rng.randrange(5, 15)}%20AND%20period_kind%20%3D%20%27month%27")

    def tile() -> str:
        z = rng.choice([12, 13, 14])
        x, y = _tile(13.14 + rng.uniform(-0.06, 0.06), 59.84 + rng.uniform(-0.03, 0.03), z)
        return f"/collections/incident-density/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"

    return {"items+bbox": bbox, "items+CQL2": cql, "tiles": tile, "tiles (db)": tile}


def _database_tiles_config() -> Path:
    """A copy of config/ whose PostGIS store cuts the vector tiles in the database."""
    folder = Path(tempfile.mkdtemp(prefix="estgeo-bench-config-")) / "config"
    shutil.copytree(ROOT / "config", folder)
    project = yaml.safe_load((folder / "estgeo.yml").read_text(encoding="utf-8"))
    project["postgis"] = {**(project.get("postgis") or {}), "tiles": "database"}
    (folder / "estgeo.yml").write_text(yaml.safe_dump(project, allow_unicode=True), encoding="utf-8")
    return folder


def _load(base: str, make_path, clients: int, seconds: float, answered: tuple[int, ...] = (200, 204)) -> tuple[float, float, int]:
    """Requests per second, median latency (ms) and wrong answers of `clients` clients
    asking for `seconds`, after as long again unmeasured, so that every worker has
    loaded what it caches (the file provider keeps each layer in memory)."""
    _run_load(base, make_path, clients, seconds, answered)
    return _run_load(base, make_path, clients, seconds, answered)


def _run_load(base: str, make_path, clients: int, seconds: float, answered: tuple[int, ...]) -> tuple[float, float, int]:
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            started = time.perf_counter()
            response = session.get(base + make_path(), timeout=120)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status_code not in answered:
                    errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / seconds, statistics.median(latencies) * 1000 if latencies else float("nan"), errors[0]


def _serve(env: dict[str, str], workers: int):
    port = _free_port()
    process = subprocess.Popen([*ESTGEO, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/conformance", timeout=5).ok:
                return base, process
        except requests.RequestException:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--postgis", help="a PostGIS database to use (default: a throwaway cluster)")
    args = parser.parse_args()
    cluster = None
    url = args.postgis
    if not url:
        cluster = tempfile.mkdtemp(prefix="estgeo-bench-pg-")
        url = subprocess.run([str(ROOT / "tests" / "postgis-cluster"), "start", cluster], check=True,
                             capture_output=True, text=True).stdout.strip()
    rows = []
    try:
        for backend in ("embedded", "postgis"):
            workspace = Path(tempfile.mkdtemp(prefix=f"estgeo-bench-{backend}-"))
            env = {**os.environ, "ESTGEO_HOME": str(workspace), "PYTHONPATH": str(ROOT)}
            env.pop("ESTGEO_STORE", None)
            if backend == "postgis":
                env["ESTGEO_STORE"] = f"{url}{'&' if '?' in url else '?'}schema=bench"
            steps = {"demo files": _run(["demo", "--incidents", str(args.incidents), "--no-ingest"], env),
                     "ingest": _run(["ingest", str(workspace / "inbox")], env),
                     "build": _run(["build"], env)}
            print(f"{backend}: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()), flush=True)
            for workers in args.workers:
                paths = _paths(random.Random(1))
                runs = [(env, [n for n in paths if n != "tiles (db)"])]
                if backend == "postgis":
                    runs.append(({**env, "ESTGEO_CONFIG": str(_database_tiles_config())}, ["tiles (db)"]))
                for run_env, names in runs:
                    base, process = _serve(run_env, workers)
                    try:
                        for name in names:
                            # A tile outside the data is 404 (204 from the database) by design.
                            ok = (200, 204, 404) if name.startswith("tiles") else (200,)
                            rate, p50, errors = _load(base, paths[name], args.clients, args.seconds, ok)
                            rows.append((backend, steps["ingest"], steps["build"], workers, name, rate, p50, errors))
                            print(f"  {workers} worker(s) {name:11} {rate:8.1f} req/s  p50 {p50:7.1f} ms  errors {errors}",
                                  flush=True)
                    finally:
                        os.killpg(process.pid, 2)
                        process.wait(timeout=60)
            shutil.rmtree(workspace, ignore_errors=True)
    finally:
        if cluster:
            subprocess.run([str(ROOT / "tests" / "postgis-cluster"), "stop", cluster], check=False)
    print(f"\ncommand: python benchmarks/backends.py --incidents {args.incidents} --workers "
          f"{' '.join(map(str, args.workers))} --clients {args.clients} --seconds {args.seconds:g}")
    print(f"{'backend':9} {'ingest s':>9} {'build s':>8} {'workers':>7} {'request':11} {'req/s':>8} {'p50 ms':>8} "
          f"{'errors':>6} {'vs embedded':>11}")
    embedded = {(w, n): r for b, _, _, w, n, r, _, _ in rows if b == "embedded"}
    for backend, ingest, build, workers, name, rate, p50, errors in rows:
        reference = embedded.get((workers, "tiles" if name == "tiles (db)" else name))
        ratio = rate / reference if reference else float("nan")
        print(f"{backend:9} {ingest:9.1f} {build:8.1f} {workers:7} {name:11} {rate:8.1f} {p50:8.1f} {errors:6} {ratio:10.2f}x")


if __name__ == "__main__":
    main()
