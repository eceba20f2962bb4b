"""One style source (`style:` in layers/*.yml, `estgeo.styles`): the classes are whole and
cover every count, the shipped QGIS styles carry the declared colours, the embed takes
its colours from the page's configuration, distinct meanings have distinct colours — and,
on the demo, the embed, the QGIS project and the report cut one lägesbild period into the
same classes with the same colours.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
from demo_workspace import demo_workspace
from live_server import live_server

from estgeo import styles
from estgeo.clients import qgis_project as qp
from estgeo.config import load_settings
from estgeo.report import make_report

REPO = Path(__file__).resolve().parents[1]
STYLES = REPO / "layers" / "styles"
EMBED_JS = REPO / "estgeo" / "publish" / "embed_assets" / "static" / "embed.js"


def _rgb(colour: str) -> str:
    return ",".join(str(int(colour.lstrip("#")[i:i + 2], 16)) for i in (0, 2, 4))


def _symbol_option(symbol: ET.Element, name: str) -> str:
    return str(next(o.get("value") for o in symbol.iter("Option") if o.get("name") == name))


def _symbol_colour(symbol: ET.Element, option: str = "color") -> str:
    return ",".join(_symbol_option(symbol, option).split(",")[:3])


# The classes -------------------------------------------------------------------------------
@pytest.mark.store_independent
def test_count_classes_are_whole_distinct_and_cover_every_count() -> None:
    values = np.array([np.nan, 0, 5, 5, 6, 7, 8, 9, 10, 12, 15, 20, 40, 80, np.nan])
    breaks = styles.count_breaks(values, classes=5, first=5)
    assert breaks == sorted(set(breaks)) and all(isinstance(b, int) for b in breaks)
    assert breaks[0] > 5 and breaks[-1] < 80 and len(breaks) <= 4
    classes = styles.count_classes(values, 5, 5)
    assert classes[0][0] == 5 and classes[-1][1] is None
    for (_, high), (low, _) in zip(classes, classes[1:], strict=False):
        assert low == high + 1
    for v in values[np.isfinite(values) & (values >= 5)]:
        assert sum(low <= v and (high is None or v <= high) for low, high in classes) == 1, v
    # Nothing to cut, one value, and cell-key's first class at 1.
    assert styles.count_classes(np.array([np.nan, 0]), 5, 5) == []
    assert styles.count_classes(np.array([7, 7, 7]), 5, 5) == [(5, None)]
    assert styles.count_classes(np.array([1, 1, 2, 3, 5, 8, 13]), 5, 1)[0][0] == 1
    assert styles.class_label(5, 9) == "5–9" and styles.class_label(25, None) == "≥ 25" and styles.class_label(3, 3) == "3"
    assert styles.class_colours(["a", "b", "c"], 2) == ["a", "b"] and styles.class_colours(["a", "b"], 3) == ["a", "b", "b"]


@pytest.mark.store_independent
def test_every_style_is_declared_and_a_missing_one_is_named(tmp_path: Path) -> None:
    settings = load_settings()
    declared = styles.styles(settings)
    assert set(declared) == set(styles.DECLARED)
    broken = tmp_path / "layers"
    broken.mkdir()
    for path in (REPO / "layers").glob("*.yml"):
        text = path.read_text(encoding="utf-8")
        if path.stem == "street-lights":
            text = text.replace("\nstyle:", "\nstyle_removed:")
        (broken / path.name).write_text(text, encoding="utf-8")
    with pytest.raises(Exception, match=r"layers/street-lights\.yml: style\.status is missing"):
        styles.styles(load_settings(layers_dir=broken))


# Every client takes its colours from it ----------------------------------------------------
@pytest.mark.store_independent
def test_the_shipped_qgis_styles_carry_the_declared_colours() -> None:
    declared = styles.styles(load_settings())
    density = ET.parse(STYLES / "incident-density.qml").getroot().find("renderer-v2")
    symbols = {s.get("name"): s for s in density.find("symbols")}
    shown = [_symbol_colour(symbols[r.get("symbol")]) for r in density.find("ranges")]
    assert shown == [_rgb(c) for c in declared["count"]["palette"]]
    hotspots = ET.parse(STYLES / "hotspots.qml").getroot().find("renderer-v2")
    symbols = {s.get("name"): s for s in hotspots.find("symbols")}
    # Outlines over the density, as the embed draws them: no fill, the colour on the edge.
    by_value = {c.get("value"): _symbol_colour(symbols[c.get("symbol")], "outline_color") for c in hotspots.iter("category")}
    assert {_symbol_option(symbols[c.get("symbol")], "style") for c in hotspots.iter("category")} == {"no"}
    for code, colour, _ in styles.categories(declared["gi_bin"]):
        assert by_value[code] == _rgb(colour), code
    for path, style, attribute in ((STYLES / "unsafe-places.qml", "walk_status", "status"),
                                   (STYLES / "street-lights.qml", "lamp_status", "status")):
        renderer = ET.parse(path).getroot().find("renderer-v2")
        symbols = {s.get("name"): s for s in renderer.find("symbols")}
        for code, colour, label in styles.categories(declared[style]):
            rule = next(r for r in renderer.iter("rule") if r.get("filter") == f"\"{attribute}\" = '{code}'")
            leaves = [x for x in rule.iter("rule") if x.get("symbol")] or [rule]
            assert {_symbol_colour(symbols[x.get("symbol")]) for x in leaves} == {_rgb(colour)}, (path.name, code)
            assert rule.get("label") == label
    gaps = ET.parse(STYLES / "dark-gaps.qml").getroot().find("renderer-v2")
    symbols = {s.get("name"): s for s in gaps.find("symbols")}
    by_value = {c.get("value"): _symbol_colour(symbols[c.get("symbol")]) for c in gaps.iter("category")}
    assert by_value == {code: _rgb(colour) for code, colour, _ in styles.categories(declared["gap_cause"])}


@pytest.mark.store_independent
def test_the_embed_has_no_colours_of_its_own_for_styled_properties() -> None:
    script = EMBED_JS.read_text(encoding="utf-8").lower()
    declared = styles.styles(load_settings())
    colours = {*declared["count"]["palette"], *declared["change"]["palette"], declared["count"]["withheld"]}
    for name in ("gi_bin", "walk_status", "lamp_status", "gap_cause"):
        colours |= {colour for _, colour, _ in styles.categories(declared[name])}
    assert not [c for c in colours if c.lower() in script]


@pytest.mark.store_independent
def test_distinct_meanings_have_distinct_colours() -> None:
    """The issue found one orange meaning four things. Vermilion now means "lamp out" —
    a street light out, the work list, a dark gap caused by lamps out — and nothing else;
    an unsafe place's status never shares a colour with the lighting layers."""
    declared = styles.styles(load_settings())
    lighting = {code: colour.lower() for name in ("lamp_status", "gap_cause") for code, colour, _ in styles.categories(declared[name])}
    places = {code: colour.lower() for code, colour, _ in styles.categories(declared["walk_status"])}
    assert len(set(places.values())) == len(places)
    assert not set(places.values()) & set(lighting.values())
    out = lighting["slackt"]
    assert [code for code, colour in lighting.items() if colour == out] == ["slackt", "lamps_out"]
    assert len({lighting["fel"], lighting["tand"], lighting["missing_lighting"], out}) == 4


# On the demo: three clients, one class scheme ---------------------------------------------
@pytest.mark.slow
def test_embed_qgis_and_report_draw_one_lagesbild_period_alike(tmp_path: Path) -> None:
    workspace = demo_workspace("large")
    settings = load_settings(workspace=workspace)
    declared = styles.styles(settings)
    first = styles.first_class(settings)
    with live_server(workspace) as (base, _):
        page = requests.get(f"{base}/embed", params={"lang": "sv"}, timeout=60).text
        config = json.loads(re.search(r'<script id="estgeo-config" type="application/json">(.*?)</script>', page, re.S).group(1))
        project = tmp_path / "estgeo.qgz"
        qp.make_project(base, project, first=first, count_style=declared["count"])
    # The embed: breaks of the lägesbild periods at resolution 9, from the first class up.
    breaks = [int(b) for b in config["density"]["breaks"]["lagesbild"]["9"]["count"]]
    lows = [config["first_class"], *breaks]
    embed = [(low, lows[i + 1] - 1 if i + 1 < len(lows) else None) for i, low in enumerate(lows)]
    assert config["styles"]["count"]["palette"] == declared["count"]["palette"]
    embed_colours = styles.class_colours(config["styles"]["count"]["palette"], len(embed))
    # The QGIS project: the latest lägesbild layer's ranges and their symbols' colours.
    with zipfile.ZipFile(project) as archive:
        root = ET.fromstring(archive.read("estgeo.qgs"))
    latest = next(m for m in root.iter("maplayer") if "typename='incident-density-lagesbild'" in m.find("datasource").text)
    renderer = latest.find("renderer-v2")
    symbols = {s.get("name"): s for s in renderer.find("symbols")}
    ranges = renderer.find("ranges").findall("range")
    qgis = [(int(float(r.get("lower"))), int(float(r.get("upper")))) for r in ranges]
    qgis_colours = [_symbol_colour(symbols[r.get("symbol")]) for r in ranges]
    # The report of the latest lägesbild period: its density map.
    paths = make_report(settings, out_dir=tmp_path / "report", pdf=False)
    text = paths["html"].read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="lagesbild-data">(.*?)</script>', text, re.S).group(1))
    assert data["meta"]["period"]["current"]["kind"] == "lagesbild"
    report = [(low, high) for low, high in data["maps"]["density"]["classes"]]

    assert len(embed) >= 3, embed
    assert report == embed, (report, embed)
    assert [low for low, _ in qgis] == [low for low, _ in embed]
    assert [high for _, high in qgis[:-1]] == [high for _, high in embed[:-1]]
    assert data["maps"]["density"]["colours"] == embed_colours
    assert qgis_colours == [_rgb(c) for c in embed_colours]
    assert [r.get("label") for r in ranges] == [styles.class_label(low, high) for low, high in embed]
