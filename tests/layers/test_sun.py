"""Solar altitude and light conditions (estgeo.layers.sun)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estgeo.layers.sun import DARKNESS, DAYLIGHT, TWILIGHT, UNKNOWN, light_class, light_condition, sun_altitude

#: Pure computation: runs in the embedded pass only (tests/conftest.py).
pytestmark = pytest.mark.store_independent

DATA = Path(__file__).resolve().parents[1] / "data"
SUNNE = (59.8366, 13.1433)


def unix(text: str | list[str]) -> np.ndarray:
    moments = pd.to_datetime(pd.Series(np.atleast_1d(text)), utc=True)
    return (moments - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy()


def test_altitude_matches_sunne_reference_table():
    table = pd.read_csv(DATA / "sunne_sun_times.csv", comment="#")
    assert len(table) == 16 and table["date"].nunique() == 4
    altitude = sun_altitude(unix(table["local_time"].tolist()), *SUNNE)
    error = np.abs(altitude - table["altitude_deg"].to_numpy())
    assert error.max() < 0.5, table.assign(altitude=altitude)
    # The algorithm is much better than the issue asks; keep it that way.
    assert error.max() < 0.05


def test_reference_events_fall_in_the_right_light_class():
    table = pd.read_csv(DATA / "sunne_sun_times.csv", comment="#")
    t = unix(table["local_time"].tolist())
    minute = 60.0
    sunrise = table["event"].eq("sunrise").to_numpy()
    # A minute after sunrise the sun's centre is still below 0°: twilight. Half an hour
    # either side of civil dusk (-6°) is twilight before and darkness after.
    assert (light_class(sun_altitude(t[sunrise] + minute, *SUNNE)) == TWILIGHT).all()
    dusk = table["event"].eq("civil_dusk").to_numpy()
    assert (light_class(sun_altitude(t[dusk] + 30 * minute, *SUNNE)) == DARKNESS).all()
    assert (light_class(sun_altitude(t[dusk] - 30 * minute, *SUNNE)) == TWILIGHT).all()


def test_light_class_thresholds():
    assert list(light_class([10.0, 0.0, -0.1, -6.0, -6.01, -40.0])) == [DAYLIGHT, DAYLIGHT, TWILIGHT, TWILIGHT, DARKNESS, DARKNESS]


def test_light_condition_of_windows():
    starts = unix([
        "2024-06-21T12:00:00+02:00",  # midsummer noon, exact
        "2024-12-21T00:30:00+01:00",  # midwinter night
        "2024-12-21T15:30:00+01:00",  # between sunset and civil dusk
        "2024-12-21T14:30:00+01:00",  # 2 h window across sunset and dusk
        "2024-06-21T08:00:00+02:00",  # 3 h daylight window: longer than the limit
        "2024-03-20T00:00:00+01:00",  # a date-only report: the whole day
    ])
    lengths = np.array([0, 600, 0, 7200, 3 * 3600, 86400 - 1], dtype=float)
    got = light_condition(starts, starts + lengths, *SUNNE, max_window_s=7200)
    assert list(got) == [DAYLIGHT, DARKNESS, TWILIGHT, UNKNOWN, UNKNOWN, UNKNOWN]


def test_light_condition_per_point_position():
    # Noon at midwinter: daylight in Malmö, civil twilight at best in Kiruna (polar night).
    t = unix(["2024-12-21T12:00:00+01:00"] * 2)
    got = light_condition(t, t, np.array([55.6, 67.85]), np.array([13.0, 20.2]))
    assert got[0] == DAYLIGHT and got[1] == TWILIGHT


def test_against_nrel_spa_when_pvlib_is_installed():
    solarposition = pytest.importorskip("pvlib.solarposition")
    rng = np.random.default_rng(3)
    seconds = rng.integers(1_500_000_000, 2_000_000_000, 500)
    times = pd.DatetimeIndex(pd.to_datetime(seconds, unit="s", utc=True))
    for lat, lon in [SUNNE, (55.6, 13.0), (67.85, 20.2)]:
        reference = solarposition.spa_python(times, lat, lon)["elevation"].to_numpy()
        assert np.abs(sun_altitude(seconds.astype(float), lat, lon) - reference).max() < 0.05
