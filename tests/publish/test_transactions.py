"""Field collection over OGC API Features Part 4 on the internal profile.

A real workspace (walks, lights and incidents ingested from tests/data, layers built)
served by two real servers: the internal profile, where walk observations are created,
replaced, updated and deleted with an API key, and the public profile, which stays
read-only. Every write is checked in the store itself right after the response, so
"stored before the response" is what is tested, not what the server says.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio
import pytest
import requests
from live_server import live_server

from estgeo.build.run import build_layers
from estgeo.config import Settings, load_settings
from estgeo.ingest.pipeline import ingest_file
from estgeo.store import open_store

DATA = Path(__file__).resolve().parents[1] / "data"
KEY = "walk-test-key-0123456789abcdefghij"
HASHED_KEY = "hashed-key-abcdefghijklmnopqrstuvwxyz"
ENV_KEY = "env-key-zyxwvutsrqponmlkjihgfedcba"
COLLECTION = "walk-observations"
SUNNE = [13.1433, 59.8366]  # lon, lat
SUNNE_3006 = (6634672.0, 395936.0)  # northing, easting (the CRS's own axis order)

pytestmark = pytest.mark.slow


def observation(**properties: Any) -> dict[str, Any]:
    base = {"walk_id": "V-API", "walk_date": "2025-10-01", "light_condition": "mörker",
            "problems": ["belysning_saknas", "Skymd sikt"], "participants": 6,
            "proposal": "Sätt upp en lampa vid gångvägen", "responsible": "Tekniska förvaltningen"}
    base.update(properties)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": SUNNE}, "properties": base}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load_settings(workspace=tmp_path_factory.mktemp("tx") / "ws")
    settings.ensure_workspace()
    store = open_store(settings)
    for name in ("trygghetsvandring_test.csv", "belysning_test.gpkg", "polisen_blandat.csv"):
        assert ingest_file(settings, store, DATA / name).balanced()
    build_layers(settings, store)
    keys = settings.workspace / "secrets" / "api-keys.txt"
    keys.parent.mkdir()
    keys.write_text(f"# test keys\nfaltgrupp: {KEY}\nhashad: sha256:{hashlib.sha256(HASHED_KEY.encode()).hexdigest()}\n",
                    encoding="utf-8")
    return settings


@pytest.fixture(scope="module")
def internal(workspace: Settings) -> Iterator[str]:
    with live_server(workspace.workspace, profile="internal", env={"ESTGEO_API_KEYS": f"miljo:{ENV_KEY}"}) as (base, _):
        yield base


@pytest.fixture(scope="module")
def public(workspace: Settings) -> Iterator[str]:
    with live_server(workspace.workspace) as (base, _):
        yield base


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(base: str, feature: Any, headers: dict[str, str] | None = None, **extra: str) -> requests.Response:
    body = feature if isinstance(feature, (str, bytes)) else json.dumps(feature)
    return requests.post(f"{base}/collections/{COLLECTION}/items", data=body, timeout=30,
                         headers={"Content-Type": "application/geo+json", **(headers or {}), **extra})


def stored(settings: Settings, identifier: str) -> dict[str, Any] | None:
    """The record as the store holds it now, read by this process (not the server)."""
    found = open_store(settings).read_one("walks", identifier)
    return None if found.empty else found.iloc[0].to_dict()


# Authentication -----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_without_credentials_everything_is_401(internal: str, workspace: Settings, method: str) -> None:
    before = open_store(workspace).count("walks")
    url = f"{internal}/collections/{COLLECTION}/items" + ("" if method in ("GET", "POST") else "/tv-1")
    response = requests.request(method, url, data=json.dumps(observation()), timeout=30,
                                headers={"Content-Type": "application/geo+json"})
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert open_store(workspace).count("walks") == before
    for path in ("/", "/collections", "/openapi", "/collections/unsafe-places-internal/items"):
        assert requests.get(internal + path, timeout=30).status_code == 401


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer wrong-key-0123456789abcdefghijkl"},
    {"X-API-Key": KEY[:-1]},
    {"Authorization": "Basic " + base64.b64encode(b"faltgrupp:nope").decode()},
    {"Authorization": "Basic !!!not-base64"},
    {"Authorization": KEY},
    {"X-Remote-User": "anna"},  # no proxy header is configured: a user name proves nothing
])
def test_wrong_credentials_are_401(internal: str, headers: dict[str, str]) -> None:
    assert requests.get(f"{internal}/collections", headers=headers, timeout=30).status_code == 401


@pytest.mark.parametrize("headers", [
    auth(),
    {"X-API-Key": KEY},
    {"Authorization": "Basic " + base64.b64encode(f"qfield:{KEY}".encode()).decode()},  # QGIS/QField basic auth
    auth(HASHED_KEY),  # the key file keeps only its sha256
    auth(ENV_KEY),  # from ESTGEO_API_KEYS
])
def test_every_kind_of_credential_is_accepted(internal: str, headers: dict[str, str]) -> None:
    response = requests.get(f"{internal}/collections", params={"f": "json"}, headers=headers, timeout=30)
    assert response.status_code == 200
    ids = {c["id"] for c in response.json()["collections"]}
    assert {COLLECTION, "unsafe-places-internal", "unsafe-places"} <= ids
    assert response.headers["Cache-Control"] == "no-store"


# Create, read, replace, update, delete ---------------------------------------------------
def test_create_update_replace_delete_with_credentials(internal: str, workspace: Settings) -> None:
    created = post(internal, observation(), auth())
    assert created.status_code == 201, created.text
    identifier = created.headers["Location"].rsplit("/", 1)[1]
    record = stored(workspace, identifier)  # committed before the 201
    assert record is not None
    assert record["problems"] == "belysning_saknas,skymd_sikt" and record["light_condition"] == "morker"
    assert record["x"] == pytest.approx(SUNNE_3006[1], abs=1) and record["y"] == pytest.approx(SUNNE_3006[0], abs=1)

    item = requests.get(f"{internal}/collections/{COLLECTION}/items/{identifier}", headers=auth(), timeout=30).json()
    assert item["properties"]["proposal"] == "Sätt upp en lampa vid gångvägen"
    assert item["geometry"]["coordinates"] == pytest.approx(SUNNE, abs=1e-6)

    patched = requests.patch(f"{internal}/collections/{COLLECTION}/items/{identifier}", timeout=30,
                             headers={**auth(), "Content-Type": "application/merge-patch+json"},
                             data=json.dumps({"properties": {"status": "Planerad", "target_date": "2026-03-01",
                                                             "proposal": None}}))
    assert patched.status_code == 204, patched.text
    record = stored(workspace, identifier)
    assert record["status"] == "planerad" and record["target_date"] == "2026-03-01"
    assert pd.isna(record["proposal"])  # null removes a property
    assert record["walk_id"] == "V-API"  # untouched properties stay

    replaced = requests.put(f"{internal}/collections/{COLLECTION}/items/{identifier}", timeout=30,
                            headers={**auth(), "Content-Type": "application/geo+json"},
                            data=json.dumps(observation(walk_id="V-API-2", problems="klotter")))
    assert replaced.status_code == 204, replaced.text
    record = stored(workspace, identifier)
    assert record["walk_id"] == "V-API-2" and record["problems"] == "klotter" and record["status"] == "ny"

    deleted = requests.delete(f"{internal}/collections/{COLLECTION}/items/{identifier}", headers=auth(), timeout=30)
    assert deleted.status_code == 200
    assert stored(workspace, identifier) is None
    again = requests.delete(f"{internal}/collections/{COLLECTION}/items/{identifier}", headers=auth(), timeout=30)
    assert again.status_code == 404

    edits = open_store(workspace).read_edits()
    mine = edits[edits["id"] == identifier]
    assert mine["action"].tolist() == ["create", "replace", "replace", "delete"]
    assert set(mine["user"]) == {"faltgrupp"}  # who did it, by key name


def test_create_with_an_id_and_in_sweref(internal: str, workspace: Settings) -> None:
    feature = observation()
    feature["id"] = "falt-42"
    feature["geometry"]["coordinates"] = list(SUNNE_3006)  # northing, easting as EPSG:3006 defines them
    response = post(internal, feature, auth(), **{"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/3006>"})
    assert response.status_code == 201, response.text
    assert response.headers["Location"].endswith("/items/falt-42")
    record = stored(workspace, "falt-42")
    assert record["x"] == pytest.approx(SUNNE_3006[1], abs=0.01) and record["y"] == pytest.approx(SUNNE_3006[0], abs=0.01)
    duplicate = post(internal, feature, auth(), **{"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/3006>"})
    assert duplicate.status_code == 409 and "falt-42" in duplicate.json()["description"]


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"problems": "belysning, fel"}, "problems", "unknown problems"),
    ({"problems": None}, "problems", "required field is empty or missing"),
    ({"walk_date": "2025-13-01"}, "walk_date", "not a date"),
    ({"participants": 0}, "participants", "outside the allowed range 1–500"),
    ({"participants": 2.5}, "participants", "not a whole number"),
    ({"light_condition": "regn"}, "light_condition", "unknown light_condition"),
    ({"status": "klar"}, "status", "unknown status"),
    ({"colour": "red"}, "colour", "unknown property"),
    ({"proposal": {"text": "x"}}, "proposal", "not dict"),
])
def test_bad_observation_is_400_with_field_and_reason(internal: str, workspace: Settings, change: dict[str, Any],
                                                       field: str, reason: str) -> None:
    before = open_store(workspace).count("walks")
    response = post(internal, observation(**change), auth())
    assert response.status_code == 400, response.text
    description = response.json()["description"]
    assert f"{field}:" in description and reason in description
    assert open_store(workspace).count("walks") == before


@pytest.mark.parametrize(("geometry", "reason"), [
    ({"type": "Point", "coordinates": [18.0686, 59.3293]}, "outside the municipality of Sunne"),  # Stockholm
    ({"type": "Point", "coordinates": [2.35, 48.85]}, "do not fit Sweden"),  # Paris
    ({"type": "LineString", "coordinates": [SUNNE, SUNNE]}, "must be a Point"),
    ({"type": "Point", "coordinates": ["13", "59"]}, "two numbers"),
    (None, "no coordinates"),
])
def test_bad_geometry_is_400(internal: str, geometry: Any, reason: str) -> None:
    feature = observation()
    feature["geometry"] = geometry
    response = post(internal, feature, auth())
    assert response.status_code == 400 and "geometry" in response.json()["description"]
    assert reason in response.json()["description"]


@pytest.mark.parametrize("body", ["{not json", "[]", json.dumps({"type": "FeatureCollection", "features": []})])
def test_malformed_body_is_400(internal: str, body: str) -> None:
    assert post(internal, body, auth()).status_code == 400


def test_patch_is_validated_too(internal: str, workspace: Settings) -> None:
    identifier = post(internal, observation(), auth()).headers["Location"].rsplit("/", 1)[1]
    url = f"{internal}/collections/{COLLECTION}/items/{identifier}"
    bad = requests.patch(url, data=json.dumps({"properties": {"score_lighting": 7}}), headers=auth(), timeout=30)
    assert bad.status_code == 400 and "score_lighting" in bad.json()["description"]
    moved = requests.patch(url, data=json.dumps({"geometry": {"type": "Point", "coordinates": [13.15, 59.84]}}),
                           headers=auth(), timeout=30)
    assert moved.status_code == 204
    assert stored(workspace, identifier)["x"] > SUNNE_3006[1]
    assert requests.patch(f"{internal}/collections/{COLLECTION}/items/finns-inte", data="{}", headers=auth(),
                          timeout=30).status_code == 404


def test_internal_non_editable_collections_refuse_writes(internal: str) -> None:
    for url in (f"{internal}/collections/unsafe-places-internal/items/tv-1", f"{internal}/collections/street-lights/items/BP-1"):
        for method in ("PUT", "PATCH", "DELETE"):
            assert requests.request(method, url, headers=auth(), data="{}", timeout=30).status_code == 405
    response = requests.post(f"{internal}/collections/unsafe-places-internal/items", headers={**auth(), "Content-Type": "application/geo+json"},
                             data=json.dumps(observation()), timeout=30)
    assert response.status_code == 405


def test_conformance_follows_the_profile(internal: str, public: str) -> None:
    part4 = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete"
    assert part4 in requests.get(f"{internal}/conformance", params={"f": "json"}, headers=auth(), timeout=30).json()["conformsTo"]
    assert part4 not in requests.get(f"{public}/conformance", params={"f": "json"}, timeout=30).json()["conformsTo"]


# The public profile -----------------------------------------------------------------------
def test_public_profile_has_no_internal_collections_and_is_read_only(public: str) -> None:
    ids = {c["id"] for c in requests.get(f"{public}/collections", params={"f": "json"}, timeout=30).json()["collections"]}
    assert "unsafe-places" in ids and not ids & {COLLECTION, "unsafe-places-internal"}
    created = post(public, observation(), auth())  # a key does not help on the public server
    assert created.status_code == 405
    assert requests.get(f"{public}/collections/{COLLECTION}/items", headers=auth(), timeout=30).status_code == 404
    for method in ("PUT", "PATCH", "DELETE"):
        response = requests.request(method, f"{public}/collections/unsafe-places/items/tv-1", headers=auth(), timeout=30)
        assert response.status_code == 405 and "GET" in response.headers["Allow"]


# After the next build ----------------------------------------------------------------------
def test_observation_is_in_the_built_layers_after_the_next_build(internal: str, workspace: Settings) -> None:
    feature = observation(walk_id="V-BUILD", proposal="Beskär häcken", responsible="Parkförvaltningen")
    feature["id"] = "falt-build"
    assert post(internal, feature, auth()).status_code == 201
    build_layers(workspace, open_store(workspace))
    current = workspace.published_dir / "current"
    internal_layer = pyogrio.read_dataframe(current / "unsafe-places-internal.gpkg").set_index("id")
    assert internal_layer.loc["falt-build", "proposal"] == "Beskär häcken"
    assert internal_layer.loc["falt-build", "responsible"] == "Parkförvaltningen"
    public_layer = pyogrio.read_dataframe(current / "unsafe-places.gpkg").set_index("id")
    assert public_layer.loc["falt-build", "walk_id"] == "V-BUILD"
    assert not {"proposal", "responsible", "participants"} & set(public_layer.columns)  # names and free text stay internal
    over_http = requests.get(f"{internal}/collections/unsafe-places-internal/items/falt-build", headers=auth(), timeout=30)
    assert over_http.status_code == 200 and over_http.json()["properties"]["proposal"] == "Beskär häcken"
