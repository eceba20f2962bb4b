"""The embeddable map (`/embed`): what the page is told, its assets, the landing page's
iframe line, and the page itself in headless Chromium against a live demo server.

The browser tests need Debian `chromium` and `chromium-driver` (tests/system-packages.txt)
and selenium; they are skipped with the reason when those are missing. They keep a
screenshot in tests/artifacts/ (printed with -s or on failure).
"""

from __future__ import annotations

import colorsys
import gzip
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import requests
import shapely
import yaml
from chromium import requested_urls
from demo_workspace import demo_workspace
from flask import Flask
from live_server import free_port, wait_until_serving

from estgeo.config import Settings
from estgeo.publish import embed

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ASSETS = REPO / "estgeo" / "publish" / "embed_assets"


# Pure functions -------------------------------------------------------------------------
def test_change_breaks_are_two_increasing_whole_steps() -> None:
    b, c = embed.change_breaks(pd.Series([-30, -5, -1, 0, 1, 2, 3, 4, 10, None]))
    assert 2 <= b < c and b == int(b) and c == int(c)
    assert embed.change_breaks(pd.Series([0, None])) == [2.0, 3.0]
    assert embed.change_breaks(pd.Series([1, -1, 1])) == [2.0, 3.0]


def density_frame() -> gpd.GeoDataFrame:
    """Two lägesbild periods (the second still running), a week and the whole range."""
    rows = []
    for res in (8, 9):
        for cell in range(6):
            for kind, period, start, end, complete in (
                ("lagesbild", "LB 2026-10-05", "2026-10-05", "2026-10-19", True),
                ("lagesbild", "LB 2026-10-19", "2026-10-19", "2026-11-02", True),
                ("lagesbild", "LB 2026-11-02", "2026-11-02", "2026-11-16", False),
                ("week", "2026-W44", "2026-10-26", "2026-11-02", True),
                ("all", "2025-01-01/2026-11-10", "2025-01-01", "2026-11-11", False),
            ):
                count = None if cell == 0 else cell * (3 if res == 8 else 1) + 4
                rows.append({
                    "id": f"{res}-{cell}-{period}", "h3": f"c{cell}", "resolution": res, "period_kind": kind, "period": period,
                    "period_start": pd.Timestamp(start), "period_end": pd.Timestamp(end), "complete": complete,
                    "count": count, "light_daylight": None if count is None else count // 2,
                    "light_darkness": None if count is None else count - count // 2,
                    "change": None if count is None else cell - 3, "suppressed": count is None,
                })
    frame = pd.DataFrame(rows)
    geometry = [shapely.box(13.1 + 0.01 * i, 59.8, 13.105 + 0.01 * i, 59.805) for i in range(len(frame))]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="OGC:CRS84")


def test_density_periods_newest_first_with_last_day() -> None:
    periods = embed.density_periods(density_frame())
    assert list(periods) == ["week", "lagesbild", "all"]
    lagesbild = periods["lagesbild"]
    assert [p["period"] for p in lagesbild] == ["LB 2026-11-02", "LB 2026-10-19", "LB 2026-10-05"]
    assert lagesbild[1] == {"period": "LB 2026-10-19", "start": "2026-10-19", "end": "2026-11-01", "complete": True}
    assert lagesbild[0]["complete"] is False


@pytest.fixture
def published(tmp_path: Path) -> dict[str, Any]:
    """A pygeoapi `resources` block as the server has it: density (feature + tile
    providers), one sub-resolution, unsafe places without tiles, the outline."""
    frame = density_frame()
    paths = {}
    for cid, part in (("incident-density", frame[frame.resolution == 9]), ("incident-density-r8", frame[frame.resolution == 8])):
        paths[cid] = tmp_path / f"{cid}.gpkg"
        part.to_file(paths[cid], layer=cid, driver="GPKG")
    places = gpd.GeoDataFrame({"id": ["a"], "status": ["ny"]}, geometry=[shapely.Point(13.14, 59.83)], crs="OGC:CRS84")
    paths["unsafe-places"] = tmp_path / "unsafe-places.gpkg"
    places.to_file(paths["unsafe-places"], layer="unsafe-places", driver="GPKG")

    def resource(cid: str, title: dict[str, str], tiles: bool) -> dict[str, Any]:
        providers: list[dict[str, Any]] = [{"type": "feature", "data": str(paths.get(cid, tmp_path / "x.gpkg"))}]
        if tiles:
            providers.append({"type": "tile", "options": {"zoom": {"min": 10, "max": 16}}})
        return {"type": "collection", "title": title, "providers": providers,
                "extents": {"spatial": {"bbox": [13.1, 59.8, 13.2, 59.9]}}}

    return {
        "server": {"url": "https://karta.example.se", "languages": ["sv", "en"]},
        "metadata": {"identification": {"title": {"sv": "Trygghetslager – Sunne kommun", "en": "Safety layers – Sunne"}}},
        "resources": {
            "incident-density": resource("incident-density", {"sv": "Händelsetäthet", "en": "Incident density"}, True),
            "incident-density-r8": resource("incident-density-r8", {"sv": "Täthet r8", "en": "Density r8"}, True),
            "unsafe-places": resource("unsafe-places", {"sv": "Otrygga platser", "en": "Unsafe places"}, False),
            "municipality": resource("municipality", {"sv": "Kommungräns", "en": "Boundary"}, True),
        },
    }


def test_page_config_describes_layers_sources_periods_and_texts(published: dict[str, Any], settings: Settings) -> None:
    page = embed.page_config(published, settings, lang="en", layers=["incident-density", "unsafe-places"], base="/karta")
    assert [layer["id"] for layer in page["layers"]] == ["incident-density", "unsafe-places"]
    density, places = page["layers"]
    assert density["title"] == "Incident density" and density["kind"] == "density"
    assert density["source"]["tiles"] == "/karta/collections/incident-density/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"
    assert density["source"]["minzoom"] == 10 and density["source"]["bounds"] == [13.1, 59.8, 13.2, 59.9]
    assert density["source"]["items"].startswith("/karta/collections/incident-density/items?f=json&limit=10000&properties=")
    assert "tiles" not in places["source"]  # GeoJSON only
    assert [c["id"] for c in page["context"]] == ["municipality"]
    summary = page["density"]
    assert summary["resolutions"] == [8, 9]
    assert summary["periods"]["lagesbild"][0]["period"] == "LB 2026-11-02"
    breaks = summary["breaks"]["lagesbild"]
    assert set(breaks) == {"8", "9"} and set(breaks["9"]) == {"count", "light_daylight", "light_darkness", "change"}
    # Counts are larger at resolution 8 in the fixture, and so are its classes.
    assert breaks["8"]["count"][-1] > breaks["9"]["count"][-1]
    assert page["messages"]["legend"] == "Legend" and page["labels"]["walk_statuses"]["atgardad"] == "Resolved"
    assert page["basemap"] is None  # nothing outside the server by default
    assert page["period_kind"] == "lagesbild" and page["light"] == "all" and page["min_count"] == settings.privacy_min_count


def test_page_config_defaults_and_refusals(published: dict[str, Any], settings: Settings) -> None:
    page = embed.page_config(published, settings, lang="sv")
    # The configured default (density, hot spots, unsafe places) limited to what is published.
    assert [layer["id"] for layer in page["layers"]] == ["incident-density", "unsafe-places"]
    assert page["messages"]["legend"] == "Teckenförklaring"
    with pytest.raises(embed.EmbedError, match="unknown layer finns-inte: the published layers are incident-density, unsafe-places"):
        embed.page_config(published, settings, layers=["finns-inte"])
    with pytest.raises(embed.EmbedError, match="unknown layer incident-density-r8"):
        embed.page_config(published, settings, layers=["incident-density-r8"])  # drawn through incident-density
    with pytest.raises(embed.EmbedError, match="period must be one of"):
        embed.page_config(published, settings, period_kind="year")
    with pytest.raises(embed.EmbedError, match="light must be"):
        embed.page_config(published, settings, light="dusk")


def test_iframe_snippet_and_landing_section() -> None:
    line = embed.iframe_snippet("https://karta.example.se/", "Trygghet – Sunne", ["incident-density", "unsafe-places"], "sv")
    assert line == ('<iframe src="https://karta.example.se/embed?lang=sv&amp;layers=incident-density,unsafe-places" '
                    'title="Trygghet – Sunne" width="100%" height="520" style="border:0" loading="lazy" allowfullscreen></iframe>')
    section = embed.landing_section("https://karta.example.se", "Trygghet", "en", ["incident-density"])
    assert section.startswith('<section id="embed"><h2>Embed the map</h2>')
    assert "&lt;iframe src=&quot;https://karta.example.se/embed?lang=en&amp;amp;layers=incident-density&quot;" in section
    page = '<main><section id="identification"></section><section id="openapi">API</section></main>'
    assert embed.add_section(page, "<p>X</p>") == '<main><section id="identification"></section><p>X</p><section id="openapi">API</section></main>'
    assert embed.add_section("<main></main>", "<p>X</p>") == "<main></main>"


def test_pick_language() -> None:
    from werkzeug.datastructures import LanguageAccept

    english_browser = LanguageAccept([("en-GB", 1.0), ("sv", 0.5)])
    assert embed.pick_language("en", None) == "en"
    assert embed.pick_language("sv-SE", english_browser) == "sv"
    assert embed.pick_language("fi", english_browser) == "en"  # no Finnish: the browser's next choice
    assert embed.pick_language(None, LanguageAccept([("de", 1.0)])) == "sv"


def test_csp_names_only_this_server_and_the_basemap(settings: Settings) -> None:
    policy = embed.content_security_policy(settings)
    assert "script-src 'self';" in policy and "unpkg" not in policy and "connect-src 'self';" in policy
    project = dict(settings.project, embed={"basemap_url": "https://tiles.example.se/{z}/{x}/{y}.png"},
                   access={"frame_ancestors": ["https://www.sunne.se"]})
    custom = Settings(settings.config_dir, settings.layers_dir, settings.workspace, project, settings.municipality,
                      settings.taxonomy, settings.model)
    policy = embed.content_security_policy(custom)
    assert "connect-src 'self' https://tiles.example.se;" in policy
    assert policy.endswith("frame-ancestors https://www.sunne.se")


def test_vendored_maplibre_is_the_locked_npm_version() -> None:
    lock = json.loads((ASSETS / "package-lock.json").read_text(encoding="utf-8"))
    locked = lock["packages"]["node_modules/maplibre-gl"]["version"]
    wanted = json.loads((ASSETS / "package.json").read_text(encoding="utf-8"))["dependencies"]["maplibre-gl"]
    assert embed.MAPLIBRE_VERSION == locked == wanted
    vendor = ASSETS / "static" / "vendor" / "maplibre-gl"
    head = (vendor / "maplibre-gl.mjs").read_text(encoding="utf-8")[:300]
    assert f"v{locked}/LICENSE.txt" in head
    assert (vendor / "maplibre-gl-worker.mjs").stat().st_size > 100_000 and (vendor / "LICENSE.txt").exists()


def test_messages_exist_in_swedish_and_english() -> None:
    table = json.loads((ASSETS / "messages.json").read_text(encoding="utf-8"))
    swedish = {k for k in table["sv"] if not k.startswith("ml.")}  # ml.*: MapLibre's own, English built in
    assert swedish == set(table["en"])
    script = (ASSETS / "static" / "embed.js").read_text(encoding="utf-8")
    used = set(re.findall(r'text\("([a-z_]+)"', script))
    assert used <= set(table["en"]), sorted(used - set(table["en"]))


# The Flask routes, on a bare app ------------------------------------------------------
@pytest.fixture
def client(published: dict[str, Any], settings: Settings):
    app = Flask("test")
    # What estgeo.publish.app.build_app keeps on the app (read through estgeo.publish.http).
    app.config.update(ESTGEO_SETTINGS=settings, ESTGEO_PYGEOAPI=published)

    @app.get("/", endpoint="pygeoapi.landing_page")
    def landing() -> Any:
        return '<html><section id="openapi"></section></html>', 200, {"Content-Type": "text/html"}

    embed.register(app)
    return app.test_client()


def _fields(data: bytes) -> list[tuple[int, Any]]:
    """A protobuf message's fields (number, value), decoded by hand: varints and bytes."""
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i:i + length], i + length
        else:
            raise AssertionError(f"wire type {wire}")
        out.append((number, value))
    return out


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


def test_glyphs_are_mapbox_sdf_protobuf_with_swedish_letters() -> None:
    from estgeo.publish import glyphs

    (stack_field, stack), = _fields(glyphs.glyph_range("DejaVu Sans", 0, 255))
    assert stack_field == 1
    fields = _fields(stack)
    assert fields[0] == (1, b"DejaVu Sans") and fields[1] == (2, b"0-255")
    found = {}
    for number, message in fields[2:]:
        assert number == 3
        glyph = dict(_fields(message))
        found[glyph[1]] = glyph
    for char in "AZaöåäÖÅÄé0 ":
        assert ord(char) in found, char
    a = found[ord("A")]
    width, height = a[3], a[4]
    bitmap = np.frombuffer(a[2], dtype=np.uint8).reshape(height + 6, width + 6)
    assert 10 <= height <= 20 and 10 <= width <= 20 and 12 <= a[7] <= 20  # 24 px: cap height ~17, advance ~16
    assert bitmap.max() > 191 > bitmap[0, 0]  # inside above the edge value (191), the corner outside it
    assert (a[6] >> 1) ^ -(a[6] & 1) == height - 27  # top (zigzag): 'A' stands on the baseline, ascent − 27
    assert found[ord(" ")][3] == 0 and 2 not in found[ord(" ")]  # a space: advance only
    with pytest.raises(glyphs.GlyphRangeError):
        glyphs.glyph_range("DejaVu Sans", 1, 2)
    assert _fields(_fields(glyphs.glyph_range("DejaVu Sans", 0xE000, 0xE0FF))[0][1]) == [(1, b"DejaVu Sans"), (2, b"57344-57599")]


def test_glyphs_and_place_search_are_served(server: Server) -> None:
    """Against the demo server: the glyph route, and the place search over the published
    streets (any case, å/ä/ö or not), with boxes inside the municipality."""
    response = requests.get(f"{server.base}/embed/glyphs/DejaVu%20Sans/0-255.pbf", timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/x-protobuf"

    def places(q: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{server.base}/embed/places", params={"q": q}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["places"]

    found = places("STORG")
    assert found and found[0]["name"].startswith("Storg")
    w, s, e, n = found[0]["bbox"]
    assert 12.7 < w <= e < 13.5 and 59.5 < s <= n < 60.2
    assert [p["name"] for p in places("ostra ring")][:1] == ["Östra Ringvägen"]
    assert places("") == [] and places("qqqq") == []


def test_glyph_and_place_requests_out_of_bounds_are_refused(client) -> None:
    assert client.get("/embed/glyphs/DejaVu%20Sans/3-9.pbf").status_code == 400
    assert client.get("/embed/glyphs/DejaVu%20Sans/65536-65791.pbf").status_code == 400
    refused = client.get("/embed/places?q=" + "x" * 101)
    assert refused.status_code == 400 and "at most 100" in refused.get_data(as_text=True)


def test_embed_route_writes_the_page(client) -> None:
    response = client.get("/embed?layers=incident-density&lang=en&period=week&light=darkness")
    assert response.status_code == 200 and response.headers["Content-Language"] == "en"
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html and "onclick" not in html and "onsubmit" not in html
    config = json.loads(re.search(r'<script id="estgeo-config" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert config["period_kind"] == "week" and config["light"] == "darkness"
    assert config["maplibre"] == f"/embed/static/vendor/maplibre-gl/maplibre-gl.mjs?v={embed.MAPLIBRE_VERSION}"
    refused = client.get("/embed?layers=incident-density,nope")
    assert refused.status_code == 400 and "unknown layer nope" in refused.get_data(as_text=True)


def test_assets_are_served_compressed_with_module_mime_type(client) -> None:
    plain = client.get("/embed/static/vendor/maplibre-gl/maplibre-gl.mjs")
    assert plain.status_code == 200 and plain.mimetype == "text/javascript"
    packed = client.get("/embed/static/vendor/maplibre-gl/maplibre-gl.mjs", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["Content-Encoding"] == "gzip" and len(packed.data) < len(plain.data) / 2
    assert gzip.decompress(packed.data) == plain.data
    again = client.get("/embed/static/vendor/maplibre-gl/maplibre-gl.mjs", headers={"Accept-Encoding": "gzip",
                                                                                   "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/embed/static/../embed.py").status_code == 404
    assert client.get("/embed/static/nothing.js").status_code == 404


def test_landing_page_gets_the_iframe_line(client) -> None:
    html = client.get("/?lang=sv").get_data(as_text=True)
    assert '<section id="embed"><h2>Bädda in kartan</h2>' in html
    assert "&lt;iframe src=&quot;https://karta.example.se/embed?lang=sv&amp;amp;layers=incident-density,unsafe-places" in html
    assert html.index('id="embed"') < html.index('id="openapi"')


# A live demo server and a real browser -------------------------------------------------


class Server:
    def __init__(self, workspace: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        run_env = {**os.environ, "ESTGEO_HOME": str(workspace), **(env or {})}
        with log.open("w") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "estgeo.cli", "serve", "--port", str(self.port), "--workers", "1"],
                                            cwd=REPO, env=run_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_serving(self.base, self.process, log)
        except RuntimeError as exc:
            self.stop()
            pytest.fail(str(exc))

    def access_log(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request in the access log so far."""
        found = re.findall(r'"(GET|HEAD|POST) (\S+) HTTP/[\d.]+" (\d{3})', self.log.read_text(errors="replace"))
        return [(m, p, int(s)) for m, p, s in found]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def workspace() -> Path:
    """The large demo (tests/demo_workspace.py), shared with the QGIS, lighting and report tests."""
    return demo_workspace("large")


@pytest.fixture(scope="module")
def server(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = Server(workspace, tmp_path_factory.mktemp("embed-server") / "access.log")
    yield live
    live.stop()


def chrome(profile: Path, width: int = 1000, height: int = 700):
    """Headless Debian Chromium through chromedriver (never a downloaded browser)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is needed for the browser tests")
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Debian chromium and chromium-driver are needed (tests/system-packages.txt)")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--force-device-scale-factor=1",
                     f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    driver = chrome(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


def open_map(driver, url: str, timeout: float = 60.0, density: bool = False, panel: bool = True) -> None:
    """Load the page and wait for its first idle map (and drawn density hexagons); with
    `panel`, unfold the layer panel where the page starts it folded (small frames)."""
    driver.get(url)
    wait_for(driver, "window.estgeo && window.estgeo.ready", timeout)
    if panel and driver.execute_script("return document.getElementById('panel-toggle').getAttribute('aria-expanded')") == "false":
        driver.execute_script("document.getElementById('panel-toggle').click()")  # leaves the focus where it was
    if density:
        wait_for(driver, "window.estgeo.timings.firstDensity !== undefined", timeout)


def wait_for(driver, condition: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return ({condition})")
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {condition}")


def settle(driver) -> None:
    """Wait until MapLibre has loaded and drawn everything asked of it."""
    driver.execute_script("window.__idle = false; estgeo.map.once('idle', () => { window.__idle = true; }); estgeo.map.triggerRepaint();")
    wait_for(driver, "window.__idle")


def console_errors(driver) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver, name: str):
    from PIL import Image

    ARTIFACTS.mkdir(exist_ok=True)
    png = driver.get_screenshot_as_png()
    path = ARTIFACTS / name
    path.write_bytes(png)
    print(f"screenshot: {path}")
    return Image.open(io.BytesIO(png)).convert("RGB")


def coloured(image, x: float, y: float, radius: int = 3) -> bool:
    """Whether the pixels around (x, y) are saturated colour (a class of the density
    scale), not the grey background, white streets or a withheld (grey) cell."""
    pixels = [image.getpixel((int(x) + dx, int(y) + dy)) for dx in range(-radius, radius + 1) for dy in range(-radius, radius + 1)]
    saturation = sorted(colorsys.rgb_to_hsv(*(c / 255 for c in p))[1] for p in pixels)
    return saturation[len(saturation) // 2] > 0.35


#: The density scale of the page (reversed viridis), drawn at 82 % opacity over the
#: background: what each class looks like on screen.
VIRIDIS_R = ["#fde725", "#5ec962", "#21918c", "#3b528b", "#440154"]
BACKGROUND = (0xEE, 0xF0, 0xEC)


def density_class(image, x: float, y: float) -> int:
    """Index of the density class whose on-screen colour is nearest the pixel at (x, y)."""
    pixel = image.getpixel((int(x), int(y)))
    shown = []
    for colour in VIRIDIS_R:
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        shown.append([0.82 * c + 0.18 * b for c, b in zip(rgb, BACKGROUND, strict=True)])
    distance = [sum((p - c) ** 2 for p, c in zip(pixel, rgb, strict=True)) for rgb in shown]
    return distance.index(min(distance))


def hot_spots(workspace: Path) -> list[dict[str, Any]]:
    return json.loads((workspace / "basemap" / "demo-truth.json").read_text(encoding="utf-8"))["hot_spots"]


def pixel_of(driver, lon: float, lat: float) -> tuple[float, float]:
    x, y = driver.execute_script("const p = estgeo.map.project(arguments[0]); return [p.x, p.y];", [lon, lat])
    return x, y


def collapse_panel(driver) -> None:
    """Fold the panel and the legend, for tests that read the map's pixels."""
    for toggle in ("panel-toggle", "legend-toggle"):
        if driver.execute_script(f"return document.getElementById('{toggle}').getAttribute('aria-expanded')") == "true":
            driver.find_element("id", toggle).click()


#: Where a pop-up is opened: the density cell drawn nearest a corner of the frame, away
#: from the legend and panel (the pop-ups ran past the bottom and the right edge).
CORNER_CELL = """
const [corner, avoid] = arguments;
const W = window.innerWidth, H = window.innerHeight;
const boxes = avoid.map(id => document.getElementById(id)).filter(Boolean).map(e => e.getBoundingClientRect());
const ids = ['incident-density-tiles-fill', 'incident-density-json-fill'].filter(id => estgeo.map.getLayer(id));
let best = null;
for (const f of estgeo.map.queryRenderedFeatures({layers: ids})) {
  if (!(f.properties.count > 0)) continue;  // a drawn count (zeros are not asked about)
  const ring = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
  const lon = ring.slice(0, -1).reduce((a, c) => a + c[0], 0) / (ring.length - 1);
  const lat = ring.slice(0, -1).reduce((a, c) => a + c[1], 0) / (ring.length - 1);
  const p = estgeo.map.project([lon, lat]);
  if (p.x < 15 || p.y < 15 || p.x > W - 15 || p.y > H - 15) continue;
  if (boxes.some(b => p.x > b.left - 10 && p.x < b.right + 10 && p.y > b.top - 10 && p.y < b.bottom + 10)) continue;
  const score = corner === 'bottom-right' ? p.x + p.y : p.y - p.x;
  if (!best || score > best.score) best = {x: p.x, y: p.y, score};
}
return best;
"""


@pytest.mark.slow
class TestInBrowser:
    """One demo server, one browser; each test loads the page it needs."""

    def test_density_tiles_render_without_console_errors(self, server: Server, browser, workspace: Path) -> None:
        browser.get_log("browser")  # drop anything from before
        open_map(browser, f"{server.base}/embed?lang=sv&layers=incident-density&period=all", density=True)
        settle(browser)
        assert console_errors(browser) == []
        timings = browser.execute_script("return estgeo.timings")
        assert 0 < timings["firstDensity"] < 30000
        tiles = [(path, status) for method, path, status in server.access_log() if "/collections/incident-density/tiles/" in path]
        assert tiles, "no density tiles were requested"
        assert any(status == 200 for _, status in tiles) and all(status in (200, 204) for _, status in tiles), tiles
        failed = [(p, s) for _, p, s in server.access_log() if s >= 400]
        assert not failed, failed

    def test_hexagons_are_coloured_where_the_hot_spots_are(self, server: Server, browser, workspace: Path) -> None:
        open_map(browser, f"{server.base}/embed?lang=sv&layers=incident-density&period=all", density=True)
        collapse_panel(browser)
        spots = [[spot["lon"], spot["lat"]] for spot in hot_spots(workspace)]
        browser.execute_script("""
            const lons = arguments[0].map(p => p[0]), lats = arguments[0].map(p => p[1]);
            estgeo.map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]],
                                 {padding: {top: 90, bottom: 60, left: 60, right: 80}, maxZoom: 15, animate: false});""", spots)
        settle(browser)
        image = screenshot(browser, "embed-density-hot-spots.png")
        for spot in hot_spots(workspace):
            x, y = pixel_of(browser, spot["lon"], spot["lat"])
            assert 20 < x < image.width - 20 and 60 < y < image.height - 20, spot["name"]
            assert coloured(image, x, y), f"no coloured hexagon at {spot['name']} ({x:.0f}, {y:.0f})"
            # The planted hot spots are among the densest cells: the two darkest classes.
            assert density_class(image, x, y) >= 3, spot["name"]
        # Far outside the town nothing is drawn.
        centre = hot_spots(workspace)[0]
        x, y = pixel_of(browser, centre["lon"] - 0.06, centre["lat"] + 0.02)
        if 0 < x < image.width and 0 < y < image.height:
            assert not coloured(image, x, y)

    def test_toggles_period_light_and_mode(self, server: Server, browser, workspace: Path) -> None:
        open_map(browser, f"{server.base}/embed?lang=sv")
        torget = hot_spots(workspace)[0]
        browser.execute_script("estgeo.map.jumpTo({center: arguments[0], zoom: 14})", [torget["lon"], torget["lat"]])
        settle(browser)
        fill = "incident-density-tiles-fill"
        # Layer toggle: the density's style layers are hidden and shown again.
        box = browser.find_element("css selector", "input[name=layer][value=incident-density]")
        box.click()
        assert browser.execute_script(f"return estgeo.map.getLayoutProperty('{fill}', 'visibility')") == "none"
        assert "Händelsetäthet" not in browser.find_element("id", "legend-items").text
        box.click()
        assert browser.execute_script(f"return estgeo.map.getLayoutProperty('{fill}', 'visibility')") == "visible"
        # Darkness: the colours come from the darkness counts, and the legend says so.
        browser.find_element("css selector", "input[name=light][value=darkness]").click()
        paint = json.dumps(browser.execute_script(f"return estgeo.map.getPaintProperty('{fill}', 'fill-color')"))
        assert "light_darkness" in paint and '"count"' not in paint
        assert "(mörker)" in browser.find_element("id", "legend-items").text
        browser.find_element("css selector", "input[name=light][value=all]").click()
        # Change: a diverging scale on `change`.
        browser.find_element("css selector", "input[name=mode][value=change]").click()
        paint = json.dumps(browser.execute_script(f"return estgeo.map.getPaintProperty('{fill}', 'fill-color')"))
        assert '"change"' in paint and "#b35806" in paint
        browser.find_element("css selector", "input[name=mode][value=count]").click()
        # Period kind: the tiles hold each kind's latest complete period; the filter follows.
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element("id", "period-kind")).select_by_value("week")
        assert "week" in json.dumps(browser.execute_script(f"return estgeo.map.getFilter('{fill}')"))
        # An older period is read as GeoJSON from /items and drawn instead of the tiles.
        Select(browser.find_element("id", "period-kind")).select_by_value("lagesbild")
        options = Select(browser.find_element("id", "period")).options
        older = options[3].get_attribute("value")
        Select(browser.find_element("id", "period")).select_by_value(older)
        settle(browser)
        assert browser.execute_script(f"return estgeo.map.getLayoutProperty('{fill}', 'visibility')") == "none"
        drawn = browser.execute_script(
            "return estgeo.map.queryRenderedFeatures({layers: ['incident-density-json-fill']}).map(f => f.properties.period)")
        assert drawn and set(drawn) == {older}
        # The hot spots follow: the density's Gi* bins of that period, not the latest period's.
        assert browser.execute_script("return estgeo.map.getLayoutProperty('hotspots-tiles-line', 'visibility')") == "none"
        hot = browser.execute_script(
            "return estgeo.map.queryRenderedFeatures({layers: ['hotspots-json-line']}).map(f => [f.properties.period, f.properties.gi_bin])")
        assert hot and {p for p, _ in hot} == {older} and all(b != 0 for _, b in hot), hot
        label = browser.find_element("id", "period").get_attribute("value")
        assert label == older
        note = browser.find_element("id", "legend-items").text
        shown = Select(browser.find_element("id", "period")).first_selected_option.text
        assert shown.split(" (")[0] in note, (shown, note)
        items = [(p, s) for _, p, s in server.access_log() if p.startswith("/collections/incident-density/items")]
        assert items and all(s == 200 for _, s in items)
        assert console_errors(browser) == []

    def test_the_category_group_filter_colours_by_one_group(self, server: Server, browser, workspace: Path) -> None:
        from selenium.webdriver.support.ui import Select

        open_map(browser, f"{server.base}/embed?lang=sv", density=True)
        fill = "incident-density-tiles-fill"
        Select(browser.find_element("id", "group")).select_by_value("brott")
        settle(browser)
        paint = json.dumps(browser.execute_script(f"return estgeo.map.getPaintProperty('{fill}', 'fill-color')"))
        assert "grp_brott" in paint and '"count"' not in paint
        breaks = browser.execute_script("return estgeo.config.density.breaks.lagesbild['9'].grp_brott")
        assert breaks and all(b == int(b) for b in breaks)
        assert "Händelsetäthet (Brott)" in browser.find_element("id", "legend-items").text
        assert not any(e.is_enabled() for e in browser.find_elements("css selector", "input[name=light]"))
        assert "group=brott" in browser.execute_script("return location.href")
        drawn = browser.execute_script(f"return estgeo.map.queryRenderedFeatures({{layers: ['{fill}']}}).length")
        assert drawn > 0
        Select(browser.find_element("id", "group")).select_by_value("all")
        assert all(e.is_enabled() for e in browser.find_elements("css selector", "input[name=light]"))
        assert "group=" not in browser.execute_script("return location.href")
        assert console_errors(browser) == []

    def test_a_cell_pop_up_shows_its_trend(self, server: Server, browser, workspace: Path) -> None:
        """The pop-up of a density cell draws the cell's counts over every lägesbild period
        (from its resolution's collection), with the period on show marked."""
        open_map(browser, f"{server.base}/embed?lang=sv&layers=incident-density", density=True)
        torget = hot_spots(workspace)[0]
        browser.execute_script("estgeo.map.jumpTo({center: arguments[0], zoom: 15})", [torget["lon"], torget["lat"]])
        settle(browser)
        x, y = pixel_of(browser, torget["lon"], torget["lat"])
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            browser.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})
        wait_for(browser, "document.querySelector('.maplibregl-popup .trend svg path')")
        cell = browser.execute_script("""
            const f = estgeo.map.queryRenderedFeatures(estgeo.map.project(arguments[0]), {layers: ['incident-density-tiles-fill']})[0];
            return f && f.properties;""", [torget["lon"], torget["lat"]])
        caption = browser.find_element("css selector", ".maplibregl-popup .trend figcaption").text
        rows = requests.get(f"{server.base}/collections/incident-density-r{cell['resolution']}/items", timeout=30, params={
            "f": "json", "h3": cell["h3"], "period_kind": "lagesbild", "skipGeometry": "true", "limit": 1000}).json()["features"]
        counts = [r["properties"]["count"] for r in rows if r["properties"]["count"] is not None]
        assert f"{len(rows)} perioder" in caption and f"{min(counts)}–{max(counts)}" in caption, caption
        path = browser.execute_script("return document.querySelector('.maplibregl-popup .trend path').getAttribute('d')")
        assert path.count("L") + path.count("M") == len(counts)
        assert browser.execute_script("return document.querySelector('.maplibregl-popup .trend .trend-now') !== null")
        assert console_errors(browser) == []

    def test_street_names_search_and_the_first_view(self, server: Server, browser, workspace: Path) -> None:
        """The first view holds the density's cells; street names are drawn with the
        server's own glyphs; a street found by the search is where the map goes."""
        open_map(browser, f"{server.base}/embed?lang=sv", density=True)
        bounds = browser.execute_script("return estgeo.map.getBounds().toArray()")
        box = browser.execute_script("return estgeo.config.layers.find(l => l.kind === 'density').source.bounds")
        assert bounds[0][0] <= box[0] + 0.01 and bounds[1][0] >= box[2] - 0.01, (bounds, box)
        assert bounds[0][1] <= box[1] + 0.01 and bounds[1][1] >= box[3] - 0.01, (bounds, box)
        search = browser.find_element("id", "search-input")
        search.send_keys("östra ring")
        wait_for(browser, "document.querySelector('#search-results button')")
        first = browser.find_element("css selector", "#search-results button")
        assert first.text == "Östra Ringvägen"
        first.click()
        settle(browser)
        place = requests.get(f"{server.base}/embed/places", params={"q": "Östra Ringvägen"}, timeout=30).json()["places"][0]
        # The street is framed in the room the panel and the legend leave: its box on screen,
        # its middle under neither.
        w, s, e, n = place["bbox"]
        shown = browser.execute_script("""
            const [w, s, e, n] = arguments[0];
            const sw = estgeo.map.project([w, s]), ne = estgeo.map.project([e, n]), mid = estgeo.map.project([(w + e) / 2, (s + n) / 2]);
            const on = (p) => p.x >= -1 && p.y >= -1 && p.x <= window.innerWidth + 1 && p.y <= window.innerHeight + 1;
            const under = ['panel', 'legend'].some(id => { const b = document.getElementById(id).getBoundingClientRect();
              return mid.x >= b.left && mid.x <= b.right && mid.y >= b.top && mid.y <= b.bottom; });
            return on(sw) && on(ne) && !under;""", [w, s, e, n])
        assert shown, place
        assert "Östra Ringvägen" in browser.find_element("id", "announcer").get_attribute("textContent")
        browser.execute_script("estgeo.map.jumpTo({zoom: 16})")
        settle(browser)
        names = browser.execute_script(
            "return estgeo.map.queryRenderedFeatures({layers: ['basemap-streets-tiles-name']}).map(f => f.properties.namn)")
        assert "Östra Ringvägen" in names, names
        # The glyphs came from this server (the access log writes the font's name unquoted).
        glyphs = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/embed/glyphs/'))")
        assert glyphs and all(g.startswith(server.base) for g in glyphs), glyphs
        browser.find_element("id", "search-input").clear()
        browser.find_element("id", "search-input").send_keys("qqqq")
        wait_for(browser, "document.querySelector('#search-results .none')")
        assert console_errors(browser) == []

    def test_a_link_shows_the_same_map(self, server: Server, browser, workspace: Path) -> None:
        """The view is in the URL: period, light, mode and hidden layers in the query, the
        place in the hash; the copied link opens the same map."""
        from selenium.webdriver.support.ui import Select

        open_map(browser, f"{server.base}/embed?lang=sv&layers=incident-density,unsafe-places", density=True)
        torget = hot_spots(workspace)[0]
        browser.execute_script("estgeo.map.jumpTo({center: arguments[0], zoom: 14.5})", [torget["lon"], torget["lat"]])
        settle(browser)
        options = Select(browser.find_element("id", "period")).options
        older = options[2].get_attribute("value")
        Select(browser.find_element("id", "period")).select_by_value(older)
        browser.find_element("css selector", "input[name=light][value=darkness]").click()
        browser.find_element("css selector", "input[name=mode][value=change]").click()
        browser.find_element("css selector", "input[name=layer][value=unsafe-places]").click()
        settle(browser)
        link = browser.execute_script("return location.href")
        assert "view=14.5/" in link and "light=darkness" in link and "mode=change" in link and "hidden=unsafe-places" in link
        browser.get("about:blank")
        open_map(browser, link, density=True)
        settle(browser)
        assert Select(browser.find_element("id", "period")).first_selected_option.get_attribute("value") == older
        assert browser.find_element("css selector", "input[name=light][value=darkness]").is_selected()
        assert browser.find_element("css selector", "input[name=mode][value=change]").is_selected()
        assert not browser.find_element("css selector", "input[name=layer][value=unsafe-places]").is_selected()
        centre = browser.execute_script("const c = estgeo.map.getCenter(); return [c.lng, c.lat, estgeo.map.getZoom()]")
        assert abs(centre[0] - torget["lon"]) < 1e-3 and abs(centre[1] - torget["lat"]) < 1e-3 and abs(centre[2] - 14.5) < 0.01
        paint = json.dumps(browser.execute_script("return estgeo.map.getPaintProperty('incident-density-json-fill', 'fill-color')"))
        assert '"change"' in paint
        drawn = browser.execute_script(
            "return estgeo.map.queryRenderedFeatures({layers: ['incident-density-json-fill']}).map(f => f.properties.period)")
        assert drawn and set(drawn) == {older}
        assert console_errors(browser) == []

    def test_keyboard_and_popup_show_published_properties(self, server: Server, browser, workspace: Path) -> None:
        from selenium.webdriver.common.keys import Keys

        open_map(browser, f"{server.base}/embed?lang=sv&layers=incident-density,unsafe-places&period=all", density=True)
        torget = hot_spots(workspace)[0]
        browser.execute_script("estgeo.map.jumpTo({center: arguments[0], zoom: 15})", [torget["lon"], torget["lat"]])
        settle(browser)
        # Tab reaches the map first; Enter asks about the place under the cross-hair.
        browser.find_element("tag name", "body").send_keys(Keys.TAB)
        assert browser.execute_script("return document.activeElement === estgeo.map.getCanvas()")
        before = browser.execute_script("return estgeo.map.getCenter().lng")
        browser.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
        wait_for(browser, f"estgeo.map.getCenter().lng > {before}")
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        popup = wait_for(browser, "document.querySelector('.maplibregl-popup-content')?.innerText")
        assert "Händelsetäthet" in popup and "Antal händelser" in popup
        for private in ("description", "beskrivning", "proposal", "förslag", "responsible"):
            assert private not in popup.lower()
        assert browser.find_element("id", "announcer").get_attribute("textContent")
        browser.switch_to.active_element.send_keys(Keys.ESCAPE)
        wait_for(browser, "!document.querySelector('.maplibregl-popup')")
        # Every control can be reached with the keyboard and has a name.
        unnamed = browser.execute_script("""
            return [...document.querySelectorAll('#controls input, #controls select, #panel-toggle')]
              .filter(el => !(el.labels && el.labels.length) && !el.textContent.trim()).map(el => el.outerHTML)""")
        assert unnamed == []

    def test_lighting_layers_draw_without_errors(self, server: Server, browser) -> None:
        browser.get_log("browser")
        open_map(browser, f"{server.base}/embed?lang=sv&layers=lighting-insecurity,dark-gaps,lamps-out,street-lights")
        settle(browser)
        drawn = browser.execute_script("""
            const found = {};
            for (const f of estgeo.map.queryRenderedFeatures()) found[f.layer.id] = (found[f.layer.id] || 0) + 1;
            return found;""")
        for layer in ("lighting-insecurity-tiles-fill", "lamps-out-json-circle", "street-lights-tiles-out"):
            assert drawn.get(layer), (layer, drawn)
        legend = browser.find_element("id", "legend-items").text
        assert "Släckta lampor" in legend and "Belysning saknas" in legend
        assert console_errors(browser) == []

    def test_an_unsafe_place_speaks_the_pages_language(self, server: Server, browser) -> None:
        """The layer's `problems` text is Swedish; in English the pop-up names the problems
        from the per-problem flags, in English."""
        open_map(browser, f"{server.base}/embed?lang=en&layers=unsafe-places")
        browser.execute_script("estgeo.map.jumpTo({center: [13.1433, 59.8366], zoom: 15})")
        settle(browser)
        place = browser.execute_script("""
            const layers = ['unsafe-places-tiles-circle', 'unsafe-places-json-circle'].filter(id => estgeo.map.getLayer(id));
            const f = estgeo.map.queryRenderedFeatures({layers}).find(f => f.properties.problem_klotter === true
              || f.properties.problem_klotter === 'true');
            if (!f) return null;
            const p = estgeo.map.project(f.geometry.coordinates);
            return {x: p.x, y: p.y, problems: f.properties.problems};""")
        assert place, "no unsafe place with graffiti in view"
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            browser.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": kind, "x": place["x"], "y": place["y"], "button": "left",
                                                                 "clickCount": 1})
        text = wait_for(browser, "document.querySelector('.maplibregl-popup-content')?.innerText")
        assert "Graffiti" in text and "Klotter" in place["problems"] and "Klotter" not in text, text

    def test_english_page(self, server: Server, browser) -> None:
        open_map(browser, f"{server.base}/embed?lang=en&layers=incident-density,unsafe-places")
        assert browser.execute_script("return document.documentElement.lang") == "en"
        text = browser.find_element("id", "panel").text + browser.find_element("id", "legend").text
        assert "Legend" in text and "Incident density" in text and "Darkness" in text and "Unsafe places" in text

    def test_landing_page_shows_the_line_to_copy(self, server: Server) -> None:
        html = requests.get(server.base, params={"f": "html", "lang": "sv"}, timeout=30).content.decode("utf-8")
        assert '<section id="embed">' in html and f"&lt;iframe src=&quot;{server.base}/embed?lang=sv" in html


@pytest.mark.slow
def test_unreachable_basemap_falls_back_to_streets(workspace: Path, tmp_path: Path) -> None:
    """A configured base map that cannot be reached (closed intranet): the page draws the
    streets from the data and says so."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    project = yaml.safe_load((config / "estgeo.yml").read_text(encoding="utf-8"))
    closed_port = free_port()
    unreachable = f"http://127.0.0.1:{closed_port}/{{z}}/{{x}}/{{y}}.png"
    project.setdefault("embed", {})["basemap_url"] = unreachable
    (config / "estgeo.yml").write_text(yaml.safe_dump(project, allow_unicode=True), encoding="utf-8")
    live = Server(workspace, tmp_path / "access.log", env={"ESTGEO_CONFIG": str(config)})
    driver = chrome(tmp_path / "profile")
    try:
        open_map(driver, f"{live.base}/embed?lang=sv")
        wait_for(driver, "estgeo.state.basemap === 'failed'", 20)
        assert driver.execute_script("return estgeo.map.getLayoutProperty('basemap', 'visibility')") == "none"
        assert driver.execute_script("return estgeo.map.getLayoutProperty('basemap-streets-tiles-line', 'visibility')") == "visible"
        assert "Bakgrundskartan nås inte" in driver.find_element("id", "legend-items").text
        # The only errors are the base map's own failed requests.
        others = [e for e in console_errors(driver) if f"127.0.0.1:{closed_port}/" not in e["message"]]
        assert others == []
    finally:
        driver.quit()
        live.stop()


@pytest.mark.slow
@pytest.mark.parametrize(("width", "height", "device"), [(1280, 800, "desktop"), (1000, 520, "snippet"), (390, 844, "phone")])
def test_popups_fit_the_frame_follow_the_map_and_the_legend_shows(server: Server, workspace: Path, tmp_path: Path,
                                                                   width: int, height: int, device: str) -> None:
    """The embed at the desktop size, the snippet's 520 px iframe and a phone, in Swedish
    and English: the legend is on screen without opening anything, a pop-up opened at the
    cell nearest a corner lies inside the frame (by its box), it follows a layer switched
    off, "Om kartan" says what the map shows, and nothing is fetched from elsewhere."""
    driver = chrome(tmp_path / "profile", width, max(height, 600))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": device == "phone"})
    try:
        host = server.base.split("//", 1)[1]
        for lang in ("sv", "en"):
            open_map(driver, f"{server.base}/embed?lang={lang}", density=True, panel=False)
            settle(driver)
            inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
            assert inner == [width, height], inner
            folded = driver.execute_script("return document.getElementById('panel-toggle').getAttribute('aria-expanded')")
            assert folded == ("true" if device == "desktop" else "false"), (device, folded)
            legend = driver.execute_script("return document.getElementById('legend').getBoundingClientRect().toJSON()")
            rows = driver.execute_script("""
                const body = document.getElementById('legend-body').getBoundingClientRect();
                return [...document.querySelectorAll('#legend-items .legend-item')].filter(r => {
                  const b = r.getBoundingClientRect();
                  return b.height > 0 && b.top >= body.top - 1 && b.bottom <= body.bottom + 1 && b.bottom <= window.innerHeight;
                }).length""")
            assert 0 <= legend["left"] and legend["right"] <= width and 0 <= legend["top"] and legend["bottom"] <= height, legend
            assert rows >= 5, (device, rows)  # the density classes, not just the first row
            legend_text = driver.find_element("id", "legend-items").get_attribute("textContent")
            withheld = "Färre än" if lang == "sv" else "Fewer than"
            # Cell-key (the demo's method) publishes every count: no class says "withheld",
            # and the first class starts at 1, as the pop-ups show counts of 1 and 2.
            assert (withheld in legend_text) != driver.execute_script("return estgeo.config.perturbed"), legend_text
            # Om kartan: what a hexagon, a grey one and a hot spot are, and the date of the data.
            driver.execute_script("document.getElementById('about').open = true")
            about = driver.find_element("id", "about-text").get_attribute("textContent")
            assert ("sexhörning" if lang == "sv" else "hexagon") in about and "5" in about
            assert ("hot spot" in about.lower()) and ("till och med" in about if lang == "sv" else "up to and including" in about)
            driver.execute_script("document.getElementById('about').open = false")
            for corner in ("bottom-right", "bottom-left"):
                cell = driver.execute_script(CORNER_CELL, corner, ["legend", "panel"])
                assert cell, f"{device}: no density cell on screen"
                for kind in ("mouseMoved", "mousePressed", "mouseReleased"):  # a real click at the cell's pixel
                    driver.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": kind, "x": cell["x"], "y": cell["y"],
                                                                       "button": "left", "clickCount": 1})
                wait_for(driver, "document.querySelector('.maplibregl-popup-content')")
                settle(driver)
                box = driver.execute_script("return document.querySelector('.maplibregl-popup-content').getBoundingClientRect().toJSON()")
                assert box["left"] >= 0 and box["top"] >= 0 and box["right"] <= width and box["bottom"] <= height, (device, corner, box)
                # On top: nothing (the legend, the panel) covers it.
                covered = driver.execute_script("""
                    const b = document.querySelector('.maplibregl-popup-content').getBoundingClientRect();
                    return [[0.25, 0.25], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.75, 0.75]].filter(([fx, fy]) =>
                      !document.elementFromPoint(b.left + fx * b.width, b.top + fy * b.height)?.closest('.maplibregl-popup')).length""")
                assert covered == 0, (device, corner, covered)
                text = driver.execute_script("return document.querySelector('.maplibregl-popup-content').innerText")
                assert "LB 20" not in text and not re.search(r"\b8[0-9a-f]{14}\b", text), text  # no period or cell codes
                title = "Händelsetäthet" if lang == "sv" else "Incident density"
                assert title in driver.execute_script("return document.querySelector('.maplibregl-popup-content').innerText")
                if corner == "bottom-right":
                    (ARTIFACTS / f"embed-popup-{device}-{lang}.png").write_bytes(driver.get_screenshot_as_png())
            if device == "desktop":
                # Switch the density off: the pop-up is asked again and no longer shows it.
                driver.find_element("css selector", "input[name=layer][value=incident-density]").click()
                settle(driver)
                wait_for(driver, f"!(document.querySelector('.maplibregl-popup-content')?.innerText || '').includes({json.dumps(title)})")
        elsewhere = [u for u in requested_urls(driver) if u.startswith("http") and u.split("//", 1)[1].split("/", 1)[0] != host]
        assert elsewhere == []
        assert console_errors(driver) == []
    finally:
        driver.quit()
