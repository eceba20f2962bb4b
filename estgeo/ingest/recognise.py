"""Recognise an export's columns when no mapping fits it: by name, then by content.

Every partner in EST exports differently, and a säkerhetssamordnare should not have to
write YAML for a police extract whose columns are `Händelsenummer;Datum;Klockslag;…`.
This module reads the header and a sample of each column and proposes the mapping a
person would write (the same dict as a `config/sources/*.yml` file):

1. **By name**, against config/columns.yml (Swedish and English synonyms; case, å/ä/ö
   and punctuation folded as `normalise_label` does). A name is only taken when the
   column's values fit the field: a `Tid` column of clock times is the time half of a
   moment, one of full timestamps is the moment itself.
2. **By content**, for the columns no name placed: labels of one code list (a `Plats`
   column of "Park", "Centrum" is the place type; of "Storgatan 12" an address), and two
   number columns that together fit a Swedish coordinate system.
3. **The kind** (incidents, walks, lights, interventions): the one whose required
   fields are all placed, with the most fields placed; a tie or none is not guessed.

It decides from at most `SAMPLE_ROWS` values per column, so it costs the same for a
million rows as for a hundred (benchmarks/ingest.py measures it against the mapped
ingest). Recognition never changes the data: ingest then validates every row exactly
as with a written mapping, and quarantines what does not fit.

Written here rather than taken from a library: the tools that guess CSV schemas
(frictionless, csvkit's sniffers, pandas' dtype inference) tell numbers from dates, not
"Händelsenummer is an id" or "these two columns are RT90 with X as northing".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from estgeo.config import Settings, normalise_label
from estgeo.ingest.coords import detect_crs
from estgeo.ingest.mapping import PAIR, MappingError

#: Values looked at per column.
SAMPLE_ROWS = 500
#: Characters of a value looked at.
MAX_VALUE = 200
#: Share of a column's sampled values that must fit a field for the column to be it.
FITS = 0.8
#: Share of labels of one code list that places a column by its values alone: nearly all,
#: since a column placed as a code list quarantines the rows whose label it lacks (a
#: `Plats` of "Park", "Centrum", "Torget" is a free-text place, not a place type).
LABELS_FIT = 0.9

_DATETIME = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}[:.]\d{2}")
_DATE = re.compile(r"^(?:\d{4}-\d{1,2}-\d{1,2}|\d{5}(?:\.0+)?)$")
_CLOCK = re.compile(r"^\d{1,2}[:.]\d{2}(?:[:.]\d{2})?$")
_NUMBER = re.compile(r"^[+-]?\d[\d \u00a0]*(?:[.,]\d+)?$")
_ADDRESS = re.compile(r"^[^\d,;]*[A-Za-zÅÄÖåäöÉé][^\d,;]*\s\d+\s?[A-Za-z]?(?:\s*[,;].*)?$")
_PAIR = re.compile(PAIR)

#: Pseudo-fields of config/columns.yml `common`: halves of moments, one-column coordinates, addresses.
PSEUDO = ("date", "time", "date_to", "time_to", "coordinates", "address")


class NotRecognised(MappingError):
    """The columns do not say unambiguously what the file holds; the message lists what
    was found, what could not be placed and the command that fixes it."""


@dataclass
class Profile:
    """What a sample of one column's values looks like."""

    n: int
    datetime: float = 0.0
    date: float = 0.0
    clock: float = 0.0
    number: float = 0.0
    address: float = 0.0
    pair: float = 0.0
    low: float = np.nan
    high: float = np.nan
    labels: dict[str, float] = field(default_factory=dict)


@dataclass
class Recognition:
    """The mapping recognition proposes and how it came to it."""

    kind: str
    source: dict[str, Any]
    #: (column or columns, field) in file order, for the user.
    used: list[tuple[str, str]]
    #: Columns that were not placed (kept in the quarantine record, not ingested).
    unplaced: list[str]
    #: Defaults it filled in, with why ("source_org: polis, from the file name").
    assumed: list[str]
    #: What to say instead of the description built from the above (a mapping used as written).
    said: str = ""

    def describe(self) -> str:
        if self.said:
            return self.said
        parts = [f"{column} → {name}" for column, name in self.used]
        text = f"recognised as {self.kind}: " + ", ".join(parts)
        if self.assumed:
            text += "; " + "; ".join(self.assumed)
        if self.unplaced:
            text += f"; not used: {', '.join(self.unplaced)}"
        return text


def _profile(values: pd.Series, code_lists: dict[str, Any]) -> Profile:
    text = values.dropna().head(4 * SAMPLE_ROWS).astype(str).str.strip()
    # A label, a date or an address is short: a 2 MB cell is cut before any pattern
    # looks at it (the address pattern backtracks over a long cell without digits).
    text = text[text != ""].head(SAMPLE_ROWS).str.slice(0, MAX_VALUE)
    n = len(text)
    if n == 0:
        return Profile(0)

    def share(pattern: re.Pattern[str]) -> float:
        return float(text.str.match(pattern).mean())

    profile = Profile(n, datetime=share(_DATETIME), date=share(_DATE), clock=share(_CLOCK), number=share(_NUMBER),
                      address=share(_ADDRESS), pair=share(_PAIR))
    if profile.number >= FITS:
        numbers = pd.to_numeric(text.str.replace(r"[ \u00a0]", "", regex=True).str.replace(",", "."), errors="coerce")
        profile.low, profile.high = float(numbers.min()), float(numbers.max())
    folded = [normalise_label(v) for v in pd.unique(text)]
    weights = text.value_counts()
    distinct = list(weights.index)
    for name, codes in code_lists.items():
        hits = [codes.lookup.get(f) is not None or codes.by_number(f) is not None for f in folded]
        profile.labels[name] = float(weights[[d for d, hit in zip(distinct, hits, strict=True) if hit]].sum() / n) \
            if any(hits) else 0.0
    return profile


def _fits(spec_type: str, profile: Profile) -> bool:
    """Whether a column whose name says `spec_type` has values that fit it (an empty column fits)."""
    if profile.n == 0:
        return True
    if spec_type == "datetime":
        return profile.datetime + profile.date >= FITS
    if spec_type == "date":
        return profile.date + profile.datetime >= FITS
    if spec_type == "time":
        return profile.clock >= FITS
    if spec_type in ("int", "float", "coordinate"):
        return profile.number >= FITS
    if spec_type == "coordinates":
        return profile.pair >= FITS
    if spec_type == "address":
        return profile.address >= 0.5
    return True


def _synonyms(settings: Settings, kind: str) -> dict[str, list[str]]:
    """Folded names per field of `kind`: the field's own name, then config/columns.yml."""
    table = settings.column_names
    out: dict[str, list[str]] = {}
    for name in [*settings.model[kind]["fields"], "x", "y"]:
        out[name] = [normalise_label(name)]
    for section in ("common", kind):
        for name, words in (table.get(section) or {}).items():
            if name in out or name in PSEUDO:
                out.setdefault(name, []).extend(normalise_label(w) for w in words)
    return out


def _type_of(settings: Settings, kind: str, name: str) -> str:
    if name in ("x", "y"):
        return "coordinate"
    if name in ("date", "date_to"):
        return "date"
    if name in ("time", "time_to"):
        return "time"
    if name in ("coordinates", "address"):
        return name
    return str(settings.model[kind]["fields"][name]["type"])


def source_org_from_name(settings: Settings, file_name: str) -> str | None:
    """The partner a file name points at (config/columns.yml `source_org_from_file_name`)."""
    folded = normalise_label(file_name.rsplit(".", 1)[0])
    for word, org in (settings.column_names.get("source_org_from_file_name") or {}).items():
        if normalise_label(word) in folded:
            return str(org)
    return None


def _place(settings: Settings, kind: str, columns: list[str], profiles: dict[str, Profile],
           geometry: bool, base: dict[str, Any] | None, file_name: str) -> tuple[dict[str, Any], list[str], list[str]]:
    """(placed fields → column, unplaced columns, what is missing) for one kind."""
    synonyms = _synonyms(settings, kind)
    fields = settings.model[kind]["fields"]
    placed: dict[str, str] = {}
    folded = {c: normalise_label(c) for c in columns}
    # 1. Exact names, then names that start with a synonym ("Noggrannhet (m)", "X SWEREF99").
    for exact in (True, False):
        for column in columns:
            if column in placed.values():
                continue
            name = folded[column]
            best: tuple[int, str] | None = None
            for target, words in synonyms.items():
                if target in placed:
                    continue
                for word in words:
                    hit = name == word if exact else (len(word) >= 4 and name.startswith(word + "_"))
                    if hit and (best is None or len(word) > best[0]):
                        best = (len(word), target)
            if best is None:
                continue
            target = best[1]
            profile = profiles[column]
            if _fits(_type_of(settings, kind, target), profile) or name == normalise_label(target):
                # A column named as the field itself is taken whatever its values (they
                # are then validated, and the bad ones quarantined, row by row).
                placed[target] = column
            elif target in ("date", "time") and profile.datetime >= FITS:
                # "Tid" or "Datum" holding whole timestamps: the moment itself.
                moment = next((f for f, spec in fields.items() if spec["type"] == "datetime" and spec.get("required")), None)
                if moment and moment not in placed:
                    placed[moment] = column
    # 2. By content: labels of one code list, addresses, coordinate pairs.
    free = [c for c in columns if c not in placed.values()]
    for column in list(free):
        profile = profiles[column]
        for name, spec in fields.items():
            if name in placed or spec["type"] not in ("code", "codes"):
                continue
            if profile.labels.get(spec["codes"], 0.0) >= LABELS_FIT:
                placed[name] = column
                free.remove(column)
                break
        else:
            if "address" not in placed and profile.address >= FITS:
                placed["address"] = column
                free.remove(column)
    if "x" not in placed and "coordinates" not in placed:
        numeric = [c for c in free if profiles[c].number >= FITS and profiles[c].n]
        for i, a in enumerate(numeric):
            for b in numeric[i + 1:]:
                pa_, pb = profiles[a], profiles[b]
                east = np.array([min(pa_.low, pb.low), min(pa_.high, pb.high)])
                north = np.array([max(pa_.low, pb.low), max(pa_.high, pb.high)])
                crs = detect_crs(east, north)
                if crs[0] and crs[0] == crs[1]:
                    placed["x"], placed["y"] = a, b
                    break
            if "x" in placed:
                break
    unplaced = [c for c in columns if c not in placed.values()]
    missing = []
    defaults = {**{k: v["default"] for k, v in fields.items() if "default" in v}, **((base or {}).get("defaults") or {})}
    for name, spec in fields.items():
        if not spec.get("required") or name in placed or name in defaults:
            continue
        if spec["type"] == "datetime" and "date" in placed:
            continue
        if spec["type"] == "date" and "date" in placed:
            continue
        if name == "source_org" and source_org_from_name(settings, file_name):
            continue
        missing.append(name)
    has_point = geometry or ("x" in placed and "y" in placed) or "coordinates" in placed or "address" in placed
    if settings.model[kind].get("geometry") != "optional" and not has_point:
        missing.append("coordinates (x/y, one column with both, or an address)")
    return placed, unplaced, missing


def recognise(settings: Settings, frame: pd.DataFrame, file_name: str, kind: str | None = None,
              base: dict[str, Any] | None = None, geometry: bool = False) -> Recognition:
    """The mapping for `frame`'s columns, or NotRecognised saying what is missing.

    `kind` limits the choice; `base` is a mapping that matched the file by name but
    whose columns the file lacks (its kind and defaults are kept); `geometry`: the rows
    have point geometries of their own (GeoJSON, GeoPackage).
    """
    columns = [str(c) for c in frame.columns]
    code_lists = settings.code_lists
    profiles = {c: _profile(frame[c], code_lists) for c in columns}
    kinds = [kind] if kind else ([base["kind"]] if base else list(settings.model))
    results = {k: _place(settings, k, columns, profiles, geometry, base, file_name) for k in kinds}
    complete = {k: r for k, r in results.items() if not r[2]}
    if complete:
        score = {k: len(r[0]) for k, r in complete.items()}
        best = max(score.values())
        winners = [k for k, s in score.items() if s == best]
        if len(winners) == 1:
            return _mapping(settings, winners[0], *complete[winners[0]][:2], base, file_name)
        raise NotRecognised(_refusal(file_name, columns, results, f"the columns fit {' and '.join(winners)} equally well"))
    raise NotRecognised(_refusal(file_name, columns, results, None))


def _mapping(settings: Settings, kind: str, placed: dict[str, str], unplaced: list[str],
             base: dict[str, Any] | None, file_name: str) -> Recognition:
    fields = settings.model[kind]["fields"]
    columns: dict[str, Any] = {}
    used: list[tuple[str, str]] = []
    moment = next((f for f, spec in fields.items() if spec["type"] in ("datetime", "date") and spec.get("required")), None)
    end = next((f for f, spec in fields.items() if spec.get("window_end_of") == moment), None)
    for name, column in placed.items():
        if name in ("date", "time", "date_to", "time_to"):
            continue
        if name == "coordinates":
            columns["x"], columns["y"] = {"column": column, "part": 1}, {"column": column, "part": 2}
            used.append((column, "x, y (both in one column)"))
            continue
        columns[name] = column
        used.append((column, name))
    if moment and moment not in columns and "date" in placed:
        parts = [placed["date"], *([placed["time"]] if "time" in placed else [])]
        columns[moment] = parts if len(parts) > 1 else parts[0]
        used.append((" + ".join(parts), moment))
    if end and end not in columns and ("date_to" in placed or "time_to" in placed):
        parts = [placed.get("date_to") or placed["date"], *([placed["time_to"]] if "time_to" in placed else [])]
        columns[end] = parts if len(parts) > 1 else parts[0]
        used.append((" + ".join(parts), end))
    order = {c: i for i, c in enumerate(str(c) for c in placed.values())}
    used.sort(key=lambda item: order.get(item[0].split(" + ")[0], len(order)))
    defaults = dict((base or {}).get("defaults") or {})
    assumed = []
    if "source_org" in fields and "source_org" not in columns and "source_org" not in defaults:
        org = source_org_from_name(settings, file_name)
        if org:
            defaults["source_org"] = org
            assumed.append(f"source_org {org}, from the file name")
    prefix = (base or {}).get("id_prefix")
    if prefix is None and "source_org" in defaults:
        prefix = f"{defaults['source_org']}-"
    source: dict[str, Any] = {"name": (base or {}).get("name") or "recognised", "kind": kind, "columns": columns,
                              "defaults": defaults, "recognised": True}
    if prefix:
        source["id_prefix"] = prefix
        assumed.append(f"ids prefixed '{prefix}'")
    if base and base.get("crs"):
        source["crs"] = base["crs"]
    if base and base.get("vocabulary"):
        source["vocabulary"] = base["vocabulary"]
    return Recognition(kind, source, used, unplaced, assumed)


def _refusal(file_name: str, columns: list[str], results: dict[str, tuple[dict[str, str], list[str], list[str]]],
             why: str | None) -> str:
    best = min(results, key=lambda k: (len(results[k][2]), -len(results[k][0])))
    placed, unplaced, missing = results[best]
    found = ", ".join(f"{column} → {name}" for name, column in placed.items()) or "nothing"
    text = f"{file_name}: cannot tell what this file holds" + (f" ({why})" if why else "")
    text += f". Columns: {', '.join(columns)}. Read as {best}: {found}"
    if missing:
        text += f"; missing: {', '.join(missing)}"
    if unplaced:
        text += f"; not placed: {', '.join(unplaced)}"
    text += (f". Fix: `estgeo sources suggest {file_name} --kind {best} --write NAME` writes a mapping to edit in "
             "config/sources/NAME.yml (or rename the columns, or pass --kind/--source)")
    return text
