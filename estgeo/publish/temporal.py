"""Time values of published features and of `datetime=` requests, as UTC intervals.

A published time may be a calendar date ("2024-05-01": a whole Swedish day, since the
municipality's periods and walks are dated in local time) or an instant. Both become a
closed interval [start, end] in UTC so that one intersection test answers every
`datetime=` form (instant, date, bounded or half-open interval) the same way.
Values without a UTC offset are local time in the configured time zone (docs/architecture.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

#: An ISO calendar date without a time part.
DATE_ONLY = r"\d{4}-\d{2}-\d{2}"
#: An ISO date-time that carries its own offset.
WITH_OFFSET = r"(?:Z|z|[+-]\d{2}:?\d{2})$"
#: Shortest step below the next local midnight: a day is [00:00, 24:00 - 1 µs].
_TICK = pd.Timedelta(microseconds=1)

#: Open ends of a `datetime=` interval.
OPEN = ("", "..")


@dataclass(frozen=True)
class TimeSpans:
    """Start and end (both inclusive, UTC) of each feature's time; NaT when unknown."""

    start: pd.Series
    end: pd.Series


def parse_time_column(values: pd.Series, time_zone: str, *, dates: bool = False) -> TimeSpans:
    """Turn a column of ISO strings or datetimes into UTC spans, one per row.

    `dates` says a datetime column holds calendar dates (an OGR Date field); in a
    string column each value says so itself. Unparseable values become NaT and so never
    match a `datetime=` request.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        start = values.dt.tz_convert("UTC")
        return TimeSpans(start, start)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        # OGR Date/DateTime fields without an offset are local time.
        local = values.dt.tz_localize(time_zone, ambiguous="NaT", nonexistent="shift_forward")
        start = local.dt.tz_convert("UTC")
        return TimeSpans(start, _next_midnight(local) - _TICK if dates else start)
    text = pd.Series(values.where(values.notna(), None), index=values.index, dtype="str")
    is_day = text.str.fullmatch(DATE_ONLY).fillna(False).astype(bool)
    aware = text.str.contains(WITH_OFFSET, regex=True).fillna(False).astype(bool)
    start = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    if aware.any():
        start[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
    naive = ~aware & text.notna()
    local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
    local = local.dt.tz_localize(time_zone, ambiguous="NaT", nonexistent="shift_forward")
    start[naive] = local.dt.tz_convert("UTC")
    end = start.copy()
    if is_day.any():
        # Date-only strings have no offset, so they are among the local values.
        end[is_day] = _next_midnight(local[is_day[naive]]) - _TICK
    return TimeSpans(start, end)


def _next_midnight(local: pd.Series) -> pd.Series:
    """Next local midnight after each local timestamp, in UTC (handles DST days)."""
    naive = local.dt.tz_localize(None).dt.normalize() + pd.Timedelta(days=1)
    tz = local.dt.tz
    return naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert("UTC")


def parse_bound(text: str, time_zone: str, *, upper: bool) -> pd.Timestamp | None:
    """One end of a `datetime=` value as a UTC timestamp; None for an open end.

    A date alone means the whole local day: its start as a lower bound, its last
    instant as an upper bound. A date-time without offset is UTC, as pygeoapi assumes
    when it checks the request against the collection's temporal extent.
    """
    text = text.strip()
    if text in OPEN:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError as exc:
        raise ValueError(f"'{text}' is not an RFC 3339 date or date-time") from exc
    if pd.Series([text]).str.fullmatch(DATE_ONLY).iloc[0]:
        day = pd.Series([stamp])
        day = day.dt.tz_localize(time_zone, ambiguous="NaT", nonexistent="shift_forward")
        if upper:
            return _next_midnight(day).iloc[0] - _TICK
        return day.dt.tz_convert("UTC").iloc[0]
    if stamp.tzinfo is None:
        return stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC")


def parse_datetime_param(value: str, time_zone: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """A `datetime=` value (instant, date or interval with `..` ends) as UTC bounds."""
    if "/" in value:
        begin, _, end = value.partition("/")
        return parse_bound(begin, time_zone, upper=False), parse_bound(end, time_zone, upper=True)
    return parse_bound(value, time_zone, upper=False), parse_bound(value, time_zone, upper=True)


def overlaps(spans: TimeSpans, lower: pd.Timestamp | None, upper: pd.Timestamp | None) -> pd.Series:
    """Rows whose time span meets [lower, upper]; rows without a time never match."""
    match = spans.start.notna()
    if upper is not None:
        match &= spans.start <= upper
    if lower is not None:
        match &= spans.end >= lower
    return match.fillna(False).astype(bool)
