"""`estgeo privacy audit`: play the attacker with everything the public profile serves.

Input: a build folder (what `published/current` points at), read as a reader downloads
it — the public collections' GeoPackages, nulls where counts are withheld. Channels
checked, per collection:

* **Density** (`incident-density-r*`): every additive relation between the published
  rows and columns, the bounds the existence of a row implies, prev_count and change,
  as a linear system (`estgeo.audit.density.published_table`), solved for the feasible
  interval of every withheld count (`estgeo.audit.intervals`).
* **hotspots** repeats density counts of the default resolution; **lighting-insecurity**
  repeats its whole-range darkness counts per cell: a value they publish where the density
  withholds it pins that count (added to the system as a fact).
* **Gi\\*** (`gi_z`, `gi_p`): recomputed from the published counts alone (a withheld count
  as ``min_count / 2``, as the builder does). Where the published z differs by more than
  its rounding, it was computed from withheld counts and is reported as a leak.
* **interventions**: no change, percentage or flag published beside a withheld count.

Not modelled yet, and said so in the report: counts over circles, gaps and lamp reaches
(`unsafe-places`, `dark-gaps`, `lamps-out`) against the density cells.

With the store at hand the true counts are recomputed, so the protection rule applies to
the sensitive counts (1 to ``min_count − 1``); without it, to every withheld value that
could be one (`estgeo.audit.tables.exposed`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estgeo.audit import density as audit_density
from estgeo.audit import intervals, tables
from estgeo.errors import EstgeoError


@dataclass
class CollectionAudit:
    collection: str
    withheld: int = 0
    sensitive: int | None = None  # withheld values whose true count is 1 … min_count − 1 (with truth)
    exposed: int = 0
    exact: int = 0
    widths: dict[str, int] = field(default_factory=dict)  # interval width → how many (sensitive, or all withheld)
    tightest: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class AuditReport:
    build: str
    min_count: int
    with_truth: bool
    collections: list[CollectionAudit]
    seconds: float = 0.0
    not_modelled: list[str] = field(default_factory=list)
    #: Why the density system was not solved (too large for `max_values`), if it was not.
    skipped: str = ""

    @property
    def exposed(self) -> int:
        return sum(c.exposed for c in self.collections)

    @property
    def ok(self) -> bool:
        return self.exposed == 0 and not self.skipped

    def to_json(self) -> str:
        data = asdict(self)
        data["exposed"] = self.exposed
        data["ok"] = self.ok
        return json.dumps(data, indent=2, ensure_ascii=False)

    def first_leak(self) -> str:
        if self.skipped:
            return self.skipped
        for c in self.collections:
            if c.exposed:
                case = c.tightest[0] if c.tightest else {}
                where = ", ".join(f"{k} {v}" for k, v in case.items() if k in ("cell", "period_kind", "period", "column", "interval", "note"))
                return f"{c.collection}: {c.exposed} withheld count(s) exposed" + (f" — e.g. {where}" if where else "")
        return ""


class PrivacyLeak(EstgeoError, RuntimeError):
    """The audit found withheld counts an attacker can work out; the build is not published."""


def public_collections(settings) -> list[str]:
    return [c["id"] for layer in settings.layers for c in layer.get("collections", []) if c.get("audience", "public") == "public"]


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    """A collection's attributes as published (no geometry: the relations are in the ids)."""
    path = folder / f"{name}.gpkg"
    if not path.exists():
        return None
    import pyogrio

    fields = pyogrio.read_info(path)["fields"]
    # Text columns the audit never reads are left out: reading them is most of the time.
    skip = {"id", "period", "problems", "reason", "reason_en", "reasons", "reasons_en"}
    return pyogrio.read_dataframe(path, read_geometry=False, columns=[f for f in fields if f not in skip])


def audit_folder(settings, folder: Path, truth_store=None, lp_max_vars: int = 60, tightest: int = 10,
                 max_values: int | None = None) -> AuditReport:
    """Audit the public collections of a build folder (module docstring).

    `max_values` (default privacy.audit_max_values, 20,000,000): above this many withheld
    density values the system is not solved and the report says so. Memory grows about
    600 bytes per withheld value (benchmarks/privacy.py: 7.7 GB peak at 12 million).
    """
    started = time.perf_counter()
    k = settings.privacy_min_count
    public = set(public_collections(settings))
    density_names = sorted((n for n in public if n.startswith("incident-density-r")), key=lambda n: int(n.rsplit("r", 1)[1]))
    frames = {n: f for n in density_names if (f := _read(folder, n)) is not None}
    report = AuditReport(build=folder.name, min_count=k, with_truth=truth_store is not None, collections=[])
    if max_values is None:
        max_values = int((settings.project.get("privacy") or {}).get("audit_max_values", 20_000_000))
    if frames:
        n_withheld = sum(int(f[[c for c in audit_density.count_columns(f, settings.taxonomy)]].isna().to_numpy().sum())
                         for f in frames.values())
        if n_withheld > max_values:
            report.skipped = (f"the density collections withhold {n_withheld:,} values, more than privacy.audit_max_values "
                              f"({max_values:,}); they were not audited")
        else:
            report.collections.extend(_audit_density(settings, folder, frames, public, truth_store, lp_max_vars, tightest))
    if "interventions" in public and (frame := _read(folder, "interventions")) is not None:
        report.collections.append(_audit_derived(frame, k))
    report.not_modelled = [n for n in ("unsafe-places", "dark-gaps", "lamps-out") if n in public]
    report.seconds = time.perf_counter() - started
    return report


def _audit_density(settings, folder: Path, frames: dict[str, pd.DataFrame], public: set[str], truth_store,
                   lp_max_vars: int, n_tightest: int) -> list[CollectionAudit]:
    from estgeo.layers.periods import PeriodScheme

    k = settings.privacy_min_count
    scheme = PeriodScheme.from_settings(settings)
    view = audit_density.published_table(frames, settings.taxonomy, scheme.lagesbild_nests_weeks)
    table, rows = view.table, view.rows
    w = table.width
    out: list[CollectionAudit] = []
    # Collections repeating density counts: each value they publish that the density withholds is a fact.
    key = audit_density.RowIndex(audit_density.h3_ints(rows["h3"].to_numpy()), rows["period_kind"].to_numpy(),
                                 rows["period_start"].to_numpy())
    eq_cells, eq_values = [table.equal_cells], [table.equal_values]
    for name, pairs in (("hotspots", [("count", "count")]),
                        ("lighting-insecurity", [("dark_incidents", "light_darkness")])):
        if name not in public or (frame := _read(folder, name)) is None:
            continue
        note = CollectionAudit(name)
        if name == "hotspots":
            starts = audit_density._days(frame["period_start"])
            kinds = frame["period_kind"].astype(str).to_numpy()
        else:
            all_rows = rows[rows["period_kind"] == "all"]
            starts = np.full(len(frame), int(all_rows["period_start"].min()) if len(all_rows) else 0)
            kinds = np.full(len(frame), "all", dtype=object)
        at = key.find(audit_density.h3_ints(frame["h3"].astype(str).to_numpy()), kinds, starts)
        for theirs, ours in pairs:
            if theirs not in frame or ours not in view.columns:
                continue
            value = pd.to_numeric(frame[theirs], errors="coerce").to_numpy(dtype=np.float64)
            note.withheld += int(np.isnan(value).sum())
            col = view.columns.index(ours)
            pub = np.isfinite(value) & (at >= 0)
            cells = at[pub] * w + col
            repeated = table.withheld.ravel()[cells]
            eq_cells.append(cells[repeated])
            eq_values.append(value[pub][repeated])
            clash = ~repeated & (np.asarray(table.values).ravel()[cells] != value[pub])
            if clash.any():
                note.notes.append(f"{int(clash.sum())} value(s) of {theirs} differ from the density's {ours}: not modelled as a fact")
            if repeated.any():
                note.notes.append(f"{int(repeated.sum())} value(s) of {theirs} published where the density withholds {ours}")
        out.append(note)
    table.equal_cells = np.concatenate([np.asarray(c, dtype=np.int64) for c in eq_cells if c is not None])
    table.equal_values = np.concatenate([np.asarray(v, dtype=np.float64) for v in eq_values if v is not None])
    ts = tables.table_system(table)
    found = intervals.feasible_intervals(ts.system, lp_max_vars)
    truth = _truth(settings, truth_store, view) if truth_store is not None else None
    truth_v = truth.ravel()[ts.cells] if truth is not None else None
    bad = tables.exposed(found, k, truth_v)
    sensitive = ((truth_v >= 1) & (truth_v <= k - 1)) if truth_v is not None else np.ones(ts.cells.size, dtype=bool)
    var_row = ts.cells // w
    var_col = ts.cells % w
    collection_of = rows["collection"].to_numpy()[var_row]
    for name in frames:
        sel = collection_of == name
        audit = CollectionAudit(name, withheld=int(sel.sum()))
        if truth_v is not None:
            audit.sensitive = int((sel & sensitive).sum())
        audit.exposed = int((sel & bad).sum())
        audit.exact = int((sel & sensitive & (found.width == 0)).sum())
        widths = np.minimum(found.width[sel & sensitive], 99)
        vals, counts = np.unique(np.where(np.isfinite(widths), widths, 99), return_counts=True)
        audit.widths = {("≥99" if v >= 99 else str(int(v))): int(c) for v, c in zip(vals, counts, strict=True)}
        idx = np.flatnonzero(sel & bad)
        idx = idx[np.argsort(found.width[idx], kind="stable")][:n_tightest]
        for i in idx:
            r = rows.iloc[int(var_row[i])]
            audit.tightest.append({
                "cell": r["h3"], "period_kind": r["period_kind"],
                "period": str(np.datetime64(int(r["period_start"]), "D")), "column": view.columns[int(var_col[i])],
                "interval": [int(found.lo[i]), int(found.hi[i]) if np.isfinite(found.hi[i]) else None]})
        out.append(audit)
    out.extend(_audit_gi(settings, frames, view))
    return out


def _truth(settings, store, view: audit_density.PublishedDensity) -> np.ndarray:
    """The true counts of the published rows, recomputed from the store as the builder does."""
    from estgeo.layers import density as d
    from estgeo.layers.periods import PeriodScheme

    scheme = PeriodScheme.from_settings(settings)
    columns = d.Columns.from_settings(settings)
    resolutions = sorted(settings.h3_resolutions)
    layer: dict[str, Any] = next((lay for lay in settings.layers if lay.get("builder") == "density"), {})
    hours = float((layer.get("params") or {}).get("light_window_max_hours", d.DEFAULTS["light_window_max_hours"]))
    prepared = d.prepare_incidents(store.read("incidents"), resolutions[-1], columns, scheme, hours * 3600.0)
    table = d.count_table(prepared.cell, prepared.category, prepared.light, prepared.day, prepared.as_of_day,
                          resolutions, columns, scheme)
    counts = table.counts()
    keys = []
    for b in table.ordered_blocks():
        keys.append(pd.DataFrame({"cell": table.cells[b.res][b.cell], "kind": b.kind,
                                  "start": table.periods[b.kind][b.period] if b.kind != "all" else np.full(b.cell.size, table.first_day)}))
    internal = pd.concat(keys, ignore_index=True)
    index = audit_density.RowIndex(internal["cell"].to_numpy(dtype=np.uint64), internal["kind"].to_numpy(),
                                   internal["start"].to_numpy(dtype=np.int64))
    at = index.find(audit_density.h3_ints(view.rows["h3"].to_numpy()), view.rows["period_kind"].to_numpy(),
                    view.rows["period_start"].to_numpy(dtype=np.int64))
    names = columns.names
    truth = np.zeros((len(view.rows), len(view.columns)))
    for j, name in enumerate(view.columns):
        if name in names:
            col = counts[:, names.index(name)]
            truth[:, j] = np.where(at >= 0, col[np.maximum(at, 0)], 0)
    return truth


def _audit_gi(settings, frames: dict[str, pd.DataFrame], view: audit_density.PublishedDensity) -> list[CollectionAudit]:
    """Is every published gi_z what the published counts give (withheld = min_count / 2)?"""
    from estgeo.layers import hotspots, privacy

    k = settings.privacy_min_count
    k_ring = int(settings.project.get("h3", {}).get("gi_k_ring", 1))
    out = []
    rows = view.rows
    counts = view.table.values[:, 0]
    hidden = view.table.withheld[:, 0]
    for name, frame in frames.items():
        if "gi_z" not in frame:
            continue
        audit = CollectionAudit(f"{name} (Gi*)")
        sel = np.flatnonzero(rows["collection"].to_numpy() == name)
        z_pub = pd.to_numeric(frame["gi_z"], errors="coerce").to_numpy(dtype=np.float64)
        decimals = _decimals(z_pub)
        cells = audit_density.h3_ints(rows["h3"].to_numpy()[sel])
        kinds = rows["period_kind"].to_numpy()[sel]
        starts = rows["period_start"].to_numpy()[sel]
        # The study area is built around the cells with incidents: at a resolution with
        # finer rows published those are the cells with child rows, else every cell.
        parent = view.table.row_sums[0].parent
        has_child = np.zeros(len(rows), dtype=bool)
        has_child[parent[parent >= 0]] = True
        finer = (rows["resolution"].to_numpy() > rows["resolution"].to_numpy()[sel][0]).any()
        occupied = np.unique(cells[(kinds == "all") & (has_child[sel] if finer else True)])
        area, weights = hotspots.study_area_weights(occupied, k_ring)
        x_all = np.where(hidden[sel], privacy.stand_in(k), counts[sel])
        worst = 0.0
        for kind in np.unique(kinds):
            in_kind = kinds == kind
            periods, pidx = np.unique(starts[in_kind], return_inverse=True)
            x = np.zeros((area.size, periods.size))
            pos = np.searchsorted(area, cells[in_kind])
            ok = (pos < area.size) & (area[np.minimum(pos, area.size - 1)] == cells[in_kind])
            x[pos[ok], pidx[ok]] = x_all[in_kind][ok]
            z = hotspots.gi_star(x, weights)
            mine = z[np.minimum(pos, area.size - 1), pidx]
            diff = np.abs(np.round(mine, decimals) - z_pub[in_kind])
            diff = np.where(ok & np.isfinite(z_pub[in_kind]), diff, 0.0)
            worst = max(worst, float(diff.max(initial=0.0)))
            off = diff > 0.5 * 10.0 ** -decimals + 1e-9
            audit.exposed += int(off.sum())
            for i in np.flatnonzero(off)[: max(0, 5 - len(audit.tightest))]:
                audit.tightest.append({"cell": f"{cells[in_kind][i]:x}", "period_kind": kind,
                                       "period": str(np.datetime64(int(starts[in_kind][i]), "D")), "column": "gi_z",
                                       "note": f"published {z_pub[in_kind][i]}, from published counts {mine[i]:.{decimals}f}"})
        audit.notes.append(f"largest difference between the published z and the z of the published counts: {worst:.{decimals}f}"
                           + ("" if audit.exposed == 0 else " — z is computed from withheld counts"))
        out.append(audit)
    return out


def _decimals(values: np.ndarray) -> int:
    finite = values[np.isfinite(values)]
    for d in range(0, 7):
        if np.allclose(finite, np.round(finite, d), atol=1e-9):
            return d
    return 6


def _audit_derived(frame: pd.DataFrame, k: int) -> CollectionAudit:
    """interventions: no change, percentage or flag beside a withheld before/after count."""
    audit = CollectionAudit("interventions")
    before = pd.to_numeric(frame.get("before_count"), errors="coerce")
    after = pd.to_numeric(frame.get("after_count"), errors="coerce")
    withheld = before.isna() | after.isna()
    audit.withheld = int(before.isna().sum() + after.isna().sum())
    for column in ("change", "change_pct", "enough_data"):
        if column not in frame:
            continue
        shown = frame[column].notna() & withheld
        if shown.any():
            audit.exposed += int(shown.sum())
            for _, r in frame[shown].head(5).iterrows():
                audit.tightest.append({"cell": str(r.get("id")), "column": column,
                                       "note": f"{column} = {r[column]} published beside a withheld count"})
    return audit


def format_report(report: AuditReport) -> list[list[str]]:
    """Rows of the CLI's table: collection, withheld, sensitive, exposed, exact, widths."""
    out = []
    for c in report.collections:
        widths = ", ".join(f"{w}: {n}" for w, n in c.widths.items()) if c.widths else ""
        out.append([c.collection, f"{c.withheld:,}", "" if c.sensitive is None else f"{c.sensitive:,}", f"{c.exposed:,}",
                    f"{c.exact:,}", widths])
    return out
