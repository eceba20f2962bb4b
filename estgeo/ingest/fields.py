"""Parsers for the field types of the canonical model (config/model.yml), on whole columns.

Each parser takes a column of raw strings (empty cells as <NA>) and returns the parsed
column plus the problems it found; nothing here loops over rows in Python except over
the few *distinct* values of a code column.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from estgeo.config import CodeList, normalise_label
from estgeo.ingest.problems import Problems

_TRUE = {"1", "true", "ja", "j", "yes", "y", "sant", "x"}
_FALSE = {"0", "false", "nej", "n", "no", "falskt"}
# An offset only counts after a time of day: "2025-11-08" ends in "-08" but is a date.
# Plain pattern strings (not compiled) so pandas hands them to pyarrow's RE2, in C.
_OFFSET = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
_TIME_OF_DAY = r"\d:\d\d"
_DATE_ONLY = r"^\d{4}-\d{2}-\d{2}$"


@dataclass
class Moments:
    """Parsed datetimes: the instant (UTC), and where the input was a whole day or an
    hour that happened twice (the autumn daylight-saving overlap), the latest instant
    it can mean, so callers can widen a time window instead of guessing."""

    start: pd.Series
    latest: pd.Series
    date_only: np.ndarray
    #: A local time in the autumn overlap: it happened twice, so `latest` is an hour later.
    ambiguous: np.ndarray | None = None


def blank(raw: pd.Series) -> np.ndarray:
    return (raw.isna() | (raw.astype("string").str.strip() == "")).to_numpy(dtype=bool)


def parse_text(raw: pd.Series) -> pd.Series:
    text = raw.astype("string").str.strip()
    return text.mask(text == "")


#: A text cell that a spreadsheet would run as a formula when the data is exported again
#: (CSV injection): '=' or '@' first, or '+'/'-' directly followed by a function call or a
#: DDE link ("-cmd|…", "+HYPERLINK(…"). "+46 70 …" and "- trasig lampa" are ordinary text.
FORMULA = r"^(?:[=@]|[+\-][A-Za-z_.]+[(|!])"
#: Longest text accepted in one field: a description is a few sentences, and Excel,
#: where quarantine files are read, holds 32,767 characters in a cell.
MAX_TEXT_LENGTH = 10_000


def check_text(text: pd.Series, raw: pd.Series, name: str, problems: Problems, max_length: int = MAX_TEXT_LENGTH) -> None:
    """Quarantine text that looks like a spreadsheet formula or is absurdly long."""
    formula = text.str.contains(FORMULA, regex=True, na=False).to_numpy(dtype=bool)
    problems.add(formula, name, raw, "starts like a spreadsheet formula (=, @, +cmd|…); "
                 "remove the leading character if the text is meant")
    long = (text.str.len() > max_length).fillna(False).to_numpy(dtype=bool)
    problems.add(long, name, lambda: raw.astype("string").str.slice(0, 200) + "…",
                 f"longer than {max_length:,} characters")


def _to_float(text: pd.Series) -> pd.Series:
    """Strings to float64; pyarrow's cast is fast when every cell is a number, and
    pandas' coercion marks the bad cells when not."""
    try:
        return text.astype("float64[pyarrow]").astype("float64")
    except (ValueError, TypeError, pa.ArrowInvalid):
        return pd.to_numeric(text, errors="coerce").astype("float64")


def parse_float(raw: pd.Series, name: str, problems: Problems, bounds: list | None = None) -> pd.Series:
    """Numbers as Swedish exports write them too: decimal comma, spaces as thousands."""
    text = (raw.astype("string").str.strip().str.replace(" ", "", regex=False)
            .str.replace("\u00a0", "", regex=False).str.replace(",", ".", regex=False))
    values = _to_float(text)
    empty = blank(raw)
    problems.add(~empty & values.isna().to_numpy(), name, raw, "not a number (expected e.g. 12.5 or 12,5)")
    if bounds is not None:
        lo, hi = bounds
        out = ((values < lo) | (values > hi)).fillna(False).to_numpy(dtype=bool)
        problems.add(out, name, raw, f"outside the allowed range {lo}–{hi}")
        values = values.mask(out)
    return values


def parse_int(raw: pd.Series, name: str, problems: Problems, bounds: list | None = None) -> pd.Series:
    values = parse_float(raw, name, problems, bounds)
    fractional = (values.notna() & (values != values.round())).to_numpy(dtype=bool)
    problems.add(fractional, name, raw, "not a whole number")
    return values.mask(fractional).round().astype("Int64")


def parse_bool(raw: pd.Series, name: str, problems: Problems) -> pd.Series:
    folded = raw.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    out[folded.isin(_TRUE).fillna(False).to_numpy(dtype=bool)] = True
    out[folded.isin(_FALSE).fillna(False).to_numpy(dtype=bool)] = False
    problems.add(~blank(raw) & out.isna().to_numpy(), name, raw, "not a yes/no value (expected ja/nej, true/false, 1/0)")
    return out


def resolve_codes(values: pd.Series, codes: CodeList) -> tuple[pd.Series, pd.Series]:
    """Map labels, codes and aliases to codes; for unknown ones also the nearest code.

    Works on distinct values only — a million rows of a category column hold a few
    dozen distinct spellings.
    """
    distinct = pd.Series(values.dropna().unique())
    known: dict[str, str] = {}
    suggest: dict[str, str] = {}
    lookup = codes.lookup
    for value in distinct:
        folded = normalise_label(value)
        if folded in lookup:
            known[value] = lookup[folded]
        elif len(folded) <= 100:  # a label is short; comparing a huge cell would only cost time
            near = difflib.get_close_matches(folded, list(lookup), n=1, cutoff=0.5)
            suggest[value] = lookup[near[0]] if near else ""
        else:
            suggest[value] = ""
    return values.map(known).astype("string"), values.map(suggest).astype("string")


def parse_code(raw: pd.Series, name: str, problems: Problems, codes: CodeList) -> pd.Series:
    text = parse_text(raw)
    resolved, suggestion = resolve_codes(text, codes)
    unknown = (text.notna() & resolved.isna()).to_numpy(dtype=bool)
    valid = ", ".join(codes.entries)
    problems.add(
        unknown,
        name,
        raw,
        f"unknown {name} (valid codes: {valid})",
        ("did you mean '" + suggestion + "'?").where(suggestion.fillna("") != "", ""),
    )
    return resolved


def parse_codes(raw: pd.Series, name: str, problems: Problems, codes: CodeList) -> pd.Series:
    """A list of codes in one cell ("Dålig belysning, Skymd sikt"), stored comma-joined."""
    text = parse_text(raw)
    exploded = text.str.split(r"\s*[,;|]\s*", regex=True).explode()
    exploded = exploded.mask(exploded == "")
    resolved, suggestion = resolve_codes(exploded, codes)
    bad_part = exploded.notna() & resolved.isna()
    bad_rows = bad_part.groupby(level=0).any().reindex(text.index, fill_value=False)
    first_suggestion = suggestion.where(bad_part).groupby(level=0).first().reindex(text.index)
    problems.add(
        bad_rows.to_numpy(dtype=bool),
        name,
        raw,
        f"unknown {name} in the list (valid codes: {', '.join(codes.entries)})",
        ("did you mean '" + first_suggestion.astype("string") + "'?").fillna(""),
    )
    joined = resolved.dropna().groupby(level=0).agg(lambda s: ",".join(dict.fromkeys(s)))
    return joined.reindex(text.index).astype("string")


def _normalise_time_text(text: pd.Series) -> pd.Series:
    # Swedish clocks are written 14.30 as often as 14:30. The rewrite needs Python's
    # regex engine, so it runs only on the rows that have such a clock.
    dotted = text.str.contains(r"[ T]\d{1,2}\.\d{2}", regex=True, na=False).to_numpy(dtype=bool)
    if not dotted.any():
        return text
    text = text.copy()
    text[dotted] = text[dotted].str.replace(r"([ T]\d{1,2})\.(\d{2})", r"\1:\2", regex=True)
    return text


def parse_datetime(raw: pd.Series, name: str, problems: Problems, tz: str) -> Moments:
    """Moments with or without offset; local `tz` time where the input has none.

    A local time in the spring daylight-saving gap never happened: quarantined. One in
    the autumn overlap happened twice: the earlier instant is the start and the later
    one is returned as `latest`, so the incident's window covers both.
    """
    text = _normalise_time_text(parse_text(raw))
    index = raw.index
    # Years far outside what an EST report can mean are typos ("0025", "20255") and do
    # not fit pandas' timestamps either: refused before parsing.
    year = pd.to_numeric(text.str.extract(r"^\s*(\d{4,})", expand=False), errors="coerce")
    implausible = ((year < 1900) | (year > 2100)).fillna(False).to_numpy(dtype=bool)
    problems.add(implausible, name, raw, "not a plausible date/time (the year must be 1900–2100)")
    # Every accepted form starts with the year; anything else ("-0", "igår") is not a
    # date/time, and pandas would read some of it as the year 0.
    unshaped = text.notna().to_numpy(dtype=bool) & ~text.str.contains(r"^\d{4}", regex=True, na=False).to_numpy(dtype=bool)
    text = text.mask(implausible | unshaped)
    has_offset = (text.str.contains(_OFFSET, regex=True, na=False)
                  & text.str.contains(_TIME_OF_DAY, regex=True, na=False)).to_numpy(dtype=bool)
    date_only = text.str.contains(_DATE_ONLY, regex=True, na=False).to_numpy(dtype=bool)

    start = pd.Series(pd.NaT, index=index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        start[has_offset] = pd.to_datetime(text[has_offset], format="ISO8601", utc=True, errors="coerce")
    naive_mask = ~has_offset & text.notna().to_numpy(dtype=bool)
    latest = start.copy()
    gap = np.zeros(len(index), dtype=bool)
    ambiguous = np.zeros(len(index), dtype=bool)
    if naive_mask.any():
        naive = pd.to_datetime(text[naive_mask], format="ISO8601", errors="coerce")
        if getattr(naive.dt, "tz", None) is not None:  # pragma: no cover - guarded by regex
            naive = naive.dt.tz_localize(None)
        early = naive.dt.tz_localize(tz, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="NaT")
        late = naive.dt.tz_localize(tz, ambiguous=np.zeros(len(naive), dtype=bool), nonexistent="NaT")
        start[naive_mask] = early.dt.tz_convert("UTC")
        latest[naive_mask] = late.dt.tz_convert("UTC")
        gap[np.flatnonzero(naive_mask)] = (naive.notna() & early.isna()).to_numpy(dtype=bool)
        ambiguous[np.flatnonzero(naive_mask)] = (early.notna() & (early != late)).to_numpy(dtype=bool)

    unparsed = (text.notna().to_numpy(dtype=bool) | unshaped) & start.isna().to_numpy(dtype=bool) & ~gap
    problems.add(unparsed, name, raw, "not a date/time (expected e.g. 2025-03-14 21:30 or ISO 8601)")
    problems.add(gap, name, raw, f"this local time does not exist in {tz} (daylight-saving gap)")
    # A whole day: its latest instant is the start of the next local day.
    if date_only.any():
        day_end = (start[date_only].dt.tz_convert(tz) + pd.DateOffset(days=1)).dt.tz_convert("UTC")
        latest[date_only] = day_end
    return Moments(start=start, latest=latest, date_only=date_only, ambiguous=ambiguous & ~date_only)


def parse_date(raw: pd.Series, name: str, problems: Problems) -> pd.Series:
    text = parse_text(raw).str.slice(0, 10)
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    problems.add(text.notna().to_numpy(dtype=bool) & parsed.isna().to_numpy(), name, raw, "not a date (expected YYYY-MM-DD)")
    return parsed.dt.strftime("%Y-%m-%d").astype("string")
