"""The server's HTML pages in Swedish and English, with nothing fetched from elsewhere.

pygeoapi renders its pages from Jinja templates whose texts are `{% trans %}` blocks, and
loads their translations from gettext catalogs in `server.locale_dir`; it ships none for
Swedish, and with no catalog at all even the page direction read "text_direction". Its
templates also load Bootstrap, html5shiv and Leaflet from CDNs and draw item maps on
OpenStreetMap tiles, so on a closed intranet the pages were bare lists and the maps empty.

Here:

* `write_catalogs` compiles `html_pages/texts.yml` (English wording → Swedish) into the
  catalogs, with each message id exactly as Jinja extracts it from the templates in use
  (whitespace and all: the texts file is keyed by the wording with whitespace collapsed,
  which is what a translator reads). Babel, pygeoapi's own dependency, writes the `.mo`.
* `TEMPLATES` (`html_pages/templates`) overrides the templates that load assets from
  elsewhere: the base page takes Bootstrap from the package (vendored from npm like
  MapLibre, `embed_assets/vendor.mjs`) and names the municipality, its contact and the
  date of the data; the item maps are drawn with the vendored MapLibre from the
  collection's own GeoJSON, on no basemap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent / "html_pages"
TEMPLATES = HERE / "templates"
TEXTS = HERE / "texts.yml"
#: Messages that are settings, not texts: the same in every language.
FIXED = {"text_direction": "ltr", "%(query_type)s": "%(query_type)s"}


def template_dirs() -> list[Path]:
    """The template folders pygeoapi renders from, ours first (as it searches them)."""
    import pygeoapi

    return [TEMPLATES, Path(pygeoapi.__file__).resolve().parent / "templates"]


def message_ids(dirs: list[Path] | None = None) -> set[str]:
    """Every `{% trans %}` message of the templates, exactly as Jinja extracts it."""
    from jinja2 import Environment

    env = Environment(extensions=["jinja2.ext.i18n"])
    extract = env.extract_translations  # type: ignore[attr-defined]  # added by the i18n extension
    found: set[str] = set()
    for folder in dirs or template_dirs():
        for path in sorted(folder.rglob("*.html")):
            for _, _, message in extract(env.parse(path.read_text(encoding="utf-8"))):
                if isinstance(message, str):
                    found.add(message)
    return found


def texts() -> dict[str, Any]:
    """texts.yml: per language the template texts; `values` and `frame`, words by language."""
    loaded: dict[str, Any] = yaml.safe_load(TEXTS.read_text(encoding="utf-8"))
    return loaded


def key(message: str) -> str:
    """A message id as texts.yml names it: its words, whitespace collapsed."""
    return " ".join(message.split())


def write_catalogs(folder: Path, languages: list[str]) -> Path:
    """Compile the catalogs of `languages` into `folder` (pygeoapi's `server.locale_dir`)."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    wanted = message_ids()
    table = texts()
    for language in languages:
        catalog = Catalog(locale=language, domain="messages")
        translated: dict[str, str] = table.get(language, {})
        for message in sorted(wanted):
            text = FIXED.get(key(message)) or translated.get(key(message))
            if text:
                # Keep the message's own spacing round the text ("Powered by " stays apart).
                lead = message[: len(message) - len(message.lstrip())]
                trail = message[len(message.rstrip()):]
                catalog.add(message, f"{lead}{text}{trail}")
        target = folder / language / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        with open(target / "messages.mo", "wb") as fh:
            write_mo(fh, catalog)
    return folder


def value_labels(settings: Any) -> dict[str, dict[str, dict[str, str]]]:
    """property → code → {sv, en}: the labels the pages show instead of codes, from the
    taxonomy sections the collections' `enums:` name and texts.yml's `values:`."""
    labels: dict[str, dict[str, dict[str, str]]] = {}
    for collection in [c for layer in settings.layers for c in layer.get("collections") or []]:
        for name, spec in (collection.get("enums") or {}).items():
            if isinstance(spec, str) and isinstance(settings.taxonomy.get(spec), dict):
                for code, entry in settings.taxonomy[spec].items():
                    if isinstance(entry, dict) and "sv" in entry:
                        labels.setdefault(name, {})[str(code)] = {"sv": str(entry["sv"]), "en": str(entry.get("en", entry["sv"]))}
    for name, codes in (texts().get("values") or {}).items():
        for code, words in codes.items():
            labels.setdefault(name, {})[str(code)] = dict(words)
    return labels


def frame_words() -> dict[str, dict[str, str]]:
    return dict(texts().get("frame") or {})


def missing(language: str = "sv") -> list[str]:
    """Template texts with no translation into `language` (a test keeps this empty)."""
    table: dict[str, Any] = texts().get(language, {})
    return sorted({key(m) for m in message_ids()} - set(table) - set(FIXED))
