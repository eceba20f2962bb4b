"""Benchmark: the generated QGIS project opened and rendered by real QGIS (PyQGIS, headless).

    python benchmarks/qgis_project.py [--url http://127.0.0.1:5000] [--runs 3]

Without --url a demo municipality (20,000 incidents) is generated, built and served on a
free port first. `estgeo qgis-project` writes the project; QGIS's own Python
(/usr/bin/python3 with Debian python3-qgis) then, per run in a fresh process, reads the
project (`open_s`: every layer's description and first page) and renders the layers
switched on at the project's default view, 1280 × 800 (`render_s`). Target: open +
render under 5 s (issue "What users see").

The anchor, measured in the same run on the same server, is the project as it was
before: the density layer as `incident-density` with a QGIS filter on the latest
lägesbild period (QGIS 3.22 applies it on the client, after downloading every period),
pages of 10,000 features, and every street light at every scale.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed import start_demo_server  # noqa: E402  (the same demo server as the embed benchmark)

REPO = Path(__file__).resolve().parent.parent
QGIS_PYTHON = "/usr/bin/python3"
TARGET_S = 5.0

TIMING = r'''
import json, sys, time
from qgis.core import QgsApplication, QgsProject, QgsMapSettings, QgsMapRendererParallelJob
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
app = QgsApplication([], False)
app.initQgis()
project = QgsProject.instance()
started = time.perf_counter()
ok = project.read(sys.argv[1])
opened = time.perf_counter()
shown = [node.layer() for node in project.layerTreeRoot().findLayers() if node.isVisible()]
settings = QgsMapSettings()
settings.setLayers(shown)
settings.setDestinationCrs(project.crs())
settings.setExtent(project.viewSettings().defaultViewExtent())
settings.setOutputSize(QSize(1280, 800))
settings.setBackgroundColor(QColor(255, 255, 255))
job = QgsMapRendererParallelJob(settings)
job.start()
job.waitForFinished()
rendered = time.perf_counter()
job.renderedImage().save(sys.argv[2])
print(json.dumps({"read": ok, "open_s": opened - started, "render_s": rendered - opened, "layers": len(shown)}))
sys.stdout.flush()
import os
os._exit(0)  # QGIS 3 can hang or crash tearing down its singletons (tests/clients/test_qgis_project.py)
'''


def anchor_project(project: Path, out: Path) -> Path:
    """The project as it was: filter on the all-period density, pages of 10,000, lamps at every scale."""
    with zipfile.ZipFile(project) as archive:
        xml = archive.read("estgeo.qgs").decode("utf-8")
    match = re.search(r"'(LB [\d-]+)'", xml)
    if not match:
        raise SystemExit("the project names no lägesbild period to filter on")
    label = match.group(1)
    xml = xml.replace("typename='incident-density-lagesbild'",
                      f"filter='period_kind = \\'lagesbild\\' AND period = \\'{label}\\'' typename='incident-density'")
    xml = xml.replace("pageSize='1000'", "pageSize='10000'")
    xml = re.sub(r'hasScaleBasedVisibilityFlag="1" minScale="15000" maxScale="0"', 'hasScaleBasedVisibilityFlag="0"', xml)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("estgeo.qgs", xml)
    return out


def time_project(project: Path, folder: Path, runs: int) -> list[dict[str, float]]:
    script = folder / "timing.py"
    script.write_text(TIMING, encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(folder), "HOME": str(folder)}
    os.chmod(folder, 0o700)
    out = []
    for i in range(runs):
        result = subprocess.run([QGIS_PYTHON, str(script), str(project), str(folder / f"{project.stem}-{i}.png")],
                                capture_output=True, text=True, timeout=900, env=env)
        if result.returncode != 0:
            raise SystemExit(f"QGIS failed on {project}:\n{result.stderr[-2000:]}")
        out.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running estgeo server (default: serve a fresh demo)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--incidents", type=int, default=20000, help="demo size when no --url is given")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="estgeo-qgis-bench-"))
    process = None
    url = args.url
    try:
        if not url:
            url, process = start_demo_server(folder / "ws", args.incidents)
        url = url.rstrip("/")
        project = folder / "estgeo.qgz"
        subprocess.run([sys.executable, "-m", "estgeo.cli", "qgis-project", "--url", url, "-o", str(project)], cwd=REPO,
                       env={**os.environ, "ESTGEO_HOME": str(folder / "cli")}, check=True, capture_output=True)
        anchor = anchor_project(project, folder / "anchor.qgz")
        results = {"project": time_project(project, folder, args.runs), "anchor": time_project(anchor, folder, args.runs)}
    finally:
        if process is not None:
            import signal

            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)
    medians = {name: {key: statistics.median(r[key] for r in runs) for key in ("open_s", "render_s")}
               for name, runs in results.items()}
    print(json.dumps({"url": url, "runs": args.runs, "results": results}, indent=2))
    print(f"\n{'project':<10} {'open s':>8} {'render s':>9} {'total s':>8} {'× target 5 s':>13} {'× anchor':>9}")
    anchor_total = medians["anchor"]["open_s"] + medians["anchor"]["render_s"]
    for name, m in medians.items():
        total = m["open_s"] + m["render_s"]
        print(f"{name:<10} {m['open_s']:>8.2f} {m['render_s']:>9.2f} {total:>8.2f} {total / TARGET_S:>13.2f} "
              f"{total / anchor_total:>9.2f}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
