"""The server against the standards' own test tools, on the demo municipality.

* ogctests (PyPI): OGC API Features Part 1 core, every test. None needs the internet:
  our OpenAPI document is self-contained (estgeo.publish.openapi_bundle), so the test of
  the `datetime` parameter's definition, which would otherwise follow a reference to
  schemas.opengis.net, reads it locally. ogctests 0.1.15 takes every collection for a
  feature collection and asks the coverages for `/items` too (Part 1 requires items of
  feature collections only), so it runs on a copy of the workspace published without the
  two coverage collections: the feature collections it tests are the same. It also hands
  feature text to GDAL as a file name, which breaks at a `;` in a property; the plugin
  tests/clients/ogctests_bytes.py hands it over as bytes.
* schemathesis: every operation of our OpenAPI document, with examples, boundary values
  and random fuzzing, must never get a 5xx. The number of cases per operation is bounded
  (SCHEMATHESIS_EXAMPLES) to keep CI time reasonable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from demo_workspace import demo_workspace
from live_server import live_server

from estgeo.config import load_settings
from estgeo.publish.openapi_bundle import remote_refs

SCHEMATHESIS_EXAMPLES = int(os.environ.get("ESTGEO_SCHEMATHESIS_EXAMPLES", "4"))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with live_server(demo_workspace(), workers=2) as (base, _):
        yield base


@pytest.mark.slow
def test_openapi_is_self_contained(server: str) -> None:
    document = requests.get(f"{server}/openapi", params={"f": "json"}, timeout=60).json()
    assert remote_refs(document) == set()
    on_disk = yaml.safe_load((demo_workspace() / "pygeoapi" / "openapi.yml").read_text(encoding="utf-8"))
    assert remote_refs(on_disk) == set()
    # Every local reference resolves, and none points at itself or a node that holds it
    # (ReDoc refused the document: "Self-referencing circular pointer").
    bad = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                target = document
                for part in ref[2:].split("/"):
                    target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
                if target is None or (path + "/").startswith(ref[1:] + "/"):
                    bad.append((path, ref))
            for key, value in node.items():
                walk(value, f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")

    walk(document, "")
    assert bad == []


@pytest.fixture(scope="module")
def features_only_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo's published layers, served with every collection but the coverages."""
    root = tmp_path_factory.mktemp("features-only")
    shutil.copytree(demo_workspace() / "published", root / "ws" / "published", symlinks=True)
    layers = root / "layers"
    layers.mkdir()
    for path in load_settings().layers_dir.glob("*.yml"):
        layer = yaml.safe_load(path.read_text(encoding="utf-8"))
        layer["collections"] = [c for c in layer.get("collections", []) if c.get("type") != "coverage"]
        (layers / path.name).write_text(yaml.safe_dump(layer, allow_unicode=True), encoding="utf-8")
    with live_server(root / "ws", layers_dir=layers, workers=2) as (base, _):
        yield base


@pytest.mark.slow
def test_ogctests_features_core(features_only_server: str, tmp_path: Path) -> None:
    import ogctests

    server = features_only_server

    suite = Path(ogctests.__file__).parent / "features" / "core"
    report = tmp_path / "ogctests.xml"
    plugins = Path(__file__).resolve().parents[1] / "clients"  # ogctests_bytes: see its docstring
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-q", "-p", "no:cacheprovider", "-p", "ogctests_bytes",
         "-c", os.devnull, "--rootdir", str(tmp_path), "-W", "ignore", f"--junitxml={report}"],
        env={**os.environ, "INSTANCE_URL": server, "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])},
        cwd=tmp_path, capture_output=True, text=True, timeout=1200,
    )
    cases = ET.parse(report).getroot().iter("testcase")
    failed = {f"{c.get('classname')}.{c.get('name')}": (c.find("failure") if c.find("failure") is not None else c.find("error"))
              for c in cases}
    failed = {name: el.get("message", "")[:300] for name, el in failed.items() if el is not None}
    assert run.returncode == 0 and not failed, f"{failed}\n{run.stdout[-3000:]}"


@pytest.mark.slow
@pytest.mark.serial  # any 5xx fails, and a shared machine can turn a slow answer into a 503
def test_schemathesis_finds_no_server_error(server: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{server}/openapi?f=json", "--url", server,
         "--checks", "not_a_server_error", "--max-examples", str(SCHEMATHESIS_EXAMPLES),
         "--phases", "examples,coverage,fuzzing", "--generation-deterministic", "--request-timeout", "60",
         "--continue-on-failure", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1500,
    )
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    assert "Server error" not in run.stdout, summary
