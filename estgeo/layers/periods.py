"""Reporting periods: ISO week, lägesbild period, calendar month and the whole range.

Every period is cut in local time (Europe/Stockholm by default) and is identified by the
local calendar day it starts on, as an integer day number (days since 1970-01-01). A
period runs from its start day up to, not including, the start of the next one.

* ``week``      ISO week, Monday to Sunday.
* ``lagesbild`` the operative group's meeting cycle: `period_days` long, counted from the
  `anchor` day in config (a Monday), so every installation cuts the same periods. With a
  whole number of weeks and a Monday anchor, each lägesbild period is exactly two (or n)
  ISO weeks — `estgeo.layers.privacy` relies on that nesting when it exists.
* ``month``     calendar month.
* ``all``       one period covering the whole range of the data.

An incident belongs to the period that holds the middle of its occurrence window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PERIOD_KINDS = ("week", "lagesbild", "month", "all")

_THURSDAY_OFFSET = 3  # 1970-01-01 was a Thursday; Monday is weekday 0


@dataclass(frozen=True)
class PeriodScheme:
    """How periods are cut: the time zone and the lägesbild cycle."""

    time_zone: str = "Europe/Stockholm"
    lagesbild_days: int = 14
    lagesbild_anchor: int = int(np.datetime64("2020-01-06", "D").astype(np.int64))

    @classmethod
    def from_settings(cls, settings) -> PeriodScheme:
        lagesbild = settings.project.get("lagesbild", {})
        anchor = np.datetime64(str(lagesbild.get("anchor", "2020-01-06")), "D").astype(np.int64)
        return cls(settings.time_zone, int(lagesbild.get("period_days", 14)), int(anchor))

    @property
    def lagesbild_nests_weeks(self) -> bool:
        """True when every lägesbild period is a whole number of ISO weeks."""
        return self.lagesbild_days % 7 == 0 and weekday(np.int64(self.lagesbild_anchor)) == 0

    # Day numbers ------------------------------------------------------------------
    def local_day(self, moments) -> np.ndarray:
        """Local calendar day number (int64) of tz-aware moments."""
        index = pd.DatetimeIndex(moments)
        if index.tz is None:
            index = index.tz_localize("UTC")
        wall = index.tz_convert(self.time_zone).tz_localize(None)
        return wall.to_numpy().astype("datetime64[D]").astype(np.int64)

    # Periods ----------------------------------------------------------------------
    def start(self, kind: str, day, first_day: int = 0) -> np.ndarray:
        """Start day of the period of `kind` that holds each day."""
        day = np.asarray(day, dtype=np.int64)
        if kind == "week":
            return day - weekday(day)
        if kind == "lagesbild":
            return self.lagesbild_anchor + np.floor_divide(day - self.lagesbild_anchor, self.lagesbild_days) * self.lagesbild_days
        if kind == "month":
            return day.astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        if kind == "all":
            return np.full(day.shape, first_day, dtype=np.int64)
        raise ValueError(f"unknown period kind {kind!r}; expected one of {', '.join(PERIOD_KINDS)}")

    def next_start(self, kind: str, start, all_end: int = 0) -> np.ndarray:
        """Start of the following period (= the exclusive end of this one)."""
        start = np.asarray(start, dtype=np.int64)
        if kind == "week":
            return start + 7
        if kind == "lagesbild":
            return start + self.lagesbild_days
        if kind == "month":
            month = start.astype("datetime64[D]").astype("datetime64[M]") + np.timedelta64(1, "M")
            return month.astype("datetime64[D]").astype(np.int64)
        if kind == "all":
            return np.full(start.shape, all_end, dtype=np.int64)
        raise ValueError(f"unknown period kind {kind!r}")

    def previous_start(self, kind: str, start) -> np.ndarray:
        """Start of the period before (same kind); undefined for ``all``."""
        start = np.asarray(start, dtype=np.int64)
        if kind == "week":
            return start - 7
        if kind == "lagesbild":
            return start - self.lagesbild_days
        if kind == "month":
            month = start.astype("datetime64[D]").astype("datetime64[M]") - np.timedelta64(1, "M")
            return month.astype("datetime64[D]").astype(np.int64)
        raise ValueError(f"no previous period for kind {kind!r}")

    def sequence(self, kind: str, first_day: int, last_day: int) -> np.ndarray:
        """Start days of every period of `kind` from the one holding `first_day` to the one holding `last_day`."""
        if kind == "all":
            return np.array([first_day], dtype=np.int64)
        starts = [int(self.start(kind, first_day))]
        end = int(self.start(kind, last_day))
        while starts[-1] < end:
            starts.append(int(self.next_start(kind, starts[-1])))
        return np.array(starts, dtype=np.int64)

    def label(self, kind: str, start) -> np.ndarray:
        """Human-readable period names: 2024-W12, 2024-03, LB 2024-03-18, 2023-01-02/2024-12-31."""
        start = np.asarray(start, dtype=np.int64)
        dates = pd.to_datetime(start.astype("datetime64[D]"))
        if kind == "week":
            iso = dates.isocalendar()
            return (iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)).to_numpy()
        if kind == "month":
            return dates.strftime("%Y-%m").to_numpy()
        if kind == "lagesbild":
            return ("LB " + dates.strftime("%Y-%m-%d")).to_numpy()
        return dates.strftime("%Y-%m-%d").to_numpy()


def weekday(day) -> np.ndarray:
    """ISO weekday, Monday = 0, of a day number."""
    return np.mod(np.asarray(day, dtype=np.int64) + _THURSDAY_OFFSET, 7)


def day_to_datetime(day) -> np.ndarray:
    """Day numbers as naive datetime64[ms] at local midnight (a date QGIS reads as such)."""
    return np.asarray(day, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ms]")
