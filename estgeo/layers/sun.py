"""Where the sun was: solar altitude and the light condition of an incident's time window.

`sun_altitude` is NOAA's solar-position algorithm (the one behind the NOAA Solar
Calculator spreadsheet; Meeus, *Astronomical Algorithms*), written on whole numpy arrays.
It gives the true (refraction-free) altitude of the sun's centre, good to about 0.01° for
1900–2100, which is far finer than the light classes need. tests/layers/test_sun.py pins it
against sunrise, sunset and civil twilight in Sunne at four dates.

Light conditions (the issue's definition, on the true altitude *h* of the sun's centre):

* ``daylight``  h ≥ 0°
* ``twilight``  −6° ≤ h < 0° (civil twilight)
* ``darkness``  h < −6°
* ``unknown``   the incident's time window is longer than the configured limit, or the
  sun's class differs between the window's start, middle and end.
"""

from __future__ import annotations

import numpy as np

#: Light-condition codes, in the order of their integer values.
LIGHT_CONDITIONS = ("daylight", "twilight", "darkness", "unknown")
DAYLIGHT, TWILIGHT, DARKNESS, UNKNOWN = range(4)

_UNIX_EPOCH_JD = 2440587.5
_J2000_JD = 2451545.0


def _sun_terms(unix_seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solar declination (radians) and the equation of time (minutes) at the given moments.

    Both change slowly (declination < 0.5°/day), so a caller classifying a short window
    can evaluate them once at its middle and vary only the hour angle.
    """
    jd = unix_seconds / 86400.0 + _UNIX_EPOCH_JD
    jc = (jd - _J2000_JD) / 36525.0
    mean_long = np.deg2rad((280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0)
    mean_anom = np.deg2rad(357.52911 + jc * (35999.05029 - 0.0001537 * jc))
    ecc = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    centre = (
        np.sin(mean_anom) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + np.sin(2 * mean_anom) * (0.019993 - 0.000101 * jc)
        + np.sin(3 * mean_anom) * 0.000289
    )
    omega = np.deg2rad(125.04 - 1934.136 * jc)
    apparent_long = np.deg2rad(np.rad2deg(mean_long) + centre - 0.00569 - 0.00478 * np.sin(omega))
    mean_obliq = 23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60.0) / 60.0
    obliq = np.deg2rad(mean_obliq + 0.00256 * np.cos(omega))
    declination = np.arcsin(np.sin(obliq) * np.sin(apparent_long))
    y = np.tan(obliq / 2.0) ** 2
    eq_time = 4.0 * np.rad2deg(
        y * np.sin(2 * mean_long)
        - 2 * ecc * np.sin(mean_anom)
        + 4 * ecc * y * np.sin(mean_anom) * np.cos(2 * mean_long)
        - 0.5 * y * y * np.sin(4 * mean_long)
        - 1.25 * ecc * ecc * np.sin(2 * mean_anom)
    )
    return declination, eq_time


def _altitude(unix_seconds, lat_rad, lon_deg, declination, eq_time) -> np.ndarray:
    minutes_utc = np.mod(unix_seconds, 86400.0) / 60.0
    true_solar_minutes = np.mod(minutes_utc + eq_time + 4.0 * lon_deg, 1440.0)
    hour_angle = np.deg2rad(true_solar_minutes / 4.0 - 180.0)
    cos_zenith = np.sin(lat_rad) * np.sin(declination) + np.cos(lat_rad) * np.cos(declination) * np.cos(hour_angle)
    return np.rad2deg(np.arcsin(np.clip(cos_zenith, -1.0, 1.0)))


def sun_altitude(unix_seconds, lat, lon) -> np.ndarray:
    """True altitude of the sun's centre in degrees (no refraction), element-wise.

    `unix_seconds` are seconds since 1970-01-01 UTC; `lat`, `lon` in degrees (WGS 84).
    """
    t = np.asarray(unix_seconds, dtype=np.float64)
    declination, eq_time = _sun_terms(t)
    return _altitude(t, np.deg2rad(np.asarray(lat, dtype=np.float64)), np.asarray(lon, dtype=np.float64), declination, eq_time)


def light_class(altitude) -> np.ndarray:
    """Daylight/twilight/darkness code (int8) of a sun altitude in degrees."""
    altitude = np.asarray(altitude)
    return np.where(altitude >= 0.0, DAYLIGHT, np.where(altitude >= -6.0, TWILIGHT, DARKNESS)).astype(np.int8)


def light_condition(start_unix, end_unix, lat, lon, max_window_s: float = 7200.0, chunk: int = 2_000_000) -> np.ndarray:
    """Light condition code (int8, see `LIGHT_CONDITIONS`) of each time window at its place.

    A window is classified from the sun at its start, middle and end; it is ``unknown`` when
    it is longer than `max_window_s` or the three disagree (it straddles dusk or dawn). The
    declination and equation of time are taken once, at the window's middle: over a window
    of a few hours they move by far less than the 0.01° the algorithm is good to.
    """
    start = np.asarray(start_unix, dtype=np.float64)
    end = np.asarray(end_unix, dtype=np.float64)
    lat = np.broadcast_to(np.asarray(lat, dtype=np.float64), start.shape)
    lon = np.broadcast_to(np.asarray(lon, dtype=np.float64), start.shape)
    out = np.full(start.shape, UNKNOWN, dtype=np.int8)
    short = np.flatnonzero((end - start) <= max_window_s)
    for lo in range(0, short.size, chunk):
        idx = short[lo : lo + chunk]
        t0, t1 = start[idx], end[idx]
        mid = (t0 + t1) / 2.0
        lat_rad, lon_deg = np.deg2rad(lat[idx]), lon[idx]
        declination, eq_time = _sun_terms(mid)
        classes = [light_class(_altitude(t, lat_rad, lon_deg, declination, eq_time)) for t in (t0, mid, t1)]
        agree = (classes[0] == classes[1]) & (classes[1] == classes[2])
        out[idx] = np.where(agree, classes[1], UNKNOWN)
    return out
