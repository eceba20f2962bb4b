"""Step 3: the incident model — where, when, what and by whom, in chunks of whole arrays.

Part of the demo municipality (`estgeo.demo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from estgeo.config import Settings
from estgeo.demo.town import (
    APP_ORG_DEFAULT,
    APP_ORG_WEIGHTS,
    APP_ORGS,
    BACKGROUND_PLACES,
    BACKGROUND_SOURCE_WEIGHTS,
    BASE_HOURS,
    BOSTAD_LABEL_VARIANTS,
    BOSTAD_PLACES,
    CATEGORY_PROFILE_DEFAULT,
    CATEGORY_PROFILES,
    DARK_CATEGORY_BOOST,
    DARK_HOUR_BOOST,
    DARK_SHARE,
    DARK_SOURCE_WEIGHTS,
    DARK_SUN_ALTITUDE,
    DATE_ONLY_SHARE,
    DESCRIPTIONS,
    END_DATE,
    GROUP_HOUR_BOOST,
    HOT_SPOTS,
    PERIOD_DAYS,
    REPORT_DELAY,
    SOURCES,
    Town,
)

# --- step 3: incidents -----------------------------------------------------------------


def sun_altitude_deg(utc_minutes: np.ndarray, lon: float, lat: float) -> np.ndarray:
    """Approximate solar altitude (degrees) at Unix-epoch minutes (UTC); good to ~1°.

    The generator needs "is it dark?" for millions of candidate times, so this is the
    short low-precision almanac formula on whole arrays rather than a full ephemeris.
    """
    d = (utc_minutes / 1440.0) - 10957.5  # days since J2000.0 (2000-01-01 12:00 UTC)
    g = np.deg2rad(357.529 + 0.98560028 * d)
    q = 280.459 + 0.98564736 * d
    ecl_lon = np.deg2rad(q + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g))
    eps = np.deg2rad(23.439 - 0.00000036 * d)
    ra = np.arctan2(np.cos(eps) * np.sin(ecl_lon), np.cos(ecl_lon))
    dec = np.arcsin(np.sin(eps) * np.sin(ecl_lon))
    gmst_deg = (18.697374558 + 24.06570982441908 * d) * 15.0
    hour_angle = np.deg2rad(gmst_deg + lon) - ra
    phi = np.deg2rad(lat)
    alt = np.arcsin(np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.cos(hour_angle))
    return np.rad2deg(alt)


class _Clock:
    """Local-time conversion and fast text formatting for epoch minutes.

    Formatting a million timestamps with strftime takes seconds; looking dates and
    "HH:MM" up in small tables indexed by day and minute takes milliseconds.
    """

    def __init__(self, tz: str, first_day: date, n_days: int):
        self.tz = tz
        self.day0 = (first_day - date(1970, 1, 1)).days
        self.n_days = n_days
        days = [first_day + timedelta(days=i) for i in range(n_days)]
        self.dates = np.array([d.isoformat() for d in days], dtype="U10")
        self.hms = np.array([f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)], dtype="U5")

    def to_utc(self, local_minutes: np.ndarray) -> np.ndarray:
        """Local wall-clock minutes → UTC minutes (gaps shifted forward, folds as summer time)."""
        idx = pd.DatetimeIndex((local_minutes * 60).astype("datetime64[s]"))
        utc = idx.tz_localize(self.tz, ambiguous=np.ones(len(idx), bool), nonexistent="shift_forward")
        return utc.as_unit("s").asi8 // 60

    def to_local(self, utc_minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """UTC minutes → (local wall-clock minutes, UTC offset in minutes)."""
        idx = pd.DatetimeIndex((utc_minutes * 60).astype("datetime64[s]")).tz_localize("UTC")
        wall = idx.tz_convert(self.tz).tz_localize(None).as_unit("s").asi8 // 60
        return wall, wall - utc_minutes

    def date(self, wall: np.ndarray) -> np.ndarray:
        return self.dates[np.clip(wall // 1440 - self.day0, 0, self.n_days - 1)]

    def hm(self, wall: np.ndarray) -> np.ndarray:
        return self.hms[wall % 1440]


def _hour_profile(*boosts: tuple[tuple[int, int, float], ...]) -> np.ndarray:
    """BASE_HOURS multiplied by factors over ranges of local hours (ranges may wrap midnight)."""
    w = BASE_HOURS.copy()
    hours = np.arange(24)
    for ranges in boosts:
        for start, end, factor in ranges:
            inside = (hours >= start) & (hours < end) if start < end else (hours >= start) | (hours < end)
            w[inside] *= factor
    return w / w.sum()


@dataclass
class _Component:
    """One source of incidents in space: a hot spot, the dark clusters or the background."""

    name: str
    share: float
    source_weights: tuple[float, float, float]
    category_boost: dict[str, float]
    hour_boost: tuple[tuple[int, int, float], ...]
    place_types: dict[str, float]
    light_accept: float
    effects: list[tuple[int, int, float]] = field(default_factory=list)


@dataclass
class IncidentChunk:
    """A batch of incidents as whole arrays; codes are indices into the model's lists.

    Times are Unix-epoch minutes in UTC; `occurred_to` is -1 when there is no window and
    `assessment` 0 when the reporter gave none.
    """

    component: np.ndarray
    source: np.ndarray
    category: np.ndarray
    place_type: np.ndarray
    e: np.ndarray
    n: np.ndarray
    occurred_from: np.ndarray
    occurred_to: np.ndarray
    date_only: np.ndarray
    reported_at: np.ndarray
    assessment: np.ndarray
    police_reported: np.ndarray
    app_org: np.ndarray
    description: np.ndarray
    label_variant: np.ndarray
    precision_m: np.ndarray

    def __len__(self) -> int:
        return len(self.source)

    def take(self, index: np.ndarray) -> IncidentChunk:
        return IncidentChunk(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass
class IncidentModel:
    """Everything needed to draw incidents chunk by chunk with one random generator."""

    town: Town
    clusters: np.ndarray
    categories: list[str]
    place_types: list[str]
    groups: np.ndarray
    components: list[_Component]
    segments: np.ndarray
    segment_p: np.ndarray
    day_p: dict[str, np.ndarray]
    clock: _Clock
    first_day: date

    @classmethod
    def build(
        cls,
        settings: Settings,
        town: Town,
        streets: gpd.GeoDataFrame,
        clusters: np.ndarray,
        effects: dict[str, list[tuple[date, date, float]]],
    ) -> IncidentModel:
        """Prepare components, street segments and day weights for `sample`."""
        categories = list(settings.taxonomy["categories"])
        groups = np.array([settings.taxonomy["categories"][c]["group"] for c in categories])
        first_day = END_DATE - timedelta(days=PERIOD_DAYS - 1)
        clock = _Clock(settings.time_zone, first_day - timedelta(days=5), PERIOD_DAYS + 70)

        def minutes(d: date) -> int:
            return int(clock.to_utc(np.array([(d - date(1970, 1, 1)).days * 1440]))[0])

        components = [
            _Component(
                s.name,
                s.share,
                s.source_weights,
                s.category_boost,
                s.hour_boost,
                {s.place_type: 0.75, "gata": 0.1, "parkering": 0.1, "ovrigt": 0.05}
                if s.place_type != "hallplats"
                else {"hallplats": 0.8, "parkering": 0.15, "gata": 0.05},
                0.65,
                [(minutes(a), minutes(b + timedelta(days=1)), keep) for a, b, keep in effects.get(s.name, [])],
            )
            for s in HOT_SPOTS
        ]
        components.append(
            _Component(
                "dark",
                DARK_SHARE,
                DARK_SOURCE_WEIGHTS,
                DARK_CATEGORY_BOOST,
                DARK_HOUR_BOOST,
                {"gata": 0.4, "bostadsomrade": 0.3, "gc-tunnel": 0.15, "parkering": 0.15},
                0.12,
            )
        )
        components.append(
            _Component(
                "background",
                1 - DARK_SHARE - sum(s.share for s in HOT_SPOTS),
                BACKGROUND_SOURCE_WEIGHTS,
                {},
                (),
                BACKGROUND_PLACES,
                0.65,
            )
        )

        segments = _street_segments(streets)
        mid = (segments[:, :2] + segments[:, 2:]) / 2
        r = np.hypot(mid[:, 0] - town.e, mid[:, 1] - town.n)
        length = np.hypot(*(segments[:, 2:] - segments[:, :2]).T)
        weight = length * np.exp(-r / 1100.0)  # busier streets near the centre
        days = pd.date_range(first_day, periods=PERIOD_DAYS, freq="D")
        day_p = {g: _day_weights(days, g) for g in sorted(set(groups))}
        return cls(
            town,
            clusters,
            categories,
            list(settings.taxonomy["place_types"]),
            groups,
            components,
            segments,
            weight / weight.sum(),
            day_p,
            clock,
            first_day,
        )

    @staticmethod
    def _profile(category: str) -> tuple[tuple[float, float, float], int, float, float]:
        return CATEGORY_PROFILES.get(category, CATEGORY_PROFILE_DEFAULT)

    def sample(self, rng: np.random.Generator, n: int) -> IncidentChunk:
        """Draw `n` incidents — where, who reports, what, when — sorted by report time,
        as a case system would list them."""
        comp = rng.choice(len(self.components), n, p=[c.share for c in self.components])
        e, nn = self._locations(rng, comp)
        source, category, place = self._what(rng, comp)
        true_time = self._times(rng, comp, category)
        start, end, date_only, reported = self._when_reported(rng, source, category, true_time)
        chunk = IncidentChunk(
            component=comp,
            source=source,
            category=category,
            place_type=place,
            e=e,
            n=nn,
            occurred_from=start,
            occurred_to=end,
            date_only=date_only,
            reported_at=reported,
            **self._details(rng, comp, source, category),
        )
        noise = np.choose(source, [chunk.precision_m / 3, np.full(n, 8.0), np.full(n, 5.0)])
        chunk.e += rng.normal(0, 1, n) * noise
        chunk.n += rng.normal(0, 1, n) * noise
        return chunk.take(np.argsort(reported, kind="stable"))

    def _what(self, rng: np.random.Generator, comp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reporting source and place type by component; category by component and source."""
        n = len(comp)
        source = np.empty(n, dtype=np.int8)
        category = np.empty(n, dtype=np.int16)
        place = np.empty(n, dtype=np.int16)
        place_index = {p: i for i, p in enumerate(self.place_types)}
        for ci, c in enumerate(self.components):
            m = comp == ci
            source[m] = rng.choice(3, m.sum(), p=c.source_weights)
            codes = [place_index[p] for p in c.place_types]
            place[m] = rng.choice(codes, m.sum(), p=list(c.place_types.values()))
            for si in range(len(SOURCES)):
                ms = m & (source == si)
                w = np.array([self._profile(k)[0][si] * c.category_boost.get(k, 1.0) for k in self.categories])
                category[ms] = rng.choice(len(w), ms.sum(), p=w / w.sum())
        # The housing company's own background reports are about its buildings and yards.
        mine = (source == 1) & (comp == len(self.components) - 1)
        codes = [place_index[p] for p in BOSTAD_PLACES]
        place[mine] = rng.choice(codes, mine.sum(), p=list(BOSTAD_PLACES.values()))
        return source, category, place

    def _locations(self, rng: np.random.Generator, comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = np.empty(len(comp))
        n = np.empty(len(comp))
        for ci, c in enumerate(self.components):
            m = comp == ci
            k = int(m.sum())
            if c.name == "dark":
                centre = self.clusters[rng.integers(0, len(self.clusters), k)]
                e[m], n[m] = (centre + rng.normal(0, 60, (k, 2))).T
            elif c.name == "background":
                seg = self.segments[rng.choice(len(self.segments), k, p=self.segment_p)]
                t = rng.random(k)[:, None]
                p = seg[:, :2] + t * (seg[:, 2:] - seg[:, :2]) + rng.normal(0, 12, (k, 2))
                e[m], n[m] = p.T
            else:
                spot = HOT_SPOTS[ci]
                e[m] = self.town.e + spot.de + rng.normal(0, spot.sigma_m, k)
                n[m] = self.town.n + spot.dn + rng.normal(0, spot.sigma_m, k)
        return e, n

    def _times(self, rng: np.random.Generator, comp: np.ndarray, category: np.ndarray) -> np.ndarray:
        """True moments (UTC minutes) by category group and place; more after dark."""
        out = np.empty(len(comp), dtype=np.int64)
        cat_group = self.groups[category]
        for ci, c in enumerate(self.components):
            for g in self.day_p:
                m = (comp == ci) & (cat_group == g)
                if m.any():
                    hour_p = _hour_profile(GROUP_HOUR_BOOST.get(g, ()), c.hour_boost)
                    accept = 1.0 if g == "ovrigt" else c.light_accept
                    out[m] = self._sample_times(rng, int(m.sum()), self.day_p[g], hour_p, accept, c.effects)
        return out

    def _sample_times(
        self,
        rng: np.random.Generator,
        n: int,
        day_p: np.ndarray,
        hour_p: np.ndarray,
        light_accept: float,
        effects: list[tuple[int, int, float]],
    ) -> np.ndarray:
        """Rejection sampling: daylight candidates survive with `light_accept`, and incidents
        during an intervention in this place with its keep share (the planted effect)."""
        out = np.empty(n, dtype=np.int64)
        filled = 0
        base = (self.first_day - date(1970, 1, 1)).days * 1440
        while filled < n:
            m = max(64, int((n - filled) * 2.5))
            local = base + rng.choice(len(day_p), m, p=day_p) * 1440 + rng.choice(24, m, p=hour_p) * 60 + rng.integers(0, 60, m)
            utc = self.clock.to_utc(local)
            alt = sun_altitude_deg(utc, self.town.lon, self.town.lat)
            accept = np.where(alt < DARK_SUN_ALTITUDE, 1.0, light_accept)
            for start, end, keep in effects:
                accept = accept * np.where((utc >= start) & (utc < end), keep, 1.0)
            take = utc[rng.random(m) < accept][: n - filled]
            out[filled : filled + len(take)] = take
            filled += len(take)
        return out

    def _when_reported(
        self, rng: np.random.Generator, source: np.ndarray, category: np.ndarray, true_time: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Turn the true moment into what reporters write: an exact time, a window
        (overnight vandalism is found in the morning) or only a date; then a report time."""
        n = len(source)
        window_p = np.array([self._profile(c)[2] for c in self.categories])
        window = rng.random(n) < window_p[category]
        date_only_p = np.array([DATE_ONLY_SHARE[s] for s in SOURCES])
        date_only = ~window & (rng.random(n) < date_only_p[source])
        width = np.clip(rng.lognormal(np.log(360), 0.7, n), 30, 3600)
        before = rng.random(n) * width
        start = np.where(window, (true_time - before) // 15 * 15, true_time).astype(np.int64)
        end = np.where(window, -(-(true_time - before + width) // 15) * 15, -1).astype(np.int64)
        median = np.array([REPORT_DELAY[s][0] for s in SOURCES])[source]
        sigma = np.array([REPORT_DELAY[s][1] for s in SOURCES])[source]
        delay = np.clip(np.round(median * np.exp(sigma * rng.standard_normal(n))), 5, 45 * 1440)
        reported = np.where(window, end, true_time) + delay.astype(np.int64)
        return start, end, date_only, reported

    def _details(
        self, rng: np.random.Generator, comp: np.ndarray, source: np.ndarray, category: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Assessment, police_reported, app organisation, precision, label and description."""
        n = len(comp)
        base = np.array([self._profile(c)[1] for c in self.categories])[category]
        assessment = np.clip(base + rng.integers(-1, 2, n), 1, 5).astype(np.int8)
        # The housing company's log leaves the assessment empty now and then.
        assessment[(source == 1) & (rng.random(n) < 0.08)] = 0
        police_p = np.array([self._profile(c)[3] for c in self.categories])
        org = np.empty(n, dtype=np.int8)
        desc = np.empty(n, dtype=object)
        variant = np.full(n, None, dtype=object)
        for ci, code in enumerate(self.categories):
            m = category == ci
            w = np.array(APP_ORG_WEIGHTS.get(code, APP_ORG_DEFAULT), float)
            org[m] = rng.choice(len(APP_ORGS), m.sum(), p=w / w.sum())
            desc[m] = rng.choice(DESCRIPTIONS.get(code, ("",)), m.sum())
            if code in BOSTAD_LABEL_VARIANTS:
                mv = m & (rng.random(n) < 0.25)
                variant[mv] = rng.choice(BOSTAD_LABEL_VARIANTS[code], mv.sum())
        schools = [i for i, s in enumerate(HOT_SPOTS) if s.place_type == "skolgard"]
        org[np.isin(comp, schools) & (rng.random(n) < 0.5)] = APP_ORGS.index("skola")
        return {
            "assessment": assessment,
            "police_reported": rng.random(n) < police_p[category],
            "app_org": org,
            "description": desc,
            "label_variant": variant,
            "precision_m": rng.choice([7.5, 12.5, 25.0, 50.0, 100.0, 250.0], n, p=[0.2, 0.2, 0.3, 0.15, 0.1, 0.05]),
        }


def _street_segments(streets: gpd.GeoDataFrame) -> np.ndarray:
    """Every street as straight pieces (x0, y0, x1, y1), for sampling points along streets."""
    coords, index = shapely.get_coordinates(streets.geometry.to_numpy(), return_index=True)
    same = index[1:] == index[:-1]
    return np.hstack([coords[:-1][same], coords[1:][same]])


def _day_weights(days: pd.DatetimeIndex, group: str) -> np.ndarray:
    """Relative incident rate per day: dark half of the year, Friday/Saturday, and group
    rhythms (public disorder in summer evenings, fires at New Year and Valborg)."""
    doy = days.day_of_year.to_numpy()
    w = 1 + 0.35 * np.cos(2 * np.pi * (doy - 330) / 365.25)
    if group == "ordning":
        w = 1 + 0.15 * np.cos(2 * np.pi * (doy - 330) / 365.25) + 0.7 * np.exp(-(((doy - 195) / 30) ** 2))
    if group == "skadegorelse":
        md = days.strftime("%m-%d")
        w = w * np.where(np.isin(md, ["12-31", "01-01", "04-30"]), 4.0, 1.0)
    w = w * np.array([0.9, 0.9, 0.9, 0.95, 1.2, 1.35, 1.05])[days.day_of_week.to_numpy()]
    w = w * (1 + 0.08 * np.arange(len(days)) / len(days))
    return w / w.sum()
