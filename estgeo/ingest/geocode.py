"""Place rows that have an address and no coordinates, against the municipality's own
address register (its belägenhetsadresser: one point per street address).

A housing company's log says "Storg. 12B", not 6634672/395936. Matching is on a
normalised form that both sides share (`normalise_street`): case and å/ä/ö folded, the
usual abbreviations written out (Storg. = Storgatan, Kyrkv. = Kyrkvägen), the number and
its letter apart (12B = 12 b), postcode and town after a comma left out. Exact matches
first; then, for the street names the register does not have, the nearest one by
edit-distance ratio (rapidfuzz, in C: 100,000 addresses against 50,000 register
points take about a second, benchmarks/ingest.py --geocode), accepted from
`fuzzy_min_score`. A number with a letter the register lacks falls back to the plain
number. Each placed row says how (`placed_by`: adress or adress_ungefar) and the
register's precision; a row that cannot be placed is quarantined with the nearest
candidates, so the person fixing it sees what the register holds.

config/municipality.yml:

    address_register:
      path: reference/adresser.gpkg   # GeoPackage, or CSV with x/y; relative to the workspace
      street: gatunamn                # column names in the register
      number: nummer                  # "12", "12B" or just the digits…
      letter: bokstav                 # …with the letter in a column of its own (optional)
      postcode: postnummer            # optional
      precision_m: 10                 # how far the point may be from the door
      fuzzy_min_score: 85             # 0–100
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estgeo.config import ConfigError, Settings

#: Street-name endings written short in exports, and what they stand for.
#: With a dot they are always expanded; without one ("Storg 12") only when the register
#: has the street written out.
ABBREVIATIONS = {"g": "gatan", "v": "vagen", "gr": "grand", "pl": "platsen", "st": "stigen"}
_SPLIT = re.compile(r"^\s*(?P<street>.*?[^\d\s])\s+(?P<number>\d+)\s*(?P<letter>[A-Za-zÅÄÖåäö])?\b")


def _fold(text: pd.Series) -> pd.Series:
    """Lower case, å/ä/ö/é folded to a/a/o/e, punctuation to spaces."""
    folded = text.astype("string").str.lower().str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True)
    return folded.str.replace(r"[^a-z0-9 ]+", " ", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()


def normalise_street(street: pd.Series) -> pd.Series:
    """The street part of an address in the form both the register and the exports are matched on."""
    text = street.astype("string").str.strip()
    # "Storg." / "Storg" → Storgatan: an abbreviation is a known ending after the street's stem.
    for short, full in ABBREVIATIONS.items():
        text = text.str.replace(rf"(?i)(\w{{2,}}?){short}\.$", rf"\g<1>{full}", regex=True)
    folded = _fold(text)
    return folded.str.replace(" ", "", regex=False)


def split_address(address: pd.Series) -> pd.DataFrame:
    """street (normalised), number, letter of each address ("Storg. 12B, 686 30 Sunne")."""
    first = address.astype("string").str.split(",", n=1).str[0]
    parts = first.str.extract(_SPLIT)
    return pd.DataFrame({"street": normalise_street(parts["street"]), "number": parts["number"].astype("string"),
                         "letter": _fold(parts["letter"].fillna("")).fillna("")}, index=address.index)


@dataclass
class Register:
    """The address points, keyed by normalised street, number and letter."""

    path: Path
    points: pd.DataFrame  # street, number, letter, x, y, label
    precision_m: float
    fuzzy_min_score: float

    @property
    def streets(self) -> list[str]:
        return self.points["street"].drop_duplicates().tolist()


def register_settings(settings: Settings) -> dict[str, Any] | None:
    spec = settings.municipality.get("address_register")
    return dict(spec) if spec else None


def register_path(settings: Settings) -> Path | None:
    spec = register_settings(settings)
    if not spec:
        return None
    path = Path(str(spec["path"]))
    return path if path.is_absolute() else settings.workspace / path


def load_register(settings: Settings) -> Register | None:
    """The configured register (read once per file version), or None when none is
    configured or its file is not there (the rows that need it say so)."""
    spec = register_settings(settings)
    path = register_path(settings)
    if not spec or path is None or not path.exists():
        return None
    return _load(path, path.stat().st_mtime_ns, tuple(sorted((k, str(v)) for k, v in spec.items())), settings.storage_crs)


@lru_cache(maxsize=4)
def _load(path: Path, _mtime: int, spec_items: tuple[tuple[str, str], ...], storage_crs: str) -> Register:
    spec = dict(spec_items)
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, sep=None, engine="python", dtype=str, encoding="utf-8-sig")
        x, y = pd.to_numeric(frame[spec.get("x", "x")].str.replace(",", ".")), pd.to_numeric(frame[spec.get("y", "y")].str.replace(",", "."))
        crs = spec.get("crs", storage_crs)
    else:
        import pyogrio

        frame = pyogrio.read_dataframe(path)
        x, y = frame.geometry.x, frame.geometry.y
        crs = frame.crs.to_string() if frame.crs is not None else storage_crs
    if crs != storage_crs:
        from pyproj import Transformer

        x, y = Transformer.from_crs(crs, storage_crs, always_xy=True).transform(np.asarray(x), np.asarray(y))
    for key in ("street", "number"):
        if spec.get(key, key) not in frame.columns:
            raise ConfigError(f"config/municipality.yml address_register: {path.name} has no column "
                              f"'{spec.get(key, key)}' ({key}); it has {', '.join(map(str, frame.columns))}")
    number_text = frame[spec.get("number", "number")].astype("string").str.strip()
    digits = number_text.str.extract(r"^(\d+)\s*([A-Za-z]?)")
    letter = (frame[spec["letter"]].astype("string").fillna("") if spec.get("letter") in frame.columns
              else digits[1].fillna(""))
    street = frame[spec.get("street", "street")].astype("string").str.strip()
    label = street + " " + digits[0].fillna("") + letter.str.upper()
    points = pd.DataFrame({"street": normalise_street(street), "number": digits[0].astype("string"),
                           "letter": _fold(letter).fillna(""), "x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float),
                           "label": label}).dropna(subset=["street", "number"])
    return Register(path, points.reset_index(drop=True), float(spec.get("precision_m", 10)),
                    float(spec.get("fuzzy_min_score", 85)))


@dataclass
class Placed:
    """Geocoding results, aligned with the addresses given."""

    x: np.ndarray
    y: np.ndarray
    #: "adress" (exact), "adress_ungefar" (fuzzy street or the number without its letter), "" not placed.
    how: np.ndarray
    #: What was matched ("Storgatan 12B"), or the nearest candidates when nothing was.
    matched: np.ndarray
    #: The register's precision (m) for an exact address.
    precision_m: float = 0.0


def geocode(register: Register, addresses: pd.Series) -> Placed:
    """Place each address; vectorised joins on the normalised key, fuzzy matching on the
    distinct street names only (an export repeats a few hundred streets)."""
    n = len(addresses)
    parts = split_address(addresses).reset_index(drop=True)
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    how = np.full(n, "", dtype=object)
    matched = np.full(n, "", dtype=object)
    points = register.points.drop_duplicates(["street", "number", "letter"])
    plain = points.drop_duplicates(["street", "number"]).sort_values("letter").drop_duplicates(["street", "number"])

    def join(keys: pd.DataFrame, on: list[str], table: pd.DataFrame) -> pd.DataFrame:
        return keys.reset_index().merge(table, on=on, how="inner").set_index("index")

    def take(found: pd.DataFrame, label: str) -> None:
        rows = found.index.to_numpy()
        x[rows], y[rows] = found["x"].to_numpy(), found["y"].to_numpy()
        how[rows], matched[rows] = label, found["label"].to_numpy()

    has = parts["street"].notna() & parts["number"].notna()
    take(join(parts[has], ["street", "number", "letter"], points), "adress")
    rest = has & (how == "")
    take(join(parts[rest & (parts["letter"] != "")], ["street", "number"], plain[["street", "number", "x", "y", "label"]]),
         "adress_ungefar")
    rest = has & (how == "")
    known = set(register.streets)
    unknown = [s for s in parts.loc[rest, "street"].dropna().unique() if s not in known]
    if unknown:
        from rapidfuzz import fuzz, process

        streets = register.streets
        accepted, written = {}, {}
        for s in unknown:
            written_out = [s[:-len(k)] + full for k, full in ABBREVIATIONS.items() if s.endswith(k) and s[:-len(k)] + full in known]
            if written_out:
                written[s] = written_out[0]
                continue
            match = process.extractOne(s, streets, scorer=fuzz.ratio, score_cutoff=register.fuzzy_min_score)
            if match:
                accepted[s] = match[0]
        if written:  # "Storg 12": the abbreviation, written out, is the register's street
            short = parts[rest & parts["street"].isin(list(written))].copy()
            short["street"] = short["street"].map(written)
            take(join(short, ["street", "number", "letter"], points), "adress")
        if accepted:
            fuzzy = parts[rest & parts["street"].isin(list(accepted))].copy()
            fuzzy["street"] = fuzzy["street"].map(accepted)
            take(join(fuzzy, ["street", "number", "letter"], points), "adress_ungefar")
            rest2 = (how == "") & parts.index.isin(fuzzy.index)
            take(join(fuzzy[rest2[fuzzy.index]], ["street", "number"], plain[["street", "number", "x", "y", "label"]]),
                 "adress_ungefar")
    missing = np.flatnonzero((how == "") & addresses.notna().to_numpy())
    if len(missing):
        matched[missing] = _candidates(register, parts.iloc[missing])
    return Placed(x, y, how, matched)


def _candidates(register: Register, parts: pd.DataFrame) -> np.ndarray:
    """The nearest register addresses for each unplaced address: the same street's
    numbers closest to it, or the streets most like it."""
    from rapidfuzz import fuzz, process

    by_street = register.points.groupby("street")
    streets = register.streets
    out = []
    cache: dict[tuple[str, str], str] = {}
    for street, number in zip(parts["street"].fillna(""), parts["number"].fillna(""), strict=True):
        key = (str(street), str(number))
        if key not in cache:
            names = [m[0] for m in process.extract(key[0], streets, scorer=fuzz.ratio, limit=3)] if key[0] else []
            labels: list[str] = []
            for name in names[:1]:
                group = by_street.get_group(name)
                distance = (pd.to_numeric(group["number"]) - (int(key[1]) if key[1].isdigit() else 0)).abs()
                labels += group.loc[distance.nsmallest(3).index, "label"].tolist()
            for name in names[1:]:
                labels.append(by_street.get_group(name)["label"].iloc[0])
            cache[key] = (", ".join(dict.fromkeys(labels)) if key[0] else "no street and house number could be read") \
                or "the register is empty"
        out.append(cache[key])
    return np.asarray(out, dtype=object)
