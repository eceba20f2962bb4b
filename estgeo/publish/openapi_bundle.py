"""Make pygeoapi's OpenAPI document self-contained.

pygeoapi 0.24 refers to parameters, responses and schemas of the OGC building blocks by
URL (schemas.opengis.net, GitHub). A client or validator that resolves the document then
needs the internet, and fails without it — as in CI, or a municipal network. Each such
reference is replaced by a local `#/components/...` entry written out in
`openapi_components.yml`; a reference we have no entry for is left as it is (and the
tests list them, so a pygeoapi upgrade that adds one is noticed).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

LOGGER = logging.getLogger(__name__)
COMPONENTS_FILE = Path(__file__).with_name("openapi_components.yml")
#: The component section of documents referred to as a whole (no `#/components/...`).
WHOLE_DOCUMENT_SECTIONS = {
    "sortby.yaml": "parameters",
    "cql2.json": "schemas",
    "execute.yaml": "schemas",
    "exception.yaml": "schemas",
}


@lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    return yaml.safe_load(COMPONENTS_FILE.read_text(encoding="utf-8"))


def remote_refs(document: Any) -> set[str]:
    """Every `$ref` in `document` that points outside it."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                found.add(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found


def self_contained(oas: dict[str, Any]) -> dict[str, Any]:
    """`oas` with its remote references replaced by local components (in place)."""
    library = _components()
    components = oas.setdefault("components", {})
    components.setdefault("schemas", {}).update(library.get("schemas", {}))
    local: dict[str, str] = {}
    for ref in sorted(remote_refs(oas)):
        url, _, fragment = ref.partition("#")
        filename = Path(urlparse(url).path).name
        entry_key = fragment.removeprefix("/components/")
        entry = library.get(filename, {}).get(entry_key)
        if entry is None:
            LOGGER.warning(f"OpenAPI: no local copy of {ref}; left as a remote reference")
            continue
        section = entry_key.split("/", 1)[0] if entry_key else WHOLE_DOCUMENT_SECTIONS.get(filename, "responses")
        name = "ogc-" + Path(filename).stem + (f"-{entry_key.rsplit('/', 1)[-1]}" if entry_key else "")
        components.setdefault(section, {})[name] = entry
        local[ref] = f"#/components/{section}/{name}"

    def rewrite(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref in local:
                node["$ref"] = local[ref]
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    rewrite(oas)
    return oas
