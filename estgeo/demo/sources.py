"""Writing incidents in the sources' own formats (police CSV in Windows-1252, the housing
company's CSV with BOM and decimal comma, the EST app's GeoJSON).

Part of the demo municipality (`estgeo.demo`).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from estgeo.config import Settings
from estgeo.demo.incidents import IncidentChunk, IncidentModel
from estgeo.demo.town import APP_ORGS, SOURCES, to_wgs84, zfill

# --- writing incidents in the sources' own formats ----------------------------------------


def source_columns(settings: Settings, name: str) -> dict[str, Any]:
    """canonical field → the source's column name (or [date, time] pair), from config/sources."""
    return next(s for s in settings.sources if s["name"] == name)["columns"]


def source_labels(settings: Settings, code_list: str, codes: list[str] | np.ndarray) -> np.ndarray:
    """Codes → Swedish labels, as people's exports contain them."""
    cl = settings.code_lists[code_list]
    return np.array([cl.label(str(c)) for c in codes], dtype=object) if len(codes) else np.array([], object)


def _join(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise string concatenation (C-level, via numpy.strings)."""
    out = np.asarray(parts[0])
    for p in parts[1:]:
        out = np.strings.add(out, p)
    return out


def _decimal(values: np.ndarray, decimals: int, mark: str = ".") -> np.ndarray:
    """Fixed-point text with the given decimal mark; integer arithmetic, as '%.6f' with a
    decimal comma per value is the slowest part of writing a million rows."""
    scale = 10**decimals
    scaled = np.round(np.abs(values) * scale).astype(np.int64)
    whole = (scaled // scale).astype(str)
    frac = zfill(scaled % scale, decimals)
    return _join(np.where(values < 0, "-", ""), whole, mark, frac)


def _csv_text(columns: dict[str, np.ndarray], sep: str, header: bool, newline: str = "\n") -> str:
    """Rows of text columns joined by `sep`, quoted where a value holds `sep` or a quote.

    Joining with `str.join` over zipped column lists runs in C and beats both
    `DataFrame.to_csv` and numpy string concatenation (which pads every row to the widest).
    """

    def quoted(col: np.ndarray) -> list[str]:
        col = np.asarray(col)
        if col.dtype.kind != "U":
            col = col.astype(str)
        if col.size and col.dtype.itemsize // 4 > 0:
            needs = (np.strings.find(col, sep) >= 0) | (np.strings.find(col, '"') >= 0)
            if needs.any():
                col = np.where(needs, _join('"', np.strings.replace(col, '"', '""'), '"'), col)
        return col.tolist()

    lines = [sep.join(quoted(np.array(list(columns), dtype=str)))] if header else []
    lines.extend(map(sep.join, zip(*(quoted(c) for c in columns.values()), strict=True)))
    return newline.join(lines) + (newline if lines else "")


class IncidentWriter:
    """Appends incident chunks to the three source files in their own formats."""

    def __init__(self, model: IncidentModel, settings: Settings, app_as_csv: bool):
        self.model = model
        self.settings = settings
        self.clock = model.clock
        self.app_as_csv = app_as_csv
        inbox = settings.inbox
        self.paths = {
            "polisen": inbox / "polisen_utdrag.csv",
            "bostadsbolaget": inbox / "bostadsbolaget_arenden.csv",
            "est-app": inbox / ("est-app_export.csv" if app_as_csv else "est-app_export.geojson"),
        }
        # Swedish Excel: Windows-1252 with CRLF; the case system: UTF-8 with a BOM.
        self.handles: dict[str, IO[str]] = {
            "polisen": self.paths["polisen"].open("w", encoding="cp1252", newline=""),
            "bostadsbolaget": self.paths["bostadsbolaget"].open("w", encoding="utf-8-sig", newline=""),
        }
        if app_as_csv:
            self.handles["est-app"] = self.paths["est-app"].open("w", encoding="utf-8", newline="")
        self.app_frames: list[gpd.GeoDataFrame] = []
        self.counts = dict.fromkeys(SOURCES, 0)
        self.category_labels = source_labels(settings, "categories", model.categories)
        self.place_labels = source_labels(settings, "place_types", model.place_types)

    def write(self, chunk: IncidentChunk) -> None:
        for si, (source, writer) in enumerate(
            (("polisen", self._polisen), ("bostadsbolaget", self._bostad), ("est-app", self._app))
        ):
            part = chunk.take(np.flatnonzero(chunk.source == si))
            seq = np.arange(self.counts[source] + 1, self.counts[source] + 1 + len(part))
            writer(part, seq, header=self.counts[source] == 0)
            self.counts[source] += len(part)

    def close(self) -> list[Path]:
        for h in self.handles.values():
            h.close()
        if not self.app_as_csv:
            frames = [f for f in self.app_frames if len(f)]
            frame = pd.concat(frames, ignore_index=True) if frames else self.app_frames[0]
            write_geojson(frame, self.paths["est-app"])
        return list(self.paths.values())

    def _times(self, utc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(date text, HH:MM text, UTC offset in minutes) of UTC minutes, in local time."""
        wall, offset = self.clock.to_local(utc)
        return self.clock.date(wall), self.clock.hm(wall), offset

    def _polisen(self, f: IncidentChunk, seq: np.ndarray, header: bool) -> None:
        """Police extract: date and time in separate columns, X = northing, Y = easting."""
        cols = source_columns(self.settings, "polisen")
        from_d, from_t, _ = self._times(f.occurred_from)
        to_d, to_t, _ = self._times(f.occurred_to)
        rep_d, rep_t, _ = self._times(f.reported_at)
        has_to = f.occurred_to >= 0
        out = {
            cols["id"]: _join("5000-K", zfill(seq, 7), "-", np.strings.slice(rep_d, 2, 4)),
            cols["category"]: self.category_labels[f.category],
            cols["occurred_from"][0]: from_d,
            cols["occurred_from"][1]: np.where(f.date_only, "", from_t),
            cols["occurred_to"][0]: np.where(has_to, to_d, ""),
            cols["occurred_to"][1]: np.where(has_to, to_t, ""),
            cols["reported_at"]: _join(rep_d, " ", rep_t),
            cols["x"]: np.round(f.n).astype(np.int64),
            cols["y"]: np.round(f.e).astype(np.int64),
            cols["precision_m"]: _decimal(f.precision_m, 1, ","),
            cols["place_type"]: self.place_labels[f.place_type],
            cols["description"]: f.description,
        }
        self.handles["polisen"].write(_csv_text(out, ";", header, "\r\n"))

    def _bostad(self, f: IncidentChunk, seq: np.ndarray, header: bool) -> None:
        """Housing company: ISO local times without offset, Lat/Long with decimal comma."""
        cols = source_columns(self.settings, "bostadsbolaget")
        from_d, from_t, _ = self._times(f.occurred_from)
        to_d, to_t, _ = self._times(f.occurred_to)
        rep_d, rep_t, _ = self._times(f.reported_at)
        lon, lat = to_wgs84(f.e, f.n)
        out = {
            cols["id"]: _join("FJ-", zfill(seq, 7)),
            cols["category"]: np.where(pd.isna(f.label_variant), self.category_labels[f.category], f.label_variant),
            cols["occurred_from"]: np.where(f.date_only, from_d, _join(from_d, "T", from_t)),
            cols["occurred_to"]: np.where(f.occurred_to >= 0, _join(to_d, "T", to_t), ""),
            cols["reported_at"]: _join(rep_d, "T", rep_t),
            cols["x"]: _decimal(lat, 6, ","),
            cols["y"]: _decimal(lon, 6, ","),
            cols["place_type"]: self.place_labels[f.place_type],
            cols["assessment"]: np.where(f.assessment > 0, f.assessment.astype(str), ""),
            cols["description"]: f.description,
        }
        self.handles["bostadsbolaget"].write(_csv_text(out, ";", header))

    def _app(self, f: IncidentChunk, seq: np.ndarray, header: bool) -> None:
        """EST app: canonical names and codes, ISO 8601 times with offset, WGS 84."""

        def iso(utc: np.ndarray) -> np.ndarray:
            d, t, offset = self._times(utc)
            return _join(d, "T", t, ":00", np.where(offset == 120, "+02:00", "+01:00"))

        has_to = f.occurred_to >= 0
        lon, lat = to_wgs84(f.e, f.n)
        out = {
            "id": _join("EST-", zfill(seq, 8)),
            "source_org": np.array(APP_ORGS)[f.app_org],
            "category": np.array(self.model.categories)[f.category],
            "occurred_from": np.where(f.date_only, self._times(f.occurred_from)[0], iso(f.occurred_from)),
            "occurred_to": np.where(has_to, iso(f.occurred_to), ""),
            "reported_at": iso(f.reported_at),
            "place_type": np.array(self.model.place_types)[f.place_type],
            "assessment": f.assessment,
            "police_reported": f.police_reported,
            "description": f.description,
        }
        if self.app_as_csv:
            out["police_reported"] = np.where(f.police_reported, "true", "false")
            out["lon"], out["lat"] = _decimal(lon, 6), _decimal(lat, 6)
            self.handles["est-app"].write(_csv_text(out, ",", header))
        else:
            frame = pd.DataFrame(out)
            frame["occurred_to"] = frame["occurred_to"].where(has_to, None)
            self.app_frames.append(gpd.GeoDataFrame(frame, geometry=shapely.points(lon, lat), crs="EPSG:4326"))


def write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    """RFC 7946 GeoJSON (lon/lat, no crs member) with six decimals (~0.1 m)."""
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, driver="GeoJSON", layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": 6})
