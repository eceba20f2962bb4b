"""Corrections to pygeoapi 0.24's generated OpenAPI document, so it says what the server answers.

Found by fuzzing the served document with schemathesis (tests/publish/test_fuzz_api.py):

* `/collections/{id}/tiles` answers a list of `tilesets` (OGC API – Tiles 1.0), while
  the document's `tiles` schema still requires the draft's `tileMatrixSetLinks`;
* items and single features come as `application/json` with `f=json` (and by default),
  documented only as `application/geo+json`; `/schema` and `/queryables` as
  `application/schema+json`, documented as `application/json`;
* `/queryables` and `/schema` answer JSON Schema documents, documented with the draft's
  `{"queryables": [...]}` list;
* every operation answers 400 to an unknown `f` or an invalid parameter, not all say so.
"""

from __future__ import annotations

import copy
from typing import Any

INVALID_PARAMETER = {"description": "A query parameter has an invalid value.",
                     "content": {"application/json": {"schema": {"type": "object"}}}}


def corrected(oas: dict[str, Any]) -> dict[str, Any]:
    """The document with the corrections above (a copy; the argument is not changed)."""
    oas = copy.deepcopy(oas)
    schemas = oas.get("components", {}).get("schemas", {})
    if "tiles" in schemas:
        schemas["tiles"] = {
            "type": "object",
            "required": ["links"],
            "properties": {"links": {"type": "array"}, "tilesets": {"type": "array"}},
        }
    if "queryables" in schemas:
        # /queryables and /schema answer a JSON Schema document (OGC API – Features Part 3),
        # not the draft's {"queryables": [...]} list.
        schemas["queryables"] = {
            "type": "object",
            "required": ["type", "properties"],
            "properties": {"type": {"const": "object"}, "properties": {"type": "object"}, "title": {"type": "string"}},
        }
    responses = oas.get("components", {}).get("responses", {})
    for name, response in responses.items():
        _add_media_types(response, schema_json=name == "Queryables")
    for item in oas.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "delete", "patch") or not isinstance(operation, dict):
                continue
            answers = operation.setdefault("responses", {})
            for answer in answers.values():
                _add_media_types(answer)
            if method == "get":
                answers.setdefault("400", copy.deepcopy(INVALID_PARAMETER))
    return oas


def _add_media_types(response: dict[str, Any], schema_json: bool = False) -> None:
    content = response.get("content") if isinstance(response, dict) else None
    if not isinstance(content, dict):
        return
    if "application/geo+json" in content and "application/json" not in content:
        content["application/json"] = copy.deepcopy(content["application/geo+json"])
    if schema_json and "application/json" in content and "application/schema+json" not in content:
        content["application/schema+json"] = copy.deepcopy(content["application/json"])
