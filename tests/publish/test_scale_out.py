"""Scaling out: several servers on different ports, behind one address, answer alike.

Nothing a request sees may depend on which process answers it: two servers (two workers
each) on the same workspace — and so, with the PostGIS store, on the same database — must
return byte-identical bodies for the same requests: collections, pages of items with a
bbox, a CQL2 filter, one item, a vector tile. The suite runs once per store backend.
"""

from __future__ import annotations

import json
import math

import pytest
import requests
from demo_workspace import demo_workspace
from live_server import live_server

pytestmark = pytest.mark.slow


def _requests(base: str) -> list[str]:
    return [
        "/collections?f=json",
        "/collections/incident-density/items?f=json&limit=7&offset=3&bbox=13.10,59.82,13.18,59.86",
        "/collections/incident-density/items?f=json&limit=5&filter=count%20%3E%205%20AND%20period_kind%20%3D%20%27month%27",
        "/collections/street-lights/items?f=json&limit=4&crs=http://www.opengis.net/def/crs/EPSG/0/3006",
        "/collections/unsafe-places/items?f=json&limit=3&sortby=-days_open",
        "/collections/hotspots/tiles/WebMercatorQuad/13/{1}/{0}?f=mvt".format(*_tile(13.14, 59.84, 13)),
    ]


def _without_timestamp(response: requests.Response) -> bytes:
    """The body, less the moment of the answer that pygeoapi puts in item collections."""
    if "json" not in response.headers.get("Content-Type", ""):
        return response.content
    data = response.json()
    data.pop("timeStamp", None)
    return json.dumps(data, sort_keys=True).encode()


def _tile(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """The WebMercatorQuad tile (column, row) holding a point."""
    n = 2 ** zoom
    row = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(row)


def test_servers_on_different_ports_answer_identically() -> None:
    workspace = demo_workspace()
    public = "https://karta.kommun.se"  # the one address in front of both
    with live_server(workspace, workers=2, url=public) as (first, _), \
            live_server(workspace, workers=2, url=public) as (second, _):
        first_item = requests.get(f"{first}/collections/incident-density/items?f=json&limit=1", timeout=30).json()
        item_id = first_item["features"][0]["id"]
        paths = [*_requests(first), f"/collections/incident-density/items/{item_id}?f=json"]
        for path in paths:
            # Each path twice on each server: with two workers per server, both workers answer some.
            answers = [requests.get(base + path, timeout=60) for base in (first, second, first, second)]
            assert all(a.status_code == answers[0].status_code for a in answers), path
            assert answers[0].status_code in (200, 204), (path, answers[0].text[:300])
            bodies = {_without_timestamp(a) for a in answers}
            assert len(bodies) == 1, f"{path}: the servers answered differently"
        matched = requests.get(first + paths[2], timeout=60).json()
        assert matched["numberMatched"] > 0
        assert all(f["properties"]["count"] > 5 and f["properties"]["period_kind"] == "month" for f in matched["features"])
