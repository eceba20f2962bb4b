"""The demo municipality, generated and built once per test run, for real-client tests.

Not a test module: tests/clients/test_clients.py and tests/publish/test_conformance.py import it (by its
own name, like live_server) and each starts its own server on the same workspace. The
workspace is made with the CLI exactly as the README's run command does (`estgeo demo`,
`estgeo build`), with the repository's config/ and layers/, so every declared layer is
there.
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
#: Small enough to build in well under a minute, large enough that every layer has
#: unsuppressed cells, hot spots and several pages of features.
INCIDENTS = 2500
SEED = 11

_workspace: Path | None = None


def demo_workspace() -> Path:
    """The built demo workspace (made on first use, removed when the process ends)."""
    global _workspace
    if _workspace is None:
        folder = Path(tempfile.mkdtemp(prefix="estgeo-demo-"))
        atexit.register(shutil.rmtree, folder, True)
        env = {**os.environ, "ESTGEO_HOME": str(folder), "PYTHONPATH": str(REPO)}
        for args in (["demo", "--incidents", str(INCIDENTS), "--seed", str(SEED)], ["build"]):
            result = subprocess.run([sys.executable, "-m", "estgeo.cli", *args], cwd=REPO, env=env,
                                    capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                raise RuntimeError(f"estgeo {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        _workspace = folder
    return _workspace
