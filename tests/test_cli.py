"""The command line end to end: demo → ingest → build → serve, as a newcomer runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from demo_workspace import SIZES
from live_server import free_port

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
#: The CLI test makes its own workspace, of the small demo's size.
SMALL = SIZES["small"]


def estgeo(workspace: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "ESTGEO_HOME": str(workspace), "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "estgeo.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"estgeo {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.mark.parametrize("command", ["demo", "ingest", "build", "serve", "status", "publish", "report", "qgis-project"])
def test_every_subcommand_has_help(tmp_path: Path, command: str) -> None:
    result = estgeo(tmp_path, command, "--help")
    assert "Usage:" in result.stdout and command in result.stdout


def test_ingest_reports_the_summary_and_keeps_the_invariant(tmp_path: Path) -> None:
    result = estgeo(tmp_path, "ingest", str(DATA / "polisen_blandat.csv"), str(DATA / "bostadsbolaget_arenden.csv"))
    lines = [line for line in result.stdout.splitlines() if "polisen_blandat" in line or "bostadsbolaget" in line]
    assert len(lines) == 2
    for line in lines:
        numbers = [int(cell.strip().replace(",", "")) for cell in line.split("│")[4:9]]
        read, ingested, updated, unchanged, quarantined = numbers
        assert read == ingested + updated + unchanged + quarantined and quarantined > 0
    assert "rows quarantined" in result.stderr
    assert list((tmp_path / "quarantine").glob("*_polisen_blandat.csv"))


def test_ingest_of_an_unreadable_file_says_why_without_a_traceback(tmp_path: Path) -> None:
    result = estgeo(tmp_path, "ingest", "--kind", "incidents", str(DATA / "tom.csv"), check=False)
    assert result.returncode == 3
    assert "rejected whole: tom.csv: the file is empty" in result.stderr
    assert "Traceback" not in result.stderr




@pytest.mark.slow
def test_demo_build_serve_answers_collections(tmp_path: Path) -> None:
    demo = estgeo(tmp_path, "demo", "--incidents", str(SMALL[0]), "--seed", str(SMALL[1]))
    assert "Ingest summary" in demo.stdout
    status = estgeo(tmp_path, "status")
    assert "incidents" in status.stdout and f"{SMALL[0]:,}" in status.stdout
    built = estgeo(tmp_path, "build")
    for collection in ("incident-density", "hotspots", "street-lights", "unsafe-places", "walks", "interventions"):
        assert collection in built.stdout

    port = free_port()
    env = {**os.environ, "ESTGEO_HOME": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "estgeo.cli", "serve", "--port", str(port), "--workers", "1"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                response = requests.get(f"{base}/collections", params={"f": "json"}, timeout=2)
                if response.ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.5)
        else:
            raise AssertionError("server did not answer /collections")
        ids = {c["id"] for c in response.json()["collections"]}
        assert {"incident-density", "street-lights", "unsafe-places"} <= ids
        assert "unsafe-places-internal" not in ids  # internal collections are never public
        lights = requests.get(f"{base}/collections/street-lights/items", params={"f": "json", "limit": 5}, timeout=10).json()
        assert lights["numberMatched"] > 5000 and len(lights["features"]) == 5
    finally:
        os.killpg(server.pid, signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/collections" in output  # the URLs are printed
