"""Bounded load test of the public server on loopback.

    python benchmarks/load.py --workspace var                 # start `estgeo serve` on a free port
    python benchmarks/load.py --url http://127.0.0.1:5000     # or load a running server
    python benchmarks/load.py --concurrency 32 --duration 60 --json out.json
    python benchmarks/load.py --workspace var --hostile 8        # the anchor, then 8 hostile clients too
    python benchmarks/load.py --workspace var --writers 20       # 20 Part 4 writers × 50 creates

`--concurrency` clients (threads, each with its own keep-alive connection) ask, for
`--duration` seconds after a short warm-up, a fixed mix of requests found from
`/collections`: feature pages (plain, with `bbox`, with a property filter), single
features, vector tiles around the town centre and coverage subsets where collections
have them. It reports requests, errors (any answer but 200/204, or no answer),
throughput, latency percentiles per kind, and the resident memory of the server's
processes sampled every second: the mean of the last 10 s against the first 10 s.

Traffic only goes to the given loopback URL; loops are bounded by the duration.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
#: Memory windows compared (seconds at the start and at the end of the measured phase).
WINDOW_S = 10.0


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    memory_mb: list[tuple[float, float]] = field(default_factory=list)
    #: Hostile clients' answers: status → latencies (seconds).
    hostile: dict[int, list[float]] = field(default_factory=dict)

    def percentile(self, q: float, kind: str | None = None) -> float:
        values = sorted(v for k, vs in self.latencies.items() if kind in (None, k) for v in vs)
        if not values:
            return math.nan
        return values[min(len(values) - 1, int(math.ceil(q / 100.0 * len(values))) - 1)]

    def memory_growth_mb(self) -> tuple[float, float, float]:
        """(mean of the first 10 s, mean of the last 10 s, difference), in MB."""
        if not self.memory_mb:
            return math.nan, math.nan, math.nan
        end = self.memory_mb[-1][0]
        first = [m for t, m in self.memory_mb if t <= WINDOW_S] or [self.memory_mb[0][1]]
        last = [m for t, m in self.memory_mb if t >= end - WINDOW_S] or [self.memory_mb[-1][1]]
        return statistics.mean(first), statistics.mean(last), statistics.mean(last) - statistics.mean(first)

    def summary(self) -> dict[str, Any]:
        first, last, growth = self.memory_growth_mb()
        kinds = {k: {"requests": len(v), "p50_ms": round(1000 * self.percentile(50, k), 1),
                     "p99_ms": round(1000 * self.percentile(99, k), 1)} for k, v in sorted(self.latencies.items())}
        return {
            "requests": self.requests, "errors": self.errors, "seconds": round(self.seconds, 1),
            "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(1000 * self.percentile(50), 1), "p95_ms": round(1000 * self.percentile(95), 1),
            "p99_ms": round(1000 * self.percentile(99), 1), "by_kind": kinds,
            "memory_first_10s_mb": round(first, 1), "memory_last_10s_mb": round(last, 1),
            "memory_growth_mb": round(growth, 1), "error_samples": self.error_samples[:5],
            "hostile": {str(status): {"requests": len(v), "max_ms": round(1000 * max(v), 1)}
                        for status, v in sorted(self.hostile.items())},
        }


def _tile(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2 ** zoom
    return int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n), int((lon + 180.0) / 360.0 * n)


def request_mix(base: str, seed: int = 1) -> list[tuple[str, str]]:
    """(kind, URL) pairs to cycle through: items, single features, tiles and coverages."""
    rng = random.Random(seed)
    collections = requests.get(f"{base}/collections", params={"f": "json"}, timeout=60).json()["collections"]
    mix: list[tuple[str, str]] = []
    centre = (13.1433, 59.8366)
    for collection in collections:
        cid = collection["id"]
        rels = {link["rel"] for link in collection["links"]}
        if "items" in rels:
            mix.append(("items", f"{base}/collections/{cid}/items?f=json&limit=10"))
            mix.append(("items", f"{base}/collections/{cid}/items?f=json&limit=100&bbox=13.12,59.82,13.17,59.85"))
            first = requests.get(f"{base}/collections/{cid}/items", params={"f": "json", "limit": 5}, timeout=60).json()
            for feature in first.get("features", [])[:2]:
                mix.append(("item", f"{base}/collections/{cid}/items/{feature['id']}?f=json"))
            if any(f.get("properties", {}).get("period_kind") for f in first.get("features", [])):
                mix.append(("items", f"{base}/collections/{cid}/items?f=json&limit=50&period_kind=month"))
        if any("tilesets" in rel for rel in rels):
            for _ in range(6):
                zoom = rng.choice([12, 13, 14, 15])
                row, col = _tile(centre[0] + rng.uniform(-0.03, 0.03), centre[1] + rng.uniform(-0.015, 0.015), zoom)
                mix.append(("tile", f"{base}/collections/{cid}/tiles/WebMercatorQuad/{zoom}/{row}/{col}?f=mvt"))
        if any("coverage" in rel for rel in rels):
            for _ in range(2):
                lon, lat = centre[0] + rng.uniform(-0.02, 0.02), centre[1] + rng.uniform(-0.01, 0.01)
                mix.append(("coverage", f"{base}/collections/{cid}/coverage?f=json&bbox={lon:.4f},{lat:.4f},"
                                        f"{lon + 0.005:.4f},{lat + 0.003:.4f}"))
    # Only requests a client would make: a tile outside a tile set's zoom levels is a
    # correct 404, not a load error, so every URL is tried once and kept if it answers.
    mix = [(kind, url) for kind, url in mix if requests.get(url, timeout=120).status_code in (200, 204)]
    rng.shuffle(mix)
    return mix


def server_memory_mb(pids: list[int]) -> float:
    import psutil

    total = 0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            total += process.memory_info().rss
            total += sum(c.memory_info().rss for c in process.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return total / 1e6


def hostile_mix(base: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, URL, JSON body) of the most expensive requests the limits allow
    (config/estgeo.yml server.limits): 16 long search terms, a CQL2 filter of 80 LIKE
    patterns with a sort, 500 IN values, the largest HTML page, the largest JSON page."""
    items = f"{base}/collections/incident-density-r10/items"
    terms = "+".join(f"{i:x}" * 8 for i in range(16))
    likes = {"op": "or", "args": [{"op": "like", "args": [{"property": "id"}, f"%{i}a{i}%"]} for i in range(80)]}
    many = {"op": "and", "args": [{"op": "in", "args": [{"property": "count"}, list(range(500))]},
                                  {"op": "s_intersects", "args": [{"property": "geometry"},
                                                                  {"type": "Polygon", "coordinates": [[[13.0, 59.7], [13.3, 59.7],
                                                                                                       [13.3, 59.95], [13.0, 59.7]]]}]}]}
    return [
        ("GET", f"{items}?f=json&limit=1000&q={terms}", None),
        ("POST", f"{items}?f=json&limit=1000&sortby=-count", likes),
        ("POST", f"{items}?f=json&limit=1000", many),
        ("GET", f"{items}?f=html&limit=200", None),
        ("GET", f"{items}?f=json&limit=10000&sortby=-count", None),
    ]


def run_load(base: str, concurrency: int = 32, duration: float = 60.0, warmup: float = 5.0,
             server_pids: list[int] | None = None, seed: int = 1, hostile: int = 0) -> LoadResult:
    """Load `base` with `concurrency` clients for `duration` seconds after `warmup`, and
    `hostile` more clients sending `hostile_mix` (their answers kept apart: kind
    "hostile", errors not counted — a 429/503 is the server defending itself).

    Every client sends its own X-Forwarded-For address, as clients behind the
    municipality's proxy arrive (the per-client rate limit counts them apart)."""
    mix = request_mix(base, seed)
    heavy = hostile_mix(base)
    result = LoadResult()
    lock = threading.Lock()
    start_measuring = time.monotonic() + warmup
    stop_at = start_measuring + duration

    def client(index: int) -> None:
        session = requests.Session()
        session.headers["X-Forwarded-For"] = f"198.18.{index // 250}.{index % 250 + 1}"
        position = index * 7919
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            kind, url = mix[position % len(mix)]
            position += 1
            warming = now < start_measuring
            began = time.perf_counter()
            try:
                response = session.get(url, timeout=60)
                ok, status = response.status_code in (200, 204), str(response.status_code)
                if not ok:
                    status += " " + response.text[:120]
            except requests.RequestException as exc:
                ok, status = False, type(exc).__name__
            elapsed = time.perf_counter() - began
            if warming:
                continue  # warm-up: layers loaded into each worker, not counted
            with lock:
                result.requests += 1
                result.latencies.setdefault(kind, []).append(elapsed)
                if not ok:
                    result.errors += 1
                    if len(result.error_samples) < 20:
                        result.error_samples.append(f"{url} → {status}")

    def attacker(index: int) -> None:
        session = requests.Session()
        session.headers["X-Forwarded-For"] = f"198.19.0.{index + 1}"
        position = index
        while time.monotonic() < stop_at:
            method, url, body = heavy[position % len(heavy)]
            position += 1
            began = time.perf_counter()
            try:
                response = session.request(method, url, json=body, timeout=120)
                status = response.status_code
            except requests.RequestException:
                status = 0
            elapsed = time.perf_counter() - began
            if time.monotonic() >= start_measuring:
                with lock:
                    result.hostile.setdefault(status, []).append(elapsed)
            # No pause, whatever Retry-After says: the worst client there is.

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    threads += [threading.Thread(target=attacker, args=(i,), daemon=True) for i in range(hostile)]
    for thread in threads:
        thread.start()
    if server_pids:
        while time.monotonic() < start_measuring:
            time.sleep(0.1)
        t0 = time.monotonic()
        while time.monotonic() < stop_at:
            result.memory_mb.append((time.monotonic() - t0, server_memory_mb(server_pids)))
            time.sleep(1.0)
    for thread in threads:
        thread.join(timeout=duration + 120)
    result.seconds = duration
    return result


WRITER_KEY = "load-benchmark-writer-key-0123456789"


def run_writers(base: str, writers: int = 20, writes: int = 50) -> dict[str, Any]:
    """`writers` clients each create `writes` walk observations over OGC API Features
    Part 4 (the internal profile) at once; returns latencies and the ids created."""
    latencies: list[float] = []
    created: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {WRITER_KEY}", "Content-Type": "application/geo+json"})
        for n in range(writes):
            feature = {"type": "Feature", "id": f"load-{index}-{n}",
                       "geometry": {"type": "Point", "coordinates": [13.1433 + index * 1e-4, 59.8366 + n * 1e-5]},
                       "properties": {"walk_id": f"V-LOAD-{index}", "walk_date": "2026-10-01", "light_condition": "mörker",
                                      "problems": ["belysning_saknas"], "participants": 3}}
            began = time.perf_counter()
            response = session.post(f"{base}/collections/walk-observations/items", data=json.dumps(feature), timeout=60)
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                if response.status_code == 201:
                    created.append(feature["id"])
                else:
                    failures.append(f"{response.status_code} {response.text[:100]}")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return {"writes": len(latencies), "created": created, "failures": failures[:5], "seconds": time.perf_counter() - began,
            "p50_ms": 1000 * ordered[len(ordered) // 2], "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))]}


def _hostile_report(base: str, concurrency: int, duration: float, warmup: float, hostile: int) -> dict[str, Any]:
    """The anchor (ordinary clients alone) and the same run with hostile clients."""
    anchor = run_load(base, concurrency, duration, warmup)
    attacked = run_load(base, concurrency, duration, warmup, hostile=hostile)
    hostile_times = [t for v in attacked.hostile.values() for t in v]
    rows = {
        "ordinary p99 alone (anchor)": (1000 * anchor.percentile(99), None),
        "ordinary p99 under attack": (1000 * attacked.percentile(99), 2.0 * 1000 * anchor.percentile(99)),
        "ordinary errors under attack": (attacked.errors, 0),
        "worst hostile request, ms": (1000 * max(hostile_times, default=0.0), 2000.0),
    }
    print(f"\n{'measure':34} {'value':>10} {'target':>10} {'ratio':>8}")
    for name, (value, target) in rows.items():
        ratio = "" if not target else f"{value / target:.2f}"
        print(f"{name:34} {value:10.1f} {'' if target is None else f'{target:10.1f}':>10} {ratio:>8}")
    statuses = {status: len(v) for status, v in sorted(attacked.hostile.items())}
    print(f"hostile answers by status: {statuses}; ordinary requests {anchor.requests} alone, {attacked.requests} under attack")
    return {"anchor": anchor.summary(), "attacked": attacked.summary(),
            "p99_ratio": attacked.percentile(99) / anchor.percentile(99),
            "worst_hostile_ms": 1000 * max(hostile_times, default=0.0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (loopback only)")
    parser.add_argument("--workspace", type=Path, help="serve this workspace on a free port for the test")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--hostile", type=int, default=0,
                        help="also run the same load with this many hostile clients (and the anchor without)")
    parser.add_argument("--writers", type=int, default=0, help="Part 4 writers at once against the internal profile")
    parser.add_argument("--writes", type=int, default=50, help="creates per writer")
    args = parser.parse_args(argv)
    if args.writers:
        if not args.workspace:
            parser.error("--writers needs --workspace (it starts the internal server with its own key)")
        return _writers_main(args)
    if bool(args.url) == bool(args.workspace):
        parser.error("give exactly one of --url and --workspace")
    if args.url:
        host = requests.utils.urlparse(args.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error("the load test only targets loopback addresses")
        result = run_load(args.url.rstrip("/"), args.concurrency, args.duration, args.warmup)
    else:
        sys.path.insert(0, str(REPO / "tests"))
        from live_server import live_server, server_pids

        with live_server(args.workspace.resolve(), workers=args.workers) as (base, process):
            if args.hostile:
                report = _hostile_report(base, args.concurrency, args.duration, args.warmup, args.hostile)
                if args.json:
                    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
                ok = report["attacked"]["errors"] == 0 and report["p99_ratio"] <= 2.0 and report["worst_hostile_ms"] < 2000
                return 0 if ok else 1
            result = run_load(base, args.concurrency, args.duration, args.warmup, server_pids(process))
    summary = result.summary()
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0 if result.errors == 0 else 1


def _writers_main(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO / "tests"))
    from live_server import live_server

    from estgeo.config import load_settings
    from estgeo.store import open_store

    settings = load_settings(workspace=args.workspace.resolve())
    store = open_store(settings)
    before = set(store.read("walks")["id"])
    with live_server(settings.workspace, profile="internal", workers=args.workers,
                     env={"ESTGEO_API_KEYS": f"load:{WRITER_KEY}"}) as (base, _):
        result = run_writers(base, args.writers, args.writes)
    after = store.read("walks")
    new = after[~after["id"].isin(before)]
    durable = set(result["created"]) <= set(new["id"])
    duplicates = int(new["id"].duplicated().sum())
    print(f"\n{'measure':34} {'value':>10} {'target':>10} {'ratio':>8}")
    print(f"{'Part 4 create p50, ms':34} {result['p50_ms']:10.1f}")
    print(f"{'Part 4 create p99, ms':34} {result['p99_ms']:10.1f} {500.0:10.1f} {result['p99_ms'] / 500:8.2f}")
    print(f"{'writes / created / in the store':34} {result['writes']} / {len(result['created'])} / {len(new)}; "
          f"durable: {durable}; duplicate ids: {duplicates}; failures: {result['failures']}")
    # Leave the workspace as it was: the benchmark's observations are removed again.
    for identifier in result["created"]:
        store.delete("walks", identifier, user="benchmark", at="cleanup")
    return 0 if durable and not duplicates and not result["failures"] and result["p99_ms"] < 500 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(REPO))
    sys.exit(main())
