"""The load test in its short form; `benchmarks/load.py` runs the full one.

32 concurrent clients for 25 s (after a warm-up) over items, single features, tiles and
coverages of the demo municipality on a live server on loopback: no errors, the p99
latency reported, and the server's memory stable — the mean resident memory of its
processes in the last 10 s at most `MEMORY_BOUND_MB` above the first 10 s.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
from demo_workspace import demo_workspace
from live_server import live_server, server_pids

pytest.importorskip("psutil")
pytestmark = [pytest.mark.slow, pytest.mark.serial]  # latency and memory under load: the machine to itself
REPO = Path(__file__).resolve().parents[2]
CONCURRENCY = 32
DURATION_S = float(os.environ.get("ESTGEO_LOAD_SECONDS", "25"))
#: Growth of the server's resident memory allowed between the first and last 10 s.
MEMORY_BOUND_MB = 50.0


def _load_module():
    spec = importlib.util.spec_from_file_location("estgeo_load_benchmark", REPO / "benchmarks" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_load_short(tmp_path_factory: pytest.TempPathFactory) -> None:
    load = _load_module()
    workspace = demo_workspace()
    with live_server(workspace, workers=2) as (base, process):
        result = load.run_load(base, concurrency=CONCURRENCY, duration=DURATION_S, warmup=5.0,
                               server_pids=server_pids(process))
    summary = result.summary()
    print("load:", json.dumps(summary, ensure_ascii=False))
    kinds = set(summary["by_kind"])
    assert {"items", "item", "tile"} <= kinds
    assert summary["requests"] > 200
    assert summary["errors"] == 0, summary["error_samples"]
    assert summary["p99_ms"] == summary["p99_ms"]  # reported (not NaN)
    assert summary["memory_growth_mb"] <= MEMORY_BOUND_MB, summary
