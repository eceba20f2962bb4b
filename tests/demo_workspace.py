"""The demo municipality, generated and built once per test run, in two sizes.

Not a test module: the real-client suites import it by its name (like live_server) and
start their own servers on the same workspaces. A workspace is made with the CLI exactly
as the README's run command does (`estgeo demo`, `estgeo build`), with the repository's
config/ and layers/, so every declared layer is there; tests read it and serve it, and
never change what is built (a test that rebuilds makes its own workspace).

* `small` — 2,500 incidents: every layer has unsuppressed cells, hot spots and several
  pages of features; the servers, fuzzers, load and privacy checks use it.
* `large` — 20,000 incidents (the size of `estgeo demo`): enough for the statistics to find the planted truth (dark
  clusters on top of the work list, hot spots significant) and for maps and reports that
  show something in every layer; the lighting, report, embed and QGIS tests use it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: size → (incidents, seed)
SIZES = {"small": (2500, 11), "large": (20_000, 7)}
_workspaces: dict[str, Path] = {}


def demo_workspace(size: str = "small") -> Path:
    """The built demo workspace of `size` (made on first use, removed when the process ends)."""
    if size not in _workspaces:
        incidents, seed = SIZES[size]
        folder = Path(tempfile.mkdtemp(prefix=f"estgeo-demo-{size}-"))
        atexit.register(shutil.rmtree, folder, True)
        env = {**os.environ, "ESTGEO_HOME": str(folder), "PYTHONPATH": str(REPO)}
        for args in (["demo", "--incidents", str(incidents), "--seed", str(seed)], ["build"]):
            result = subprocess.run([sys.executable, "-m", "estgeo.cli", *args], cwd=REPO, env=env,
                                    capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                raise RuntimeError(f"estgeo {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        _workspaces[size] = folder
    return _workspaces[size]
