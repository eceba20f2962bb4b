"""The report's time windows: the period asked for, the one before it and the same one a year earlier.

A report covers whole *published* periods (`estgeo.layers.periods`): ISO weeks, lägesbild
periods or calendar months. That is what lets the public report be built from the
published layers alone — every figure is a sum of published rows, never a recount of
incidents. A range given as ``YYYY-MM-DD..YYYY-MM-DD`` (both days included) is matched to
the coarsest kind whose periods tile it exactly: ``2026-01-01..2026-12-31`` is twelve
months, ``2026-10-05..2026-10-18`` one lägesbild period, ``2026-10-05..2026-10-11`` one week.

* **previous**  the same number of periods of the same kind right before.
* **last year** the same periods one year earlier: 12 months, 52 weeks, or as many
  lägesbild periods as make up about a year (26 of 14 days = 364 days, so the weekdays match).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from estgeo.errors import EstgeoError
from estgeo.layers.periods import PeriodScheme

#: Kinds a report period may consist of, coarsest first (the first that fits wins).
REPORT_KINDS = ("month", "lagesbild", "week")
_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/)\s*(\d{4}-\d{2}-\d{2})\s*$")


class PeriodError(EstgeoError, ValueError):
    """The period asked for cannot be reported; the message says why and what would work."""


def to_day(value: date) -> int:
    return int(np.datetime64(value, "D").astype(np.int64))


def to_date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(day))


@dataclass(frozen=True)
class Window:
    """Whole periods of one kind, from `start` up to (not including) `end`."""

    kind: str
    starts: tuple[date, ...]
    end: date

    @property
    def start(self) -> date:
        return self.starts[0]

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "last_day": self.last_day.isoformat(), "periods": [s.isoformat() for s in self.starts]}


@dataclass(frozen=True)
class ReportWindows:
    current: Window
    previous: Window
    last_year: Window

    def items(self) -> list[tuple[str, Window]]:
        return [("current", self.current), ("previous", self.previous), ("last_year", self.last_year)]


def window(scheme: PeriodScheme, kind: str, first_start: int, n: int) -> Window:
    starts = [int(first_start)]
    for _ in range(n - 1):
        starts.append(int(scheme.next_start(kind, starts[-1])))
    end = int(scheme.next_start(kind, starts[-1]))
    return Window(kind, tuple(to_date(s) for s in starts), to_date(end))


def shift(scheme: PeriodScheme, win: Window, periods_back: int) -> Window:
    """The window of the same length `periods_back` periods earlier."""
    start = to_day(win.start)
    for _ in range(periods_back):
        start = int(scheme.previous_start(win.kind, start))
    return window(scheme, win.kind, start, len(win.starts))


def periods_per_year(scheme: PeriodScheme, kind: str) -> int:
    if kind == "month":
        return 12
    if kind == "week":
        return 52
    return max(1, round(364 / scheme.lagesbild_days))


def resolve(spec: str | None, scheme: PeriodScheme, latest_complete: date | None) -> ReportWindows:
    """Windows for `spec`: ``latest`` (the latest complete lägesbild period) or a day range.

    `latest_complete` is the start of the latest complete lägesbild period in the
    published data (None when there is none yet).
    """
    spec = (spec or "latest").strip()
    if spec == "latest":
        if latest_complete is None:
            raise PeriodError("there is no complete lägesbild period in the published layers yet (run `estgeo build`)")
        current = window(scheme, "lagesbild", to_day(latest_complete), 1)
    else:
        current = parse_range(spec, scheme)
    return ReportWindows(current, shift(scheme, current, len(current.starts)),
                         shift(scheme, current, periods_per_year(scheme, current.kind)))


def parse_range(spec: str, scheme: PeriodScheme) -> Window:
    match = _RANGE.match(spec)
    if not match:
        raise PeriodError(f"period {spec!r}: expected 'latest' or 'YYYY-MM-DD..YYYY-MM-DD' (first and last day)")
    try:
        first, last = (date.fromisoformat(g) for g in match.groups())
    except ValueError as exc:
        raise PeriodError(f"period {spec!r}: {exc}") from exc
    if last < first:
        raise PeriodError(f"period {spec!r}: the last day is before the first")
    start, end = to_day(first), to_day(last) + 1
    for kind in REPORT_KINDS:
        if int(scheme.start(kind, start)) != start:
            continue
        starts = [start]
        while int(scheme.next_start(kind, starts[-1])) < end:
            starts.append(int(scheme.next_start(kind, starts[-1])))
        if int(scheme.next_start(kind, starts[-1])) == end:
            return window(scheme, kind, start, len(starts))
    week_start = int(scheme.start("week", start))
    week_end = int(scheme.start("week", end - 1)) + 7
    raise PeriodError(
        f"period {spec!r} is not made of whole published periods (ISO weeks from Monday, lägesbild periods of "
        f"{scheme.lagesbild_days} days from {to_date(scheme.lagesbild_anchor)}, or calendar months); the whole weeks "
        f"covering it are {to_date(week_start)}..{to_date(week_end - 1)}")
