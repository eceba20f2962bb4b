"""What each published property is called, in Swedish and English (config/fields.yml).

The title goes into each property of a collection's schema (`/collections/{id}/schema`,
OGC API Features Part 5, and the GeoJSON feature schema GDAL reads), in the language of
the request (`?lang=en`, else `Accept-Language`, else Swedish), for both providers
through `with_titles` — the same seam as the declared value sets (`estgeo.publish.enums`).
The generated QGIS project reads them back as field aliases
(`estgeo.clients.qgis_project`), so an analyst sees "Antal i mörker", not `light_darkness`.
Families of counts (`grp_<code>`, `cat_<code>`, `problem_<code>`) take the label of the
code from config/taxonomy.yml, so a new category needs no second entry.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from estgeo.publish.http import current_request

LANGUAGES = ("sv", "en")


@lru_cache(maxsize=8)
def titles(config_dir: str) -> dict[str, dict[str, str]]:
    """property → {sv, en}: config/fields.yml's fields, and its families expanded over the taxonomy."""
    folder = Path(config_dir)
    spec = yaml.safe_load((folder / "fields.yml").read_text(encoding="utf-8")) or {}
    taxonomy = yaml.safe_load((folder / "taxonomy.yml").read_text(encoding="utf-8")) or {}
    out: dict[str, dict[str, str]] = {}
    for prefix, family in (spec.get("families") or {}).items():
        for code, entry in (taxonomy.get(family["section"]) or {}).items():
            if isinstance(entry, dict) and "sv" in entry:
                out[f"{prefix}{code}"] = {lang: str(family[lang]).format(label=entry.get(lang, entry["sv"]))
                                          for lang in LANGUAGES}
    for name, entry in (spec.get("fields") or {}).items():
        out[str(name)] = {lang: str(entry.get(lang, entry["sv"])) for lang in LANGUAGES}
    return out


def request_language() -> str:
    """The language the current request asks for: `lang`, then Accept-Language; Swedish by default."""
    req = current_request()
    if req is None:
        return "sv"
    asked = (req.args.get("lang") or "").lower()
    if not asked:
        best = req.accept_languages.best_match(["sv", "en"])
        asked = best or "sv"
    return "en" if asked.startswith("en") else "sv"


def with_titles(fields: dict[str, dict[str, Any]], config_dir: str | None) -> dict[str, dict[str, Any]]:
    """`fields` (pygeoapi's provider fields) with each known property's `title` in the request's language."""
    if not config_dir:
        return fields
    table = titles(config_dir)
    lang = request_language()
    return {name: {**spec, "title": table[name][lang]} if name in table else spec for name, spec in fields.items()}
