"""The server's HTML pages (estgeo.publish.pages): Swedish and English, nothing fetched
from elsewhere, item maps drawn, labels instead of codes — in-process and in headless
Chromium (desktop 1280×800, phone 390×844), with screenshots in tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from app_client import AppClient
from chromium import requested_urls
from demo_workspace import demo_workspace
from live_server import live_server

from estgeo.config import load_settings
from estgeo.publish import pages

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
#: Attributes that make a browser fetch something (links to other sites are only links).
FETCHED = re.compile(r"<(?:script|img|iframe)[^>]*\ssrc=\"([^\"]+)\"|<link[^>]*\shref=\"([^\"]+)\"", re.I)


def test_every_template_text_has_swedish_and_the_catalogs_compile(tmp_path: Path) -> None:
    assert pages.missing("sv") == []
    folder = pages.write_catalogs(tmp_path / "locale", ["sv", "en"])
    from babel.support import Translations

    sv = Translations.load(str(folder), ["sv"])
    ids = {pages.key(m): m for m in pages.message_ids()}
    assert sv.gettext(ids["Data collections in this service"]).strip() == "Datasamlingar i den här tjänsten"
    assert sv.gettext(ids["text_direction"]) == "ltr"
    assert Translations.load(str(folder), ["en"]).gettext(ids["text_direction"]) == "ltr"
    assert sv.gettext(ids["Powered by"]) == "Drivs med "  # the spacing round the words is the template's


def test_our_templates_fetch_nothing_from_elsewhere() -> None:
    for path in pages.TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for match in FETCHED.finditer(text):
            url = match.group(1) or match.group(2)
            assert not url.startswith(("http://", "https://", "//")), (path.name, url)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> AppClient:
    workspace = Path(shutil.copytree(demo_workspace(), tmp_path_factory.mktemp("pages") / "ws"))
    return AppClient(load_settings(workspace=workspace))


def _fetched(html: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in FETCHED.finditer(html)]


def test_pages_in_swedish_and_english_with_the_municipality_and_local_assets(app: AppClient) -> None:
    sv = app.get(f"{app}/", params={"f": "html", "lang": "sv"}).text
    assert 'dir="ltr"' in sv and "Visa samlingarna i den här tjänsten" in sv and "Användarvillkor" in sv
    assert "Powered by" not in sv and "Terms of service" not in sv and "text_direction" not in sv
    assert "mailto:trygghet@sunne.example" in sv and "Data uppdaterade 20" in sv and "Sunne kommun" in sv
    en = app.get(f"{app}/", params={"f": "html", "lang": "en"}).text
    assert "View the collections in this service" in en and "Data updated 20" in en
    for page in (sv, app.get(f"{app}/collections/incident-density", params={"f": "html"}).text,
                 app.get(f"{app}/collections/unsafe-places/items", params={"f": "html", "limit": "5"}).text):
        for url in _fetched(page):
            assert urlparse(url).netloc in ("", urlparse(str(app)).netloc), url
        assert "unpkg.com" not in page and "cdnjs" not in page


def test_an_item_page_shows_labels_not_codes(app: AppClient) -> None:
    places = app.get(f"{app}/collections/unsafe-places/items", params={"f": "json", "limit": "50"}).json()["features"]
    place = next(f for f in places if f["properties"]["light_condition"] == "morker")
    page = app.get(f"{app}/collections/unsafe-places/items/{place['id']}", params={"f": "html", "lang": "sv"}).text
    cells = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", page, re.S)]
    values = dict(zip(cells[0::2], cells[1::2], strict=False))
    assert values["light_condition"] == "Mörker" and values["status"] in {"Ny", "Planerad", "Åtgärdad", "Avslagen"}
    assert values["open"] in {"Ja", "Nej"} and "morker" not in values.values()
    data = re.search(r'<script id="estgeo-map-data" type="application/json">(.*?)</script>', page, re.S)
    assert data and json.loads(data.group(1))["id"] == place["id"]
    listing = app.get(f"{app}/collections/incident-density/items", params={"f": "html", "lang": "sv", "limit": "5",
                                                                          "period_kind": "week"}).text
    assert ">\n                    Vecka" in listing or "Vecka" in re.sub(r"\s+", " ", listing)


@pytest.mark.slow
def test_pages_in_chromium_fetch_only_from_the_server_and_draw_their_maps(tmp_path: Path) -> None:
    """Landing page, a collection, its items and an item, sv and en, desktop and phone:
    every request goes to the server, no console error, the maps are drawn and fit."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "Debian chromium and chromium-driver (tests/system-packages.txt)"
    ARTIFACTS.mkdir(exist_ok=True)
    with live_server(demo_workspace(), workers=2) as (base, _):
        host = urlparse(base).netloc
        place = json.loads(requests.get(f"{base}/collections/unsafe-places/items?f=json&limit=1",
                                                      timeout=30).text)["features"][0]["id"]
        targets = {"landing": "/?f=html", "collection": "/collections/incident-density?f=html",
                   "items": "/collections/unsafe-places/items?f=html", "item": f"/collections/unsafe-places/items/{place}?f=html"}
        for width, height, device in ((1280, 800, "desktop"), (390, 844, "phone")):
            options = webdriver.ChromeOptions()
            options.binary_location = chromium
            for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                             "--disable-component-update", "--disable-sync", "--use-angle=swiftshader",
                             "--enable-unsafe-swiftshader", "--force-device-scale-factor=1", f"--window-size={width},{height}",
                             f"--user-data-dir={tmp_path / device}"):
                options.add_argument(argument)
            options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
            driver = webdriver.Chrome(service=Service(driver_path), options=options)
            # Headless Chromium's window is at least 500 px wide: a phone is emulated.
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": device == "phone"})
            try:
                for lang in ("sv", "en"):
                    for name, path in targets.items():
                        driver.get(f"{base}{path}&lang={lang}")
                        if name != "landing":
                            deadline = time.monotonic() + 60
                            while driver.execute_script("const m = document.getElementById('estgeo-map');"
                                                        " return m && m.dataset.ready") != "true":
                                assert time.monotonic() < deadline, f"{name}: the map was not drawn"
                                time.sleep(0.1)
                            box = driver.execute_script("return document.getElementById('estgeo-map').getBoundingClientRect().toJSON()")
                            if name in ("items", "item"):  # fitted to the features: a street scale, not the country
                                scale = driver.execute_script("return document.querySelector('.maplibregl-ctrl-scale').textContent")
                                number, unit = scale.replace("\xa0", " ").split()
                                assert unit == "m" or (unit == "km" and float(number) <= 2), (name, device, scale)
                            assert 0 <= box["left"] and box["right"] <= width and box["height"] > 200, (name, device, box)
                        (ARTIFACTS / f"page-{name}-{device}-{lang}.png").write_bytes(driver.get_screenshot_as_png())
                        elsewhere = [u for u in requested_urls(driver) if urlparse(u).scheme in ("http", "https")
                                     and urlparse(u).netloc != host]
                        assert elsewhere == [], (name, device, lang, elsewhere)
                        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
                        assert errors == [], (name, device, lang, errors)
                        lang_attr, inner, scroll = driver.execute_script(
                            "return [document.documentElement.lang, window.innerWidth, document.documentElement.scrollWidth]")
                        assert lang_attr == lang and inner == width and scroll <= width, (name, device, inner, scroll)
            finally:
                driver.quit()


def test_vendored_bootstrap_is_the_locked_npm_version() -> None:
    assets = Path(pages.__file__).resolve().parent / "embed_assets"
    lock = json.loads((assets / "package-lock.json").read_text(encoding="utf-8"))
    wanted = json.loads((assets / "package.json").read_text(encoding="utf-8"))["dependencies"]["bootstrap"]
    vendor = assets / "static" / "vendor" / "bootstrap"
    assert lock["packages"]["node_modules/bootstrap"]["version"] == wanted == (vendor / "VERSION").read_text().strip()
    css = (vendor / "bootstrap.min.css").read_text(encoding="utf-8")
    assert css.startswith(f"@charset \"UTF-8\";/*!\n * Bootstrap  v{wanted}") and "sourceMappingURL" not in css


@pytest.mark.parametrize(("package", "files", "banner"), [
    ("swagger-ui-dist", ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"], "swagger-ui"),
    ("redoc", ["redoc.standalone.js"], "redoc"),
])
def test_vendored_api_description_viewers_are_the_locked_npm_versions(package: str, files: list[str], banner: str) -> None:
    assets = Path(pages.__file__).resolve().parent / "embed_assets"
    lock = json.loads((assets / "package-lock.json").read_text(encoding="utf-8"))
    wanted = json.loads((assets / "package.json").read_text(encoding="utf-8"))["dependencies"][package]
    vendor = assets / "static" / "vendor" / ("swagger-ui" if package == "swagger-ui-dist" else "redoc")
    assert lock["packages"][f"node_modules/{package}"]["version"] == wanted == (vendor / "VERSION").read_text().strip()
    for name in files:
        text = (vendor / name).read_text(encoding="utf-8")
        assert len(text) > 100_000 and "sourceMappingURL" not in text[-300:], name
    assert (vendor / "LICENSE").exists()


@pytest.mark.slow
def test_api_description_pages_load_everything_from_the_server(tmp_path: Path) -> None:
    """/openapi?f=html (Swagger UI) and &ui=redoc: pygeoapi's own pages loaded their viewer
    from unpkg and jsDelivr (and fonts from Google, and asked validator.swagger.io): on a
    closed intranet they were blank. Now every request goes to the server and the API is shown."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "Debian chromium and chromium-driver (tests/system-packages.txt)"
    ARTIFACTS.mkdir(exist_ok=True)
    with live_server(demo_workspace(), workers=1) as (base, _):
        host = urlparse(base).netloc
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                         f"--user-data-dir={tmp_path / 'profile'}"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            for name, path, shown in (("swagger", "/openapi?f=html", ".swagger-ui .info .title"),
                                      ("redoc", "/openapi?f=html&ui=redoc", "redoc h1, .api-info h1")):
                assert requests.get(f"{base}{path}", timeout=60).status_code == 200, name
                driver.get(f"{base}{path}")
                deadline = time.monotonic() + 90
                while not driver.execute_script(f"const e = document.querySelector({json.dumps(shown)}); return e && e.textContent"):
                    assert time.monotonic() < deadline, f"{name}: the API description was not shown"
                    time.sleep(0.2)
                (ARTIFACTS / f"page-openapi-{name}.png").write_bytes(driver.get_screenshot_as_png())
                elsewhere = [u for u in requested_urls(driver) if urlparse(u).scheme in ("http", "https") and urlparse(u).netloc != host]
                assert elsewhere == [], (name, elsewhere)
                errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
                assert errors == [], (name, errors)
        finally:
            driver.quit()
