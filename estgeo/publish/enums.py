"""The closed sets of values some properties take (`enums:` of a collection in
layers/*.yml): `period_kind` is one of week, lagesbild, month, all; a light condition one
of four. Declared once, they are

* in the queryables and the Part 5 schema of the collection, as JSON Schema `enum` (and
  as pygeoapi's `values`, which its queryables turn into `enum`), for both providers —
  so QGIS and a form can offer the values;
* a 400 naming the allowed values when a query asks for another (`?period_kind=foo`
  answered 0 features before, as if there were none that week), in the reader's
  language, from `estgeo.publish.explain`.

tests/publish/test_enums.py checks every declared set against the values a built demo
holds, so a declaration cannot silently fall behind the data.
"""

from __future__ import annotations

from typing import Any


def with_enums(fields: dict[str, dict[str, Any]], enums: dict[str, list[Any]] | None) -> dict[str, dict[str, Any]]:
    """`fields` (pygeoapi's provider fields) with each declared set as `enum` and `values`."""
    for name, values in (enums or {}).items():
        if name in fields:
            fields[name] = {**fields[name], "enum": list(values), "values": list(values)}
    return fields


def outside(params: dict[str, list[str]], enums: dict[str, list[Any]] | None) -> tuple[str, str, list[Any]] | None:
    """The first query parameter naming a property with a declared set whose value is
    not in it: (property, value, allowed); None when every value is allowed."""
    for name, values in (enums or {}).items():
        for given in params.get(name, []):
            if given not in {str(v) for v in values}:
                return name, given, list(values)
    return None
