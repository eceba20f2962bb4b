"""Benchmark: the embedded map in headless Chromium on loopback — time to the first drawn
density hexagons, and what the page transfers.

    python benchmarks/embed.py [--url http://127.0.0.1:5000] [--runs 5] [--layers incident-density,hotspots,unsafe-places]

Without --url a demo municipality (20,000 incidents) is generated, built and served on a
free port first. Each run opens `/embed` in a fresh browser profile (cold cache) and
then once more in the same profile (warm cache), and reads:

* `first_density_ms` — from the start of navigation until MapLibre has drawn a density
  hexagon with a count (the page records it in `estgeo.timings.firstDensity`);
* `idle_ms` — until the map is first idle (every visible tile loaded and drawn);
* `bytes` — everything the browser received over the network (Chrome's NetLog: socket
  bytes, so compressed bodies plus headers), with the number of requests by kind.

Needs Debian `chromium` and `chromium-driver` and selenium, as the browser tests do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_demo_server(folder: Path, incidents: int) -> tuple[str, subprocess.Popen]:
    env = {**os.environ, "ESTGEO_HOME": str(folder)}
    for args in (["demo", "--incidents", str(incidents)], ["build"]):
        subprocess.run([sys.executable, "-m", "estgeo.cli", *args], cwd=REPO, env=env, check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "estgeo.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    import requests

    for _ in range(300):
        try:
            if requests.get(f"{url}/conformance", timeout=2).ok:
                return url, process
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit("the demo server did not start")


def browser(profile: Path, netlog: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--window-size=1000,700",
                     f"--user-data-dir={profile}", f"--log-net-log={netlog}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def load(driver, url: str, timeout: float = 120.0) -> dict[str, float]:
    driver.get(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        timings = driver.execute_script(
            "return window.estgeo && window.estgeo.ready && window.estgeo.timings.firstDensity !== undefined"
            " ? window.estgeo.timings : null")
        if timings:
            navigation = driver.execute_script("const n = performance.getEntriesByType('navigation')[0];"
                                               "return {ttfb: n.responseStart, dom: n.domContentLoadedEventEnd};")
            return {"first_density_ms": timings["firstDensity"], "idle_ms": timings["idle"], "ttfb_ms": navigation["ttfb"],
                    "dom_ms": navigation["dom"]}
        time.sleep(0.05)
    raise RuntimeError(f"{url}: no density drawn within {timeout} s")


def netlog_bytes(path: Path, host: str) -> dict[str, Any]:
    """Bytes received on sockets, and requests by kind, from a Chrome NetLog."""
    text = path.read_text(encoding="utf-8").rstrip()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a browser that did not close cleanly leaves the event list open
        log = json.loads(text.rstrip(",") + "]}")
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    received = 0
    kinds: dict[str, int] = {}
    for event in log["events"]:
        name = names.get(event["type"])
        params = event.get("params") or {}
        if name == "SOCKET_BYTES_RECEIVED":
            received += int(params.get("byte_count", 0))
        elif name == "URL_REQUEST_START_JOB" and host in str(params.get("url", "")):
            url = str(params["url"])
            kind = ("tiles" if "/tiles/" in url else "items" if "/items" in url else "maplibre" if "maplibre" in url
                    else "page" if "/embed?" in url else "assets")
            kinds[kind] = kinds.get(kind, 0) + 1
    return {"bytes": received, "requests": kinds}


def run(url: str, runs: int, layers: str) -> dict[str, Any]:
    page = f"{url}/embed?lang=sv&layers={layers}"
    host = url.split("//", 1)[1]
    cold, warm = [], []
    for i in range(runs):
        folder = Path(tempfile.mkdtemp(prefix=f"estgeo-embed-bench-{i}-"))
        try:
            for label, results in (("cold", cold), ("warm", warm)):
                netlog = folder / f"{label}.json"
                driver = browser(folder / "profile", netlog)
                try:
                    timings = load(driver, page)
                finally:
                    driver.quit()
                results.append({**timings, **netlog_bytes(netlog, host)})
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
        out = {key: round(statistics.median(r[key] for r in results), 1) for key in ("first_density_ms", "idle_ms", "ttfb_ms", "dom_ms")}
        out["first_density_ms_min"] = round(min(r["first_density_ms"] for r in results), 1)
        out["first_density_ms_max"] = round(max(r["first_density_ms"] for r in results), 1)
        out["bytes"] = int(statistics.median(r["bytes"] for r in results))
        out["requests"] = results[-1]["requests"]
        return out

    return {"url": page, "runs": runs, "cold": summary(cold), "warm": summary(warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running estgeo server (default: serve a fresh demo)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--incidents", type=int, default=20000, help="demo size when no --url is given")
    parser.add_argument("--layers", default="incident-density,hotspots,unsafe-places")
    args = parser.parse_args()
    process = None
    workspace = None
    url = args.url
    if not url:
        workspace = Path(tempfile.mkdtemp(prefix="estgeo-embed-bench-ws-"))
        url, process = start_demo_server(workspace, args.incidents)
    try:
        result = run(url.rstrip("/"), args.runs, args.layers)
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)
        if workspace is not None:
            shutil.rmtree(workspace, ignore_errors=True)
    print(json.dumps(result, indent=2))
    for label in ("cold", "warm"):
        r = result[label]
        print(f"{label:>4} cache: first density tiles drawn after {r['first_density_ms']:.0f} ms "
              f"(min {r['first_density_ms_min']:.0f}, max {r['first_density_ms_max']:.0f}; page TTFB {r['ttfb_ms']:.0f} ms, "
              f"map idle {r['idle_ms']:.0f} ms), {r['bytes'] / 1024:.0f} KiB received, requests {r['requests']}")


if __name__ == "__main__":
    main()
