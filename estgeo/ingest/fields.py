"""Parsers for the field types of the canonical model (config/model.yml), on whole columns.

Each parser takes a column of raw strings (empty cells as <NA>) and returns the parsed
column plus the problems it found; nothing here loops over rows in Python except over
the few *distinct* values of a code column.
"""

from __future__ import annotations

import difflib
import re
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


def _string_chunks(text: pd.Series) -> list[pa.Array] | None:
    """The Arrow chunks under an Arrow-backed string column (None for any other)."""
    array = getattr(text.array, "_pa_array", None)
    if array is None or not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array.chunks


def _edges_and_bytes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first byte, last byte, non-empty) of every value, and the chunk's bytes, read
    from the Arrow buffers: no string is made."""
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]
    data = chunk.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    filled = np.greater(offsets[1:], offsets[:-1])
    return data[offsets[:-1][filled]], data[offsets[1:][filled] - 1], data[offsets[0]:offsets[-1]]


#: ASCII whitespace as str.strip() removes it; a non-ASCII byte at either end of a value
#: may be Unicode whitespace (no-break space), and is left to strip() to judge.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = True
_ASCII_SPACE[0x80:] = True


def stripped(raw: pd.Series) -> pd.Series:
    """`raw` as text without surrounding whitespace. Most exports have none: that is
    checked on the first and last byte of each value, much cheaper than stripping a
    million values that stay as they are."""
    text = raw.astype("string")
    chunks = _string_chunks(text)
    if chunks is not None and not any(
            _ASCII_SPACE[first].any() or _ASCII_SPACE[last].any()
            for first, last, _ in map(_edges_and_bytes, chunks)):
        return text
    return text.str.strip()


def contains_any(text: pd.Series, needles: str) -> bool:
    """Whether any value holds one of the (ASCII or UTF-8) characters of `needles`; a
    byte scan of the Arrow buffer where it has one."""
    chunks = _string_chunks(text)
    if chunks is None:
        return bool(text.str.contains("|".join(map(re.escape, needles)), regex=True).any())
    for chunk in chunks:
        data = _edges_and_bytes(chunk)[2]
        for needle in needles:
            encoded = needle.encode("utf-8")
            hits = np.flatnonzero(data == encoded[0])
            if len(encoded) > 1:
                hits = hits[hits + len(encoded) <= len(data)]
                hits = hits[np.all([data[hits + i] == b for i, b in enumerate(encoded)], axis=0)] if hits.size else hits
            if hits.size:
                return True
    return False


def blank(raw: pd.Series) -> np.ndarray:
    return (raw.isna() | (stripped(raw) == "")).to_numpy(dtype=bool)


def parse_text(raw: pd.Series) -> pd.Series:
    text = stripped(raw)
    return text.mask(text == "")


#: Longest text accepted in one field: a description is a few sentences, and Excel,
#: where quarantine files are read, holds 32,767 characters in a cell.
MAX_TEXT_LENGTH = 10_000


#: An identifier that a spreadsheet would run as a formula ('=' or '@' first, or '+'/'-'
#: followed by a function call or a DDE link, "-cmd|…"). Ids are keys that travel into
#: every export and URL; unlike free text they carry no meaning to keep, so such an id
#: is quarantined rather than stored.
FORMULA = r"^(?:[=@]|[+\-][A-Za-z_.]+[(|!])"


def check_identifier(text: pd.Series, raw: pd.Series, name: str, problems: Problems) -> None:
    """Quarantine an id that starts like a spreadsheet formula."""
    formula = text.str.contains(FORMULA, regex=True, na=False).to_numpy(dtype=bool)
    problems.add(formula, name, raw, "starts like a spreadsheet formula (=, @, +cmd|…); an id must not")


def check_text(text: pd.Series, raw: pd.Series, name: str, problems: Problems, max_length: int = MAX_TEXT_LENGTH) -> None:
    """Quarantine absurdly long text.

    Text that looks like a spreadsheet formula ("=5 personer vid porten") is ordinary
    content and is kept as written: it is neutralised where it leaves estgeo as a
    spreadsheet (`estgeo.ingest.pipeline.neutralise_formulas`), never evaluated, never dropped.
    """
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
    text = stripped(raw)
    # Most number columns have neither thousands spaces nor decimal commas: each rewrite
    # runs only where one of them occurs (finding out is cheaper than rewriting).
    for written, meant in ((" ", ""), ("\u00a0", ""), (",", ".")):
        if contains_any(text, written):
            text = text.str.replace(written, meant, regex=False)
    values = _to_float(text)
    empty = (text.isna() | (text == "")).to_numpy(dtype=bool)  # blank(raw), from the stripped text
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
    # A yes/no column holds a handful of distinct spellings: each is judged once.
    position, distinct = pd.factorize(raw.astype("string"), use_na_sentinel=True)
    folded = [str(value).strip().lower() for value in distinct]
    meaning = np.array([1 if v in _TRUE else 0 if v in _FALSE else -1 for v in folded] + [-1], dtype=np.int8)
    empty = np.array([v == "" for v in folded] + [True], dtype=bool)
    which = np.where(position < 0, len(distinct), position)
    value = meaning[which]
    out = pd.Series(pd.arrays.BooleanArray(value == 1, value < 0), index=raw.index)
    problems.add(~empty[which] & (value < 0), name, raw, "not a yes/no value (expected ja/nej, true/false, 1/0)")
    return out


def resolve_codes(values: pd.Series, codes: CodeList) -> tuple[pd.Series, pd.Series]:
    """Map labels, codes and aliases to codes; for unknown ones also the nearest code.

    Works on distinct values only — a million rows of a category column hold a few
    dozen distinct spellings.
    """
    position, distinct = pd.factorize(values, use_na_sentinel=True)
    known: list[str | None] = []
    suggest: list[str | None] = []
    lookup = codes.lookup
    for value in distinct:
        folded = normalise_label(value)
        code = lookup.get(folded) or codes.by_number(folded)
        known.append(code)
        suggest.append(None if code else nearest_code(folded, codes))
    def spread(per_distinct: list[str | None]) -> pd.Series:
        # One Arrow take over the row positions instead of a dict look-up per row.
        table = pa.array([*per_distinct, None], type=pa.string())
        return pd.Series(pd.arrays.ArrowStringArray(table.take(pa.array(np.where(position < 0, len(distinct), position)))),
                         index=values.index)

    return spread(known), spread(suggest)


def nearest_code(folded: str, codes: CodeList) -> str:
    """The code an unknown label most likely means; never empty, so that every
    quarantined label comes with something to check ("did you mean …?").

    First a known spelling close to the whole label (difflib, ratio ≥ 0.5), then one that
    shares a word with it ("skadegörelse på bil" → skadegörelse), then the closest of all.
    """
    lookup = codes.lookup
    folded = folded[:100]  # a label is short; comparing a huge cell would only cost time
    near = difflib.get_close_matches(folded, list(lookup), n=1, cutoff=0.5)
    if near:
        return lookup[near[0]]
    words = [w for w in folded.split("_") if len(w) >= 4]
    for spelling, code in lookup.items():
        if any(w in spelling.split("_") for w in words):
            return code
    near = difflib.get_close_matches(folded, list(lookup), n=1, cutoff=0.0)
    return lookup[near[0]] if near else next(iter(codes.entries))


def parse_code(raw: pd.Series, name: str, problems: Problems, codes: CodeList) -> pd.Series:
    text = parse_text(raw)
    resolved, suggestion = resolve_codes(text, codes)
    unknown = (text.notna() & resolved.isna()).to_numpy(dtype=bool)
    if unknown.any():
        problems.add(unknown, name, raw, f"unknown {name} (valid codes: {', '.join(codes.entries)})",
                     "did you mean '" + suggestion + "'?")
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


#: The shapes nearly every export writes: a date, optionally a time of day to the minute
#: or second, no offset (YYYY-MM-DD[( |T)HH:MM[:SS]], ASCII digits). Those are parsed by
#: reading the digits at fixed byte positions; everything else takes the general ISO
#: 8601 path.
_PLAIN_LENGTHS = (10, 16, 19)
_DIGITS = {10: [0, 1, 2, 3, 5, 6, 8, 9], 16: [11, 12, 14, 15], 19: [17, 18]}
_SEPARATORS = {10: {4: b"-", 7: b"-"}, 16: {10: b" T", 13: b":"}, 19: {16: b":"}}


class _ByteColumns:
    """Byte k of every string of an Arrow string array, as one uint8 column per k,
    read straight from the Arrow buffers: no Python str per row. `lengths` are byte
    lengths, -1 for nulls; bytes past a string's end are those of the next one."""

    def __init__(self, values: pa.Array | pa.ChunkedArray):
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        values = values.cast(pa.string())
        n = len(values)
        self.lengths = np.full(n, -1, dtype=np.int64)
        self._starts = np.zeros(n, dtype=np.int64)
        self._data = np.zeros(32, dtype=np.uint8)
        if n == 0 or values.null_count == n:
            return
        _, offsets_buf, data_buf = values.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int32)[values.offset:values.offset + n + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, dtype=np.uint8)
        self.lengths = np.diff(offsets).astype(np.int64)
        self.lengths[~values.is_valid().to_numpy(zero_copy_only=False)] = -1
        self._starts = offsets[:-1].astype(np.int64)
        self._data = np.concatenate([data, np.zeros(32, dtype=np.uint8)])  # reading past the last string is safe

    def __getitem__(self, k: int) -> np.ndarray:
        return self._data[self._starts + k]


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return _MONTH_DAYS[month] + (leap & (month == 2))


def _days_since_epoch(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days from 1970-01-01 of proleptic Gregorian dates, in integer arithmetic (H. Hinnant's
    days_from_civil): numpy's datetime64[M] → [D] conversions cost several times more."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _parse_plain(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Naive local datetimes (datetime64[s], NaT where the text is not plain or not a
    real date and time) and which of them are date-only.

    Only calendar-valid values with a year in 1900–2100 count as plain; an impossible
    date ("2025-02-30") or a typo'd year is left to the general path, which words the
    problem for the quarantine.
    """
    n = len(text)
    parsed = np.full(n, np.datetime64("NaT", "s"), dtype="datetime64[s]")
    chars = _ByteColumns(pa.array(text.array, type=pa.string()))
    lengths = chars.lengths
    shaped = np.isin(lengths, _PLAIN_LENGTHS)
    digit: dict[int, np.ndarray] = {}
    for length in _PLAIN_LENGTHS:
        long_enough = lengths >= length
        if not (shaped & long_enough).any():
            continue
        checked = np.ones(n, dtype=bool)
        for position in _DIGITS[length]:
            digit[position] = chars[position] - np.uint8(ord("0"))  # wraps below '0': > 9 too
            checked &= digit[position] <= 9
        for position, allowed in _SEPARATORS[length].items():
            byte = chars[position]
            checked &= (byte == allowed[0]) | (byte == allowed[-1])
        shaped &= ~long_enough | checked
    if not shaped.any():
        return parsed, np.zeros(n, dtype=bool)

    def number(*positions: int) -> np.ndarray:
        value = np.zeros(n, dtype=np.int64)
        for position in positions:
            value = value * 10 + digit.get(position, np.zeros(n, dtype=np.uint8))
        return value

    has_time, has_seconds = lengths >= 16, lengths == 19
    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    hour = np.where(has_time, number(11, 12), 0)
    minute = np.where(has_time, number(14, 15), 0)
    second = np.where(has_seconds, number(17, 18), 0)
    ok = (shaped & (year >= 1900) & (year <= 2100) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
          & (hour <= 23) & (minute <= 59) & (second <= 59))
    ok &= day <= _days_in_month(year, np.clip(month, 1, 12))  # no 30 February
    moments = _days_since_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    parsed[ok] = moments[ok].astype("datetime64[s]")
    return parsed, ok & (lengths == 10)


#: A date as Excel stores it, days since 1899-12-30 (45962 = 2025-11-02; .5 = noon), as a
#: sheet or a CSV saved from one holds it when the cell lost its date format.
_EXCEL_SERIAL = r"(?:[2-7]\d{4})(?:[.,]\d+)?"


def excel_serial(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Excel day numbers (20000–79999, 1954–2118) as naive local moments, and whether each is a whole day."""
    days = text.str.replace(",", ".", regex=False).astype("float64").to_numpy()
    seconds = np.round(days * 86400.0).astype("int64")
    moment = np.datetime64("1899-12-30T00:00:00", "s") + seconds.astype("timedelta64[s]")
    return moment.astype("datetime64[ns]"), seconds % 86400 == 0


def parse_datetime(raw: pd.Series, name: str, problems: Problems, tz: str) -> Moments:
    """Moments with or without offset; local `tz` time where the input has none.

    A local time in the spring daylight-saving gap never happened: quarantined. One in
    the autumn overlap happened twice: the earlier instant is the start and the later
    one is returned as `latest`, so the incident's window covers both.
    """
    full = parse_text(raw)
    n = len(raw)
    naive = np.full(n, np.datetime64("NaT", "s"), dtype="datetime64[ns]")
    aware = np.full(n, np.datetime64("NaT", "s"), dtype="datetime64[ns]")
    plain_moment, date_only = _parse_plain(full)
    plain = ~np.isnat(plain_moment)
    naive[plain] = plain_moment[plain]
    # Rows not in a plain shape (an offset, a fraction of a second, a 14.30 clock, a
    # typo) take the general path; in a typical export there are none, so it costs nothing.
    odd = full.notna().to_numpy(dtype=bool) & ~plain
    unparsed = np.zeros(n, dtype=bool)
    serial = odd & full.str.fullmatch(_EXCEL_SERIAL, na=False).to_numpy(dtype=bool)
    if serial.any():
        moment, whole_day = excel_serial(full[serial])
        naive[serial], date_only[serial] = moment, whole_day
        odd &= ~serial
    if odd.any():
        where = np.flatnonzero(odd)
        text = _normalise_time_text(full[odd])
        dotted, dotted_date_only = _parse_plain(text)
        naive[where] = dotted
        date_only[where] = dotted_date_only
        still = np.isnat(dotted)
        where, text = where[still], text[still]
        # Years far outside what an EST report can mean are typos ("0025", "20255") and do
        # not fit pandas' timestamps either: refused before parsing.
        year = pd.to_numeric(text.str.extract(r"^\s*(\d{4,})", expand=False), errors="coerce")
        implausible = ((year < 1900) | (year > 2100)).fillna(False).to_numpy(dtype=bool)
        problems.add(_scatter(implausible, where, n), name, raw, "not a plausible date/time (the year must be 1900–2100)")
        # Every accepted form starts with the year; anything else ("-0", "igår") is not a
        # date/time, and pandas would read some of it as the year 0.
        unshaped = ~text.str.contains(r"^\d{4}", regex=True, na=False).to_numpy(dtype=bool)
        text = text.mask(implausible | unshaped)
        has_offset = (text.str.contains(_OFFSET, regex=True, na=False)
                      & text.str.contains(_TIME_OF_DAY, regex=True, na=False)).to_numpy(dtype=bool)
        date_only[where] = text.str.contains(_DATE_ONLY, regex=True, na=False).to_numpy(dtype=bool)
        if has_offset.any():
            parsed = pd.to_datetime(text[has_offset], format="ISO8601", utc=True, errors="coerce")
            aware[where[has_offset]] = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        local = ~has_offset & text.notna().to_numpy(dtype=bool)
        if local.any():
            parsed = pd.to_datetime(text[local], format="ISO8601", errors="coerce")
            if getattr(parsed.dt, "tz", None) is not None:  # pragma: no cover - guarded by regex
                parsed = parsed.dt.tz_localize(None)
            naive[where[local]] = parsed.to_numpy(dtype="datetime64[ns]")
        unparsed[where] = (text.notna().to_numpy(dtype=bool) | unshaped)

    start, latest = aware.copy(), aware.copy()
    gap = np.zeros(n, dtype=bool)
    ambiguous = np.zeros(n, dtype=bool)
    local = ~np.isnat(naive)
    if local.any():
        moments = pd.Series(naive[local])
        # One pass tells most rows; only the few that fall in a daylight-saving change
        # (NaT here) are localized both ways, to tell the gap from the overlap.
        early = moments.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        late = early.copy()
        changing = early.isna().to_numpy(dtype=bool)
        if changing.any():
            few = moments[changing]
            early[changing] = few.dt.tz_localize(tz, ambiguous=np.ones(len(few), dtype=bool), nonexistent="NaT")
            late[changing] = few.dt.tz_localize(tz, ambiguous=np.zeros(len(few), dtype=bool), nonexistent="NaT")
        start[local] = early.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        latest[local] = late.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        gap[local] = early.isna().to_numpy(dtype=bool)
        ambiguous[local] = (early.notna() & (early != late)).to_numpy(dtype=bool)
    start_utc = pd.Series(start, index=raw.index).dt.tz_localize("UTC")
    latest_utc = pd.Series(latest, index=raw.index).dt.tz_localize("UTC")

    problems.add(unparsed & np.isnat(start) & ~gap, name, raw, "not a date/time (expected e.g. 2025-03-14 21:30 or ISO 8601)")
    problems.add(gap, name, raw, f"this local time does not exist in {tz} (daylight-saving gap)")
    # A whole day: its latest instant is the start of the next local day.
    if date_only.any():
        day_end = (start_utc[date_only].dt.tz_convert(tz) + pd.DateOffset(days=1)).dt.tz_convert("UTC")
        latest_utc[date_only] = day_end
    return Moments(start=start_utc, latest=latest_utc, date_only=date_only, ambiguous=ambiguous & ~date_only)


def _scatter(values: np.ndarray, where: np.ndarray, n: int) -> np.ndarray:
    """A mask over a subset of rows, spread back over all `n` rows."""
    out = np.zeros(n, dtype=bool)
    out[where] = values
    return out


def parse_date(raw: pd.Series, name: str, problems: Problems) -> pd.Series:
    full = parse_text(raw)
    text = full.str.slice(0, 10)
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    serial = (parsed.isna() & full.str.fullmatch(_EXCEL_SERIAL, na=False)).to_numpy(dtype=bool)
    if serial.any():
        parsed[serial] = excel_serial(full[serial])[0]
    problems.add(text.notna().to_numpy(dtype=bool) & parsed.isna().to_numpy(), name, raw, "not a date (expected YYYY-MM-DD)")
    return parsed.dt.strftime("%Y-%m-%d").astype("string")
