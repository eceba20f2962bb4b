"""The lägesbild report on the demo municipality.

One demo workspace is generated, ingested and built for the module; the report is written
from it in both profiles. Every number the HTML shows is checked three ways: each table
cell's `data-value` against the JSON block embedded in the HTML, and every value of that
block against the GeoPackage it came from — recomputed here with plain pandas, not with
the report's code. The public report is checked to hold nothing a public layer withholds.
The PDF's pages are rendered with pdftoppm and must not be blank.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner
from demo_workspace import demo_workspace

from estgeo.cli import main
from estgeo.config import Settings, load_settings
from estgeo.layers import disclosure
from estgeo.report import make_report
from estgeo.store import open_store


# Fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo() -> Settings:
    """The large demo (tests/demo_workspace.py: 20,000 incidents, every layer built by the CLI)."""
    return load_settings(workspace=demo_workspace("large"))


@pytest.fixture(scope="module")
def public(demo: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The public Swedish report, written through the command line as a user would."""
    out = tmp_path_factory.mktemp("public")
    result = CliRunner().invoke(main, ["--workspace", str(demo.workspace), "report", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    files = {p.suffix[1:]: p for p in out.iterdir()}
    assert set(files) == {"html", "pdf"}
    return files


@pytest.fixture(scope="module")
def internal(demo: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_report(demo, profile="internal", out_dir=tmp_path_factory.mktemp("internal"),
                       store=open_store(demo))


def report_data(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="lagesbild-data">(.*?)</script>', text, re.S)
    assert match, "the HTML has no machine-readable data block"
    return json.loads(match.group(1))


def layer(settings: Settings, collection: str, where: str | None = None, geometry: bool = False) -> pd.DataFrame:
    path = settings.published_dir / "current" / f"{collection}.gpkg"
    return pyogrio.read_dataframe(path, where=where, read_geometry=geometry)


def window_rows(settings: Settings, collection: str, period: dict[str, Any]) -> pd.DataFrame:
    frame = layer(settings, collection, where=f"period_kind = '{period['kind']}'")
    return frame[frame["period_start"].dt.strftime("%Y-%m-%d").isin(period["periods"])]


def value(v: Any) -> Any:
    """A layer value as the report's JSON has it: None for null, int when whole."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    return int(v) if float(v).is_integer() else float(v)


class _Refs(HTMLParser):
    """Collect (data-ref, data-value, text) of every element that carries a data-ref."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []
        self._open: list[list[Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "data-ref" in a:
            self._open.append([tag, a["data-ref"], a["data-value"], ""])

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][3] += data

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, ref, val, text = self._open.pop()
            self.found.append((ref, val, text))


def at(data: dict[str, Any], ref: str) -> Any:
    node: Any = data
    for part in ref.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


# Files and pages ------------------------------------------------------------------------
def test_pdf_pages_are_not_blank(public: dict[str, Path], tmp_path: Path) -> None:
    assert shutil.which("pdftoppm"), "pdftoppm (Debian poppler-utils) is needed"
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(public["pdf"]), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 5
    from PIL import Image

    for page in pages:
        pixels = np.asarray(Image.open(page).convert("L"), dtype=np.int16)
        inked = (pixels < 200).mean()
        assert inked > 0.005, f"{page.name} is blank ({inked:.4f} of it inked)"
        assert pixels.std() > 5, f"{page.name} is one flat colour"


def pdf_text(pdf: Path) -> str:
    """The PDF's text as a reader sees it (pdftotext, Debian poppler-utils)."""
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def test_pdf_says_what_it_shows_without_codes_or_empty_sections(demo: Settings, public: dict[str, Path],
                                                                 internal: dict[str, Path]) -> None:
    """What the EST group reads: sections numbered as shown (the public version has no
    weekday × hour section to leave empty), the law's parts pointing at those numbers, no
    build id or layer id, p-values said to be Holm-adjusted, the share in darkness with
    the unknown ones named, and the method's privacy sentence that of the method in use."""
    text = pdf_text(public["pdf"])
    headings = re.findall(r"^\s*(\d+)\. (\S.*?)\s*$", text, re.M)
    numbers = [int(n) for n, _ in headings]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 7, headings
    assert not any("Veckodag" in title for _, title in headings)
    assert "Veckodag och timme" in pdf_text(internal["pdf"])
    assert re.search(r"avsnitt 1–\d\), annan\s+relevant information \(avsnitt \d–\d\)", text)
    build = report_data(public["html"])["meta"]["build"]
    assert build and build not in text and str(build)[:8] not in text
    titles = {c["id"]: c["title"]["sv"] for c in demo.collections if isinstance(c.get("title"), dict)}
    shown = report_data(public["html"])["sources"]["layers"]
    assert all(titles[cid] in re.sub(r"\s+", " ", text) for cid in shown if cid in titles)
    assert not re.search(r"^\s*(incident-density|basemap-streets|lamps-out)\b", text, re.M)
    assert not re.search(r"\b(interventions|lights|walks)\b", text), "the source kinds are in Swedish"
    assert "LB 20" not in text
    assert "Holms metod" in text.split("2. Kartor")[0]
    assert "okänt ljusförhållande" in text
    method = demo.project.get("privacy", {}).get("method")
    assert ("cell key-metoden" in re.sub(r"\s+", " ", text)) == (method == "cell-key")


def test_top_cells_and_overdue_places_are_named_by_their_street(demo: Settings, public: dict[str, Path]) -> None:
    """Readers know streets, not H3 ids: each top cell and overdue place carries the name
    of the published street nearest it (within 150 m), found here with geopandas."""
    import geopandas as gpd
    import h3

    data = report_data(public["html"])
    streets = layer(demo, "basemap-streets", geometry=True).to_crs("EPSG:3006")
    streets = streets[streets["namn"].fillna("").str.strip() != ""]  # paths have no name

    def nearest(lon: float, lat: float) -> set[str | None]:
        point = gpd.GeoSeries.from_xy([lon], [lat], crs="OGC:CRS84").to_crs("EPSG:3006").iloc[0]
        distance = streets.distance(point)
        return {None} if distance.min() > 150 else set(streets.loc[distance <= distance.min() + 0.01, "namn"])

    rows = data["top_cells"]["rows"]
    assert rows and all(r["street"] for r in rows)
    for r in rows:
        lat, lon = h3.cell_to_latlng(r["h3"])
        assert r["street"] in nearest(lon, lat), r
    places = layer(demo, "unsafe-places", geometry=True).set_index("id")
    for item in data["unsafe_places"]["overdue"]:
        point = places.geometry[item["id"]]
        assert item["street"] in nearest(point.x, point.y), item
    text = re.sub(r"\s+", " ", pdf_text(public["pdf"]))
    assert rows[0]["street"] in text and f"{data['unsafe_places']['overdue'][0]['street']} ({data['unsafe_places']['overdue'][0]['id']})" in text


def _figure_pixels(html_text: str, figure_id: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    match = re.search(rf'<figure id="{figure_id}">.*?<img src="data:image/png;base64,([^"]+)"', html_text, re.S)
    assert match, f"no figure {figure_id}"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(match.group(1)))).convert("RGB"), dtype=int)


def _has_colour(pixels: np.ndarray, colour: str, tolerance: int = 12) -> bool:
    rgb = np.array([int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)])
    return bool((np.abs(pixels - rgb).max(axis=2) <= tolerance).any())


def test_unsafe_places_and_lamps_out_are_mapped_in_the_style_sources_colours(demo: Settings, public: dict[str, Path]) -> None:
    """The report maps unsafe places by status and lamps out and faults, in the colours the
    embed and QGIS use (layers/*.yml `style:`), with their counts in the legend."""
    from estgeo import styles

    text = public["html"].read_text(encoding="utf-8")
    declared = styles.styles(demo)
    places = layer(demo, "unsafe-places")
    pixels = _figure_pixels(text, "map-places")
    for code, colour, _ in styles.categories(declared["walk_status"]):
        if len({colour[1:3], colour[3:5], colour[5:7]}) == 1:
            continue  # a grey: the basemap's anti-aliased lines hold every grey
        assert _has_colour(pixels, colour) == bool((places["status"] == code).any()), code
    lamps = _figure_pixels(text, "map-lamps")
    lights = layer(demo, "street-lights")
    for code, colour, _ in styles.categories(declared["lamp_status"]):
        if code != "tand":
            assert _has_colour(lamps, colour) == bool((lights["status"] == code).any()), code
    shown = re.sub(r"\s+", " ", pdf_text(public["pdf"]))
    assert "Otrygga platser efter status" in shown and "Släckta lampor och fel" in shown


def test_html_is_self_contained_and_swedish(public: dict[str, Path]) -> None:
    text = public["html"].read_text(encoding="utf-8")
    assert '<html lang="sv">' in text
    assert "Sammanfattning" in text and "Analys" in text and "Datakällor" in text
    assert not re.search(r'(?:src|href)\s*=\s*"(?!data:|#)', text), "the HTML links something outside itself"
    assert "<link" not in text and "<script src" not in text
    images = re.findall(r'<img src="data:image/png;base64,', text)
    assert len(images) >= 5  # series, density, hot spots, emerging, daylight/darkness


def test_english_on_request(demo: Settings, tmp_path: Path) -> None:
    paths = make_report(demo, lang="en", out_dir=tmp_path, pdf=False)
    text = paths["html"].read_text(encoding="utf-8")
    assert '<html lang="en">' in text and "1. Summary" in text and "Sammanfattning" not in text
    assert report_data(paths["html"])["meta"]["lang"] == "en"


def test_every_shown_number_is_in_the_data_block(public: dict[str, Path], internal: dict[str, Path]) -> None:
    for paths in (public, internal):
        data = report_data(paths["html"])
        parser = _Refs()
        parser.feed(paths["html"].read_text(encoding="utf-8"))
        assert len(parser.found) > 50
        for ref, shown, text in parser.found:
            expected = at(data, ref)
            assert json.loads(html.unescape(shown)) == expected, ref
            is_count = not ref.rsplit(".", 1)[-1].startswith(("p_", "gi_"))  # p-values and z-scores are not counts
            if is_count and isinstance(expected, int) and not isinstance(expected, bool):
                first = text.split("(")[0]  # "1 234*", "−5 (−3,8 %)", "+23 (+4,9 %)"
                assert re.sub(r"\D", "", first) == str(abs(expected)), (ref, text)
                assert ("−" in first) == (expected < 0), (ref, text)


# Every figure against its layer -------------------------------------------------------------
def test_summary_and_series_are_sums_of_published_counts(demo: Settings, public: dict[str, Path]) -> None:
    data = report_data(public["html"])
    meta = data["meta"]
    assert meta["profile"] == "public" and meta["source"] == "published layers"
    for name in ("current", "previous", "last_year"):
        period = meta["period"][name]
        rows = window_rows(demo, meta["totals_layer"], period)
        for row in data["summary"]["rows"]:
            column = rows[row["column"]]
            if period["available"]:
                assert row[name] == int(column.sum()), (name, row["column"])
                assert row[f"{name}_withheld"] == int(column.isna().sum())
    series = data["series"]
    frame = layer(demo, series["layer"], where=f"period_kind = '{series['kind']}'")
    frame["start"] = frame["period_start"].dt.strftime("%Y-%m-%d")
    for point in series["periods"]:
        rows = frame[frame["start"] == point["start"]]
        assert point["count"] == int(rows["count"].sum()) and point["withheld"] == int(rows["count"].isna().sum())
    assert series["periods"][-1]["start"] == meta["period"]["current"]["periods"][-1]


def test_maps_match_the_density_and_hotspot_layers(demo: Settings, public: dict[str, Path]) -> None:
    data = report_data(public["html"])
    period = data["meta"]["period"]["current"]
    rows = window_rows(demo, data["meta"]["cells_layer"], period).set_index("h3")
    maps = data["maps"]
    for name, column in (("density", "count"), ("daylight", "light_daylight"), ("darkness", "light_darkness")):
        shown = maps[name]["values"]
        assert set(shown) == set(rows.index)
        assert shown == {h: value(v) for h, v in rows[column].items()}, name
    assert maps["hotspots"]["values"] == {h: int(v) for h, v in rows["gi_bin"].items() if v != 0}
    hot = layer(demo, "hotspots", where=f"period_kind = '{period['kind']}'")
    hot = hot[hot["hotspot_class"] != "none"]
    assert maps["emerging"]["values"] == dict(zip(hot["h3"], hot["hotspot_class"], strict=True))
    overview = window_rows(demo, maps["overview"]["layer"], period)
    assert maps["overview"]["values"] == {h: value(v) for h, v in zip(overview["h3"], overview["count"], strict=True)}


def test_top_cells_match_the_density_layer(demo: Settings, public: dict[str, Path]) -> None:
    data = report_data(public["html"])
    meta = data["meta"]
    now = window_rows(demo, meta["cells_layer"], meta["period"]["current"]).set_index("h3")
    before = window_rows(demo, meta["cells_layer"], meta["period"]["previous"]).set_index("h3")
    published = now["count"].dropna()
    expected = published[published > 0].sort_values(ascending=False, kind="stable").head(10)
    rows = data["top_cells"]["rows"]
    assert [r["count"] for r in rows] == [int(v) for v in expected.to_numpy()]
    for r in rows:
        assert r["count"] == value(now.at[r["h3"], "count"])
        assert r["previous"] == (value(before.at[r["h3"], "count"]) if r["h3"] in before.index else 0)
        for d in r["dominant"]:
            assert d["count"] == value(now.at[r["h3"], f"cat_{d['category']}"])


def test_unsafe_places_lamps_and_interventions_match_their_layers(demo: Settings, public: dict[str, Path]) -> None:
    data = report_data(public["html"])
    period = data["meta"]["period"]["current"]
    start, end = period["start"], period["end"]
    places = layer(demo, "unsafe-places")
    walked, resolved, target = (places[c].astype("string") for c in ("walk_date", "resolved_at", "target_date"))
    closed = (resolved < end).fillna(False) | (places["status"].isin(["atgardad", "avslagen"]) & resolved.isna())
    open_at_end = (walked < end).fillna(False) & ~closed
    assert data["unsafe_places"]["counts"] == {
        "new": int(((walked >= start) & (walked < end)).fillna(False).sum()),
        "open": int(open_at_end.sum()),
        "overdue": int((open_at_end & (target < end).fillna(False)).sum()),
        "resolved": int(((resolved >= start) & (resolved < end)).fillna(False).sum()),
    }
    # Every overdue place is accounted for: listed, or counted in the line under the list.
    overdue = data["unsafe_places"]["counts"]["overdue"]
    assert len(data["unsafe_places"]["overdue"]) + data["unsafe_places"]["overdue_not_listed"] == overdue
    if data["unsafe_places"]["overdue_not_listed"]:
        more = data["unsafe_places"]["overdue_not_listed"]
        assert f"… och {more} försenade platser till" in pdf_text(public["pdf"])
    by_id = places.set_index("id")
    for item in data["unsafe_places"]["overdue"]:
        assert item["incidents_nearby"] == value(by_id.at[item["id"], "incidents_nearby"])
        assert item["target_date"] < end

    lamps = data["lamps_out"]
    lights = layer(demo, lamps["layer"]).set_index("id")
    assert lamps["total_out"] == int(lights["status"].isin(["slackt", "fel"]).sum())
    order = [r[lamps["ordered_by"]] for r in lamps["rows"]]
    assert order == sorted(order) and all(r["distance_m"] <= lamps["max_distance_m"] for r in lamps["rows"])
    for r in lamps["rows"]:
        assert lights.at[r["id"], "status"] in ("slackt", "fel")
        if lamps["layer"] == "lamps-out":
            assert r["rank"] == value(lights.at[r["id"], "rank"])
    if lamps["hot_cells"]:
        assert lamps["rows"], "the demo plants lamps out next to hot spots"

    interventions = layer(demo, "interventions").set_index("id")
    assert {r["id"] for r in data["interventions"]["rows"]} == set(interventions.index)
    for r in data["interventions"]["rows"]:
        assert r["before"] == value(interventions.at[r["id"], "before_count"])
        assert r["after"] == value(interventions.at[r["id"], "after_count"])


def test_sources_match_the_ingest_log(demo: Settings, public: dict[str, Path]) -> None:
    runs = open_store(demo).read_runs()
    data = report_data(public["html"])
    ingest = {(r["source"], r["kind"]): r for r in data["sources"]["ingest"]}
    for (source, kind), rows in runs.groupby(["source", "kind"]):
        assert ingest[(source, kind)]["read"] == int(rows["read"].sum())
    assert data["sources"]["layers"]["incident-density"] == len(layer(demo, "incident-density"))


# Privacy -----------------------------------------------------------------------------------
def test_public_report_holds_no_suppressed_counts(demo: Settings, public: dict[str, Path], internal: dict[str, Path]) -> None:
    data = report_data(public["html"])
    exact = report_data(internal["html"])
    threshold = data["meta"]["privacy_min_count"]
    suppression = disclosure.method(demo) == "suppression"
    # Every count the public report shows per cell is one the layers publish: with
    # suppression never below the threshold, with cell-key the perturbed value.
    density = layer(demo, "incident-density")
    for name in ("density", "daylight", "darkness", "overview"):
        for v in data["maps"][name]["values"].values():
            assert v is None or v == 0 or v >= threshold or not suppression, (name, v)
    for r in data["top_cells"]["rows"]:
        assert r["count"] >= threshold
        if suppression:
            assert r["previous"] in (None, 0) or r["previous"] >= threshold
            assert all(d["count"] >= threshold for d in r["dominant"])
    small = {h for h, v in exact["maps"]["density"]["values"].items() if v and v < threshold}
    assert small, "the demo has small cells, or this test proves nothing"
    if suppression:  # the cells whose true count is small (known from the store) are exactly hidden
        for h in small:
            assert data["maps"]["density"]["values"].get(h) is None
    else:  # shown, and not as the true count most of the time
        shown = {h: data["maps"]["density"]["values"].get(h) for h in small}
        assert sum(v is not None for v in shown.values()) >= 0.9 * len(small)  # a few the audit withheld
        same = sum(shown[h] == exact["maps"]["density"]["values"][h] for h in small)
        assert same < 0.5 * len(small), (same, len(small))
        published = set(pd.to_numeric(density["count"], errors="coerce").dropna().astype(int).tolist())
        assert {v for v in shown.values() if v is not None} <= published
    # Nothing only the internal profile may hold.
    text = public["html"].read_text(encoding="utf-8")
    assert data["weekday_hour"] is None and "organisations" not in data["sources"]
    internal_places = layer(demo, "unsafe-places-internal")
    for free_text in pd.concat([internal_places["proposal"], internal_places["responsible"]]).dropna().unique():
        assert html.escape(str(free_text)) not in text and str(free_text) not in text
    assert not any("file" in q for q in data["sources"]["quarantine"])
    assert "unsafe-places-internal" not in data["sources"]["layers"]


def test_internal_report_counts_the_store_exactly(demo: Settings, internal: dict[str, Path]) -> None:
    data = report_data(internal["html"])
    assert data["meta"]["source"] == "store"
    total = next(r for r in data["summary"]["rows"] if r["column"] == "count")
    assert total["current_withheld"] == 0
    public_total = next(r for r in report_data(make_report(demo, out_dir=internal["html"].parent / "p", pdf=False)["html"])["summary"]["rows"]
                        if r["column"] == "count")
    assert total["current"] >= public_total["current"]
    table = np.array(data["weekday_hour"]["values"])
    assert table.shape == (7, 24)
    assert table.sum() + data["weekday_hour"]["unknown_time"] == total["current"]
    assert sum(data["sources"]["organisations"]["current"].values()) == total["current"]
    assert "<script" in internal["html"].read_text(encoding="utf-8")  # the data block
    overdue = data["unsafe_places"]["overdue"]
    assert overdue and "proposal" in overdue[0] and "responsible" in overdue[0]


def test_report_for_an_area_and_a_year(demo: Settings, tmp_path: Path) -> None:
    whole = report_data(make_report(demo, out_dir=tmp_path, pdf=False)["html"])
    hot_cell = next(iter(whole["maps"]["emerging"]["values"]))
    import h3

    parent = h3.cell_to_parent(hot_cell, 8)
    data = report_data(make_report(demo, area=parent, out_dir=tmp_path, pdf=False)["html"])
    assert data["meta"]["area"]["cell"] == parent and data["meta"]["totals_resolution"] == 8
    assert all(h3.cell_to_parent(h, 8) == parent for h in data["maps"]["density"]["values"])
    total = next(r for r in data["summary"]["rows"] if r["column"] == "count")
    r8 = window_rows(demo, "incident-density-r8", data["meta"]["period"]["current"])
    assert total["current"] == int(r8.loc[r8["h3"] == parent, "count"].sum())
    year = report_data(make_report(demo, period="2026-01-01..2026-06-30", out_dir=tmp_path, pdf=False)["html"])
    assert year["meta"]["period"]["current"]["kind"] == "month" and len(year["meta"]["period"]["current"]["periods"]) == 6
    assert year["meta"]["period"]["last_year"]["start"] == "2025-01-01"


def test_cli_explains_a_period_that_is_not_whole_periods(demo: Settings, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--workspace", str(demo.workspace), "report", "--period", "2026-01-02..2026-01-05",
                                       "-o", str(tmp_path)])
    assert result.exit_code != 0 and "whole" in result.output and "2025-12-29..2026-01-11" in result.output


# The OGC API Processes process `lagesbild` ---------------------------------------------------
@pytest.fixture(scope="module")
def pygeoapi_files(demo: Settings) -> tuple[Path, Path]:
    from estgeo.publish.pygeoapi_config import write_pygeoapi_files

    return write_pygeoapi_files(demo)


def test_process_is_configured_with_a_job_manager(demo: Settings, pygeoapi_files: tuple[Path, Path]) -> None:
    import yaml
    from pygeoapi.config import validate_config

    config = yaml.safe_load(pygeoapi_files[0].read_text(encoding="utf-8"))
    assert validate_config(config)
    assert config["resources"]["lagesbild"]["processor"]["profile"] == "public"
    manager = config["server"]["manager"]
    # pygeoapi's TinyDB manager with bounds (estgeo.publish.jobs): capped, expiring, unlisted.
    assert manager["name"] == "estgeo.publish.jobs.BoundedJobManager"
    assert manager["max_active"] == 2 and manager["keep_hours"] == 24
    assert "/processes/lagesbild/execution" in pygeoapi_files[1].read_text(encoding="utf-8")


def test_process_runs_sync_and_async_through_pygeoapi(demo: Settings) -> None:
    """pygeoapi's own Processes API, in-process: the app `estgeo serve` runs
    (estgeo.publish.app.build_app, every middleware) behind Flask's test client."""
    import time

    from estgeo.publish.app import build_app

    client = build_app(demo, "public", write=True).test_client()
    description = client.get("/processes/lagesbild?f=json")
    assert description.status_code == 200 and set(description.json["inputs"]) == {"period", "area", "language", "format"}
    assert "async-execute" in description.json["jobControlOptions"]
    sync = client.post("/processes/lagesbild/execution", json={"inputs": {"format": "html", "language": "en"}})
    body = sync.data.decode("utf-8")
    assert sync.status_code == 200 and sync.headers["Content-Type"].startswith("text/html")
    assert 'lang="en"' in body and "lagesbild-data" in body
    started = client.post("/processes/lagesbild/execution", json={"inputs": {"period": "latest"}},
                          headers={"Prefer": "respond-async"})
    assert started.status_code == 201 and "/jobs/" in started.headers["Location"]
    job, status = started.json["jobID"], "accepted"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get(f"/jobs/{job}?f=json").json["status"]
        if status in ("successful", "failed"):
            break
        time.sleep(0.3)
    result = client.get(f"/jobs/{job}/results")
    assert [status, result.status_code, result.headers["Content-Type"], result.data[:5]] == \
        ["successful", 200, "application/pdf", b"%PDF-"]
    bad = client.post("/processes/lagesbild/execution", json={"inputs": {"period": "2026-01-02..2026-01-05"}})
    assert bad.status_code == 400 and "whole" in bad.json["description"]


@pytest.mark.slow
def test_process_through_the_real_server(demo: Settings) -> None:
    """`estgeo serve` (granian, estgeo's WSGI stack): the public server writes the public report."""
    import requests
    from live_server import live_server

    with live_server(demo.workspace) as (base, _):
        response = requests.post(f"{base}/processes/lagesbild/execution", json={"inputs": {"format": "html"}}, timeout=300)
        assert response.status_code == 200, response.text[:500]
        served = json.loads(re.search(r'id="lagesbild-data">(.*?)</script>', response.text, re.S).group(1))
        assert served["meta"]["profile"] == "public" and served["meta"]["lang"] == "sv"
        pdf = requests.post(f"{base}/processes/lagesbild/execution", json={"inputs": {"language": "en"}}, timeout=300)
        assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
