"""Benchmark: ingest of N incident rows from CSV — rows/s and peak memory.

    python benchmarks/ingest.py [--rows 1000000] [--format polisen|canonical]
    python benchmarks/ingest.py --rows 1000000 --concurrent   # two ingests of one file at once

Writes a police-style export (semicolon, Windows-1252, date and time in two columns,
X = northing, decimal comma) or a canonical UTF-8 CSV, then ingests it twice into a
fresh workspace in a child process (first: all new; second: all unchanged), measuring
wall time and the child's peak resident memory. Targets: >= 200,000 rows/s,
peak < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = ["Skadegörelse", "Klotter", "Brand", "Ordningsstörning", "Hot/våld", "Stöld/inbrott", "Narkotika", "Larm"]


def write_police_csv(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-11-01")
    minutes = rng.integers(0, 2 * 365 * 24 * 60, rows)
    when = start + pd.to_timedelta(minutes, unit="min")
    east = 395936 + rng.normal(0, 1500, rows)
    north = 6634672 + rng.normal(0, 1500, rows)
    frame = pd.DataFrame({
        "Ärendenummer": np.char.add("P-", np.arange(rows).astype(str)),
        "Händelsetyp": np.asarray(CATEGORIES)[rng.integers(0, len(CATEGORIES), rows)],
        "Datum": when.strftime("%Y-%m-%d"),
        "Klockslag": when.strftime("%H:%M"),
        "X": np.round(north).astype(int),
        "Y": np.round(east).astype(int),
        "Noggrannhet (m)": np.char.replace(np.round(rng.uniform(5, 50, rows), 1).astype(str), ".", ","),
        "Platstyp": "Centrum",
        "Beskrivning": "Händelse vid torget",
    })
    # Avoid the spring daylight-saving gap so every row is valid and the figure measures throughput.
    frame.loc[frame["Klockslag"].str.startswith("02:"), "Klockslag"] = "03:15"
    frame.to_csv(path, sep=";", index=False, encoding="cp1252")


def child(path: str, workspace: str) -> None:
    from estgeo.config import load_settings
    from estgeo.ingest.pipeline import ingest_file
    from estgeo.store import SqliteStore

    settings = load_settings(workspace=workspace)
    settings.ensure_workspace()
    store = SqliteStore(settings.store_path, settings.model)
    results = []
    for label in ("first ingest (all new)", "re-ingest (all unchanged)"):
        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        summary = ingest_file(settings, store, Path(path))
        results.append({"run": label, "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                        "load": load, "read": summary.read,
                        "ingested": summary.ingested, "unchanged": summary.unchanged, "quarantined": summary.quarantined})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"results": results, "peak_mb": peak_mb}))


def concurrent(rows: int) -> None:
    """Two `estgeo ingest` of the same export started together: both must end
    cleanly, the store must hold each row once, and both runs' counts must add up."""
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "polisen_bench.csv"
        write_police_csv(path, rows)
        env = {**os.environ, "ESTGEO_HOME": str(Path(tmp) / "ws"), "PYTHONPATH": str(repo)}
        command = [sys.executable, "-m", "estgeo.cli", "ingest", str(path)]
        t0 = time.perf_counter()
        processes = [subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(2)]
        outputs = [p.communicate() for p in processes]
        seconds = time.perf_counter() - t0
        from estgeo.config import load_settings
        from estgeo.store import open_store

        store = open_store(load_settings(workspace=Path(tmp) / "ws"))
        stored = store.count("incidents")
        runs = store.read_runs()
    print(f"\ncommand: python benchmarks/ingest.py --rows {rows} --concurrent")
    print(f"{'process':8} {'exit':>4} {'read':>10} {'ingested':>10} {'unchanged':>10} {'quarantined':>11} {'adds up':>7}")
    for i, ((_, err), process) in enumerate(zip(outputs, processes, strict=True)):
        run = runs.iloc[i] if i < len(runs) else None
        adds = run is not None and run["read"] == run["ingested"] + run["updated"] + run["unchanged"] + run["quarantined"]
        print(f"{i + 1:<8} {process.returncode:>4} {run['read'] if run is not None else '-':>10} "
              f"{run['ingested'] if run is not None else '-':>10} {run['unchanged'] if run is not None else '-':>10} "
              f"{run['quarantined'] if run is not None else '-':>11} {str(adds):>7}")
        if "Traceback" in err:
            print(err[-2000:])
    waited = [i + 1 for i, (_, err) in enumerate(outputs) if "waiting for it to finish" in " ".join(err.split())]
    print(f"rows in the store: {stored:,} of {rows:,} (each once: {stored == rows}); run records: {len(runs)}; "
          f"process {waited} waited for the other; both done in {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--concurrent", action="store_true", help="two ingests of the same file started together")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.concurrent:
        concurrent(args.rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "polisen_bench.csv"
        t0 = time.perf_counter()
        write_police_csv(path, args.rows)
        print(f"wrote {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        out = subprocess.run([sys.executable, __file__, "--child", str(path), str(Path(tmp) / "ws")],
                             check=True, capture_output=True, text=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
    target = 200_000
    print(f"\ncommand: python benchmarks/ingest.py --rows {args.rows}")
    print(f"{'run':28} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'vs target':>9} {'CPU s':>6} {'load':>5}")
    for r in report["results"]:
        rate = r["read"] / r["seconds"]
        print(f"{r['run']:28} {r['read']:>10,} {r['seconds']:>8.2f} {rate:>10,.0f} {rate / target:>8.2f}x "
              f"{r['cpu']:>6.2f} {r['load']:>5.1f}")
        assert r["quarantined"] == 0, r
    print("CPU s: the ingest's own CPU time (both cores count); load: 1-minute load average of the machine before the run")
    print(f"peak memory (child RSS): {report['peak_mb']:,.0f} MB (target < 2048 MB, ratio {report['peak_mb'] / 2048:.2f})")


if __name__ == "__main__":
    main()
