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

In `estgeo build` a large cell-key density comes with the proof its protect rounds left
(`estgeo.audit.density.Proof`: the table they audited, its bounds and true counts). The
system rebuilt from the files is compared with it entry for entry; when it is the same
system its bounds are the audit's (the same propagation would give them again), and any
difference is reported and the audit works everything out from the files. `estgeo privacy
audit` has no proof and always works it out.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estgeo.audit import density as audit_density
from estgeo.audit import structured, tables
from estgeo.errors import EstgeoError


@dataclass
class CollectionAudit:
    collection: str
    withheld: int = 0
    sensitive: int | None = None  # withheld values whose true count is 1 … min_count − 1 (with truth)
    exposed: int = 0
    exact: int = 0
    widths: dict[str, int] = field(default_factory=dict)  # interval width → how many (sensitive, or all withheld)
    #: cell-key, with the true counts: share of the sensitive counts published exactly, and
    #: share an attacker who averages every published relation (least squares) gets exactly.
    exact_published: float | None = None
    exact_averaged: float | None = None
    mean_abs_perturbation: float | None = None
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
    method: str = "suppression"
    #: Why the density system was not solved, if it was not (kept for builds audited before
    #: the structured propagation, which audits every size).
    skipped: str = ""
    #: What the audit did not do in full (the exact stage left out above max_values).
    notes: list[str] = field(default_factory=list)

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


def _read(folder: Path, name: str, cells: bool = False) -> pd.DataFrame | None:
    """A collection's attributes as published (no geometry: the relations are in the ids).
    `cells`: the H3 ids as integers (`h3_cell`) instead of strings (`h3`), parsed off
    Arrow (`estgeo.audit.density.h3_ints_arrow`)."""
    path = folder / f"{name}.gpkg"
    if not path.exists():
        return None
    import pyogrio

    fields = pyogrio.read_info(path)["fields"]
    # Text columns the audit never reads are left out: reading them is most of the time.
    skip = {"id", "period", "problems", "reason", "reason_en", "reasons", "reasons_en"}
    # Through Arrow (GDAL's columnar reader): 0.3 s for 434,000 density rows, where the
    # row-by-row reader took 3.6 s. Period bounds are written as local wall times without
    # an offset; Arrow labels them UTC, the same wall time (`estgeo.audit.density._days`).
    _, table = pyogrio.read_arrow(path, read_geometry=False, columns=[f for f in fields if f not in skip])
    if cells and "h3" in table.column_names:
        h3_cell = audit_density.h3_ints_arrow(table.column("h3"))
        table = table.drop_columns(["h3"])
        if "period_kind" in table.column_names:
            # Four kinds over millions of rows: a dictionary, read as a Categorical (its
            # codes are the kind codes; strings were 2 s and np.unique over them 2.8 s).
            table = table.set_column(table.column_names.index("period_kind"), "period_kind",
                                     table.column("period_kind").dictionary_encode())
        frame = table.to_pandas()
        frame["h3_cell"] = h3_cell
        return frame
    return table.to_pandas()


def audit_folder(settings, folder: Path, truth_store=None, lp_max_vars: int = 60, tightest: int = 10,
                 max_values: int | None = None, averaging: bool = False,
                 proof: audit_density.Proof | None = None) -> AuditReport:
    """Audit the public collections of a build folder (module docstring).

    `max_values` (default privacy.audit_max_values, 20,000,000): above this many unknowns
    (withheld density values; with cell-key every count) the exact stage (LP/ILP on the
    small pieces, through the general system: about 600 bytes per unknown) is left out
    and the report says so; bound propagation runs on the table as it is, whatever its
    size (`estgeo.audit.structured`, 8 bytes per count).
    `averaging` (cell-key, with the true counts): also run the averaging attacker, a
    measurement for `estgeo privacy audit` and the benchmark, not a protection rule —
    it is three quarters of the audit's time (LSQR over the whole table), so a build
    leaves it out.
    `proof`: what the build's protect rounds proved (`estgeo.audit.density.Proof`, a
    cell-key build above privacy.audit_max_values): used when the files are that table.
    """
    started = time.perf_counter()
    k = settings.privacy_min_count
    public = set(public_collections(settings))
    density_names = sorted((n for n in public if n.startswith("incident-density-r")), key=lambda n: int(n.rsplit("r", 1)[1]))
    # Two files at a time, the largest first: GDAL's Arrow stream and the conversion run
    # without the GIL.
    by_size = sorted(density_names, key=lambda n: -(p.stat().st_size if (p := folder / f"{n}.gpkg").exists() else 0))
    with ThreadPoolExecutor(max_workers=2) as pool:
        reading = {n: pool.submit(_read, folder, n, True) for n in by_size}
        read = {n: reading[n].result() for n in density_names}
    frames = {n: f for n, f in read.items() if f is not None}
    del read
    from estgeo.layers import disclosure

    method = disclosure.method(settings)
    ptable = disclosure.perturbation_table(settings) if method == "cell-key" else None
    report = AuditReport(build=folder.name, min_count=k, with_truth=truth_store is not None, collections=[], method=method)
    if max_values is None:
        max_values = int((settings.project.get("privacy") or {}).get("audit_max_values", 20_000_000))
    if frames:
        report.collections.extend(_audit_density(settings, folder, frames, public, truth_store, lp_max_vars, tightest,
                                                 ptable, averaging, max_values, report, proof))
    if "interventions" in public and (frame := _read(folder, "interventions")) is not None:
        derived = _audit_derived(frame, k, ptable)
        if not _audit_follow_up_sums(settings, folder, public, derived):
            report.not_modelled.append("interventions: before_count and after_count over their own areas and windows "
                                       "against the density's cells and weeks (the build had no density to sum)")
        report.collections.append(derived)
    report.collections.extend(_audit_copies(settings, folder, public))
    for name, columns in AREA_COUNTS.items():
        if name in public and (frame := _read(folder, name)) is not None:
            checked = _audit_cell_sums(settings, folder, name, public, k, ptable)
            if checked is not None:
                report.collections.append(checked)
                continue
            report.collections.append(_audit_area_counts(name, frame, columns, k, ptable))
            report.not_modelled.append(f"{name}: its counts against the density cells and the other areas "
                                       "(differencing of overlapping geometries) — no public density at the resolution "
                                       "the counts are taken from")
    report.seconds = time.perf_counter() - started
    return report


#: Collections publishing counts of incidents around their own areas (circles, gaps, lamp
#: reaches): sums of the density's published cells (`estgeo.layers.cellsums`), checked by
#: `_audit_cell_sums`.
AREA_COUNTS = {"unsafe-places": ["incidents_nearby", "incidents_nearby_dark"], "dark-gaps": ["dark_incidents"],
               "lamps-out": ["dark_incidents"]}


def _audit_density(settings, folder: Path, frames: dict[str, pd.DataFrame], public: set[str], truth_store,
                   lp_max_vars: int, n_tightest: int, ptable=None, averaging: bool = False,
                   max_values: int = tables.LP_MAX_UNKNOWNS, report: AuditReport | None = None,
                   proof: audit_density.Proof | None = None) -> list[CollectionAudit]:
    from estgeo.layers.periods import PeriodScheme

    k = settings.privacy_min_count
    scheme = PeriodScheme.from_settings(settings)
    view = audit_density.published_table(frames, settings.taxonomy, scheme.lagesbild_nests_weeks, cell_key=ptable is not None,
                                         consume=True)
    # `perturbed` replaces the table's withheld mask and bounds, and no step writes its
    # values: what was published is kept by reference, not copied (1 GB a copy at a million).
    published_values = np.asarray(view.table.values, dtype=np.float64)
    published_withheld = view.table.withheld
    existence = view.existence if view.existence is not None else np.zeros(len(view.rows), dtype=np.int32)
    reusable = proof is not None and ptable is not None and (lp_max_vars < 2 or view.table.values.size > max_values)
    if ptable is not None:
        # With a proof that may be used the bounds may never be needed: made when they are.
        audit_density.perturbed(view, ptable, bounds=not reusable)
    copies_differ = False
    table, rows = view.table, view.rows
    w = table.width
    out: list[CollectionAudit] = []
    # Collections repeating density counts: each value they publish that the density withholds is a fact.
    key = view.index or audit_density.RowIndex(rows["cell"].to_numpy(dtype=np.uint64), rows["kind_code"].to_numpy(),
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
            if ptable is not None:
                # The same records give the same perturbed value; a different one is a second
                # observation of the count, and both supports hold.
                other = published_values.ravel()[cells] != value[pub]
                lo, hi = ptable.support(value[pub][other].astype(np.int64))
                if other.any():
                    audit_density.cell_key_bounds(view, ptable, published_withheld)
                    assert table.lower is not None and table.upper is not None
                    flat_lo, flat_hi = table.lower.reshape(-1), table.upper.reshape(-1)
                    np.maximum.at(flat_lo, cells[other], lo.astype(flat_lo.dtype))
                    np.minimum.at(flat_hi, cells[other], hi.astype(flat_hi.dtype))
                    copies_differ = True
                    note.notes.append(f"{int(other.sum())} value(s) of {theirs} differ from the density's {ours}: "
                                      "both supports bound the count")
                continue
            repeated = table.withheld.ravel()[cells]
            eq_cells.append(cells[repeated])
            eq_values.append(value[pub][repeated])
            clash = ~repeated & (np.asarray(table.values).ravel()[cells] != value[pub])
            if clash.any():
                note.notes.append(f"{int(clash.sum())} value(s) of {theirs} differ from the density's {ours}: not modelled as a fact")
            if repeated.any():
                note.notes.append(f"{int(repeated.sum())} value(s) of {theirs} published where the density withholds {ours}")
        out.append(note)
    if ptable is None:
        table.equal_cells = np.concatenate([np.asarray(c, dtype=np.int64) for c in eq_cells if c is not None])
        table.equal_values = np.concatenate([np.asarray(v, dtype=np.float64) for v in eq_values if v is not None])
    # The build's proof (`audit_density.Proof`): when the files are the very system its
    # protect rounds propagated, and this audit would only propagate too (no exact stage),
    # their fixed point and true counts are this audit's; any difference, and it works
    # them out again.
    reused, why = None, "no proof"
    unknowns = int(np.count_nonzero(table.withheld))
    if reusable:
        assert proof is not None
        reused, why = (None, "a repeated count narrows the bounds") if copies_differ else \
            audit_density.reuse(proof, view, existence, published_withheld)
    if reused is not None:
        audited = tables.AuditedBounds(reused[0], reused[1])
        if report is not None:
            report.notes.append("density: the files are the table the build's protect rounds propagated (rows, values, "
                                "withheld counts, existence bounds and relations compared entry for entry): its bounds "
                                "and true counts are used, not worked out again")
    else:
        if proof is not None and report is not None:
            report.notes.append(f"density: the build's proof not used ({why}): propagated again")
        if ptable is not None:
            audit_density.cell_key_bounds(view, ptable, published_withheld)
        audited = tables.audit_bounds(table, lp_max_vars, lp_max_unknowns=max_values)
    if unknowns > max_values and lp_max_vars >= 2 and report is not None:
        report.notes.append(f"density: {unknowns:,} unknowns, more than privacy.audit_max_values ({max_values:,}): "
                            "bound propagation only, no LP/ILP")
    truth = None if truth_store is None else reused[2] if reused is not None else _truth(settings, truth_store, view)
    averaged = None
    if averaging and ptable is not None and truth is not None:
        n_unknown = int(np.count_nonzero(table.withheld))
        if n_unknown <= max_values:
            ts = audited.system or tables.table_system(table)
            averaged = np.zeros(table.values.shape)
            averaged.ravel()[ts.cells] = averaging_attacker(ts, published_values.ravel()[ts.cells])
        elif report is not None:
            report.notes.append(f"averaging attacker not run: {n_unknown:,} counts, more than privacy.audit_max_values")
    # Per collection: the rows are the collections one after the other, so each is one
    # run of rows, and every figure is one compiled pass over the bounds (`structured.tally`).
    names = list(frames)
    # `published_table` puts the frames' rows one collection after the other, in order.
    first_row = np.concatenate([[0], np.cumsum([len(frames[name]) for name in names])]).astype(np.int64)
    cell_key = ptable is not None and truth is not None
    tl = structured.tally(audited.lb, audited.ub, table.withheld, k, first_row, truth,
                          published_values if cell_key else None, ~published_withheld if cell_key else None, averaged)
    lb_cm, ub_cm = audited.lb.T.reshape(-1), audited.ub.T.reshape(-1)
    n_rows = table.values.shape[0]
    for i_name, name in enumerate(names):
        audit = CollectionAudit(name, withheld=int(tl.withheld[i_name]))
        if truth is not None:
            audit.sensitive = int(tl.sensitive[i_name])
        audit.exposed = int(tl.exposed[i_name])
        audit.exact = int(tl.exact[i_name])
        if cell_key:
            small_any = tl.sensitive[i_name] > 0
            n_shown, n_small_shown = tl.shown[i_name], tl.small_shown[i_name]
            audit.mean_abs_perturbation = round(float(tl.abs_error[i_name] / n_shown), 3) if n_shown else 0.0
            audit.exact_published = (round(float(tl.exact_published[i_name] / n_small_shown), 3) if n_small_shown else float("nan")) if small_any else 0.0
            if averaged is not None:
                audit.exact_averaged = round(float(tl.exact_averaged[i_name] / tl.sensitive[i_name]), 3) if small_any else 0.0
        audit.widths = {("≥99" if v >= 99 else str(int(v))): int(tl.widths[i_name, v]) for v in np.flatnonzero(tl.widths[i_name])}
        idx = tl.exposed_cells[(tl.exposed_cells >= first_row[i_name] * w) & (tl.exposed_cells < first_row[i_name + 1] * w)]
        at = (idx % w) * n_rows + idx // w
        lo, hi = lb_cm[at].astype(np.int64), ub_cm[at].astype(np.int64)
        for j in np.argsort(hi - lo, kind="stable")[:n_tightest]:
            r = rows.iloc[int(idx[j] // w)]
            audit.tightest.append({
                "cell": f"{int(r['cell']):015x}", "period_kind": r["period_kind"],
                "period": str(np.datetime64(int(r["period_start"]), "D")), "column": view.columns[int(idx[j] % w)],
                "interval": [int(lo[j]), int(hi[j]) if hi[j] < structured.INF else None]})
        out.append(audit)
    out.extend(_audit_gi(settings, frames, view, published_values[:, 0], published_withheld[:, 0]))
    return out


def averaging_attacker(ts: tables.TableSystem, published: np.ndarray, iterations: int = 300) -> np.ndarray:
    """The least-squares attacker against perturbed counts: the values closest to the
    published ones that satisfy every published relation exactly (the projection of the
    published vector onto the null space of the relations, by LSQR), rounded. Averaging
    over the many relations a count is part of is the way to cancel independent noise;
    where it gives the true small count more often than the published value does, the
    noise is averaging away."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import lsqr

    terms = ts.terms
    if terms.con.size == 0:
        return np.round(published)
    var_of = np.full(int(ts.cells.max()) + 1 if ts.cells.size else 0, -1, dtype=np.int64)
    var_of[ts.cells] = np.arange(ts.cells.size)
    v = var_of[terms.cell]
    keep = v >= 0
    m = int(terms.con.max()) + 1
    a = csr_matrix((terms.coef[keep], (terms.con[keep], v[keep])), shape=(m, ts.cells.size))
    lam = lsqr(a.T.tocsr(), published, iter_lim=iterations, atol=1e-8, btol=1e-8)[0]
    return np.maximum(np.round(published - a.T @ lam), 0.0)


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
    at = audit_density.table_index(table).find(view.rows["cell"].to_numpy(dtype=np.uint64), view.rows["kind_code"].to_numpy(),
                    view.rows["period_start"].to_numpy(dtype=np.int64))
    names = columns.names
    have = [j for j, name in enumerate(view.columns) if name in names]
    theirs = [names.index(view.columns[j]) for j in have]
    if have == list(range(len(view.columns))) and theirs == list(range(len(names))) and (at >= 0).all():
        # Every row found and the columns in the builder's order (as it publishes them): one
        # gather of rows, not a 2-D fancy index (1.3 s for 38 million counts).
        return counts[at].astype(np.float64, copy=False)
    truth = np.zeros((len(view.rows), len(view.columns)))
    found = np.flatnonzero(at >= 0)
    truth[np.ix_(found, have)] = counts[np.ix_(at[found], theirs)]
    return truth


def _audit_gi(settings, frames: dict[str, pd.DataFrame], view: audit_density.PublishedDensity, counts: np.ndarray,
              hidden: np.ndarray) -> list[CollectionAudit]:
    """Is every published gi_z what the published counts give (withheld = min_count / 2)?"""
    from estgeo.layers import hotspots, privacy

    k = settings.privacy_min_count
    k_ring = int(settings.project.get("h3", {}).get("gi_k_ring", 1))
    out = []
    rows = view.rows
    for name, frame in frames.items():
        if "gi_z" not in frame:
            continue
        audit = CollectionAudit(f"{name} (Gi*)")
        at0 = sum(len(frames[other]) for other in list(frames)[:list(frames).index(name)])
        sel = np.arange(at0, at0 + len(frame))  # the collections' rows follow each other (`published_table`)
        z_pub = pd.to_numeric(frame["gi_z"], errors="coerce").to_numpy(dtype=np.float64)
        decimals = _decimals(z_pub)
        cells = rows["cell"].to_numpy(dtype=np.uint64)[sel]
        kinds = rows["kind_code"].to_numpy()[sel]  # codes: np.unique over strings was 0.5 s at a million
        starts = rows["period_start"].to_numpy()[sel]
        # The study area is built around the cells with incidents: at a resolution with
        # finer rows published those are the cells with child rows, else every cell.
        parent = view.table.row_sums[0].parent
        has_child = np.zeros(len(rows), dtype=bool)
        has_child[parent[parent >= 0]] = True
        finer = (rows["resolution"].to_numpy() > rows["resolution"].to_numpy()[sel][0]).any()
        occupied = np.unique(cells[(kinds == audit_density.KINDS.index("all")) & (has_child[sel] if finer else True)])
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
                audit.tightest.append({"cell": f"{cells[in_kind][i]:x}", "period_kind": audit_density.KINDS[kind],
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


def _cell_sum_spec(settings, name: str) -> dict | None:
    """How `name`'s counts are taken from the density (the layer's parameters): the
    resolution, the distance (a number or a column), the density columns per published
    column, the period kind and the column holding the first period."""
    from estgeo.layers.lighting.params import merged_params

    layer = next((lay for lay in settings.layers if any(c["id"] == name for c in lay.get("collections", []))), None)
    if layer is None:
        return None
    params = dict(layer.get("params") or {})
    finest = max(settings.h3_resolutions)
    if name == "unsafe-places":
        dark = [f"light_{c}" for c in params.get("dark_conditions", ["darkness"])]
        return {"res": int(params.get("area_counts_resolution") or finest), "distance": float(params["incident_radius_m"]),
                "columns": {"incidents_nearby": ["count"], "incidents_nearby_dark": dark}, "kind": "month",
                "since": "incidents_since"}
    opts = merged_params(params)
    dark = [f"light_{c}" for c in opts["dark_conditions"]]
    distance = float(opts["gaps"]["evidence_radius_m"]) if name == "dark-gaps" else "reach_m"
    return {"res": int(opts["area_counts_resolution"] or finest), "distance": distance,
            "columns": {"dark_incidents": dark}, "kind": "all", "since": None}


def _compare_sums(audit: CollectionAudit, frame: pd.DataFrame, column: str, shown: np.ndarray,
                  expect: pd.arrays.IntegerArray, blank: np.ndarray, what: str) -> None:
    """A published count must be the sum of the density's published terms, and blank where
    one of them is: one published where a term is blank, or with another value, is a count
    of its own, and exposed (the first five named)."""
    want = expect.to_numpy(dtype=np.float64, na_value=np.nan)
    hidden = np.isnan(shown)
    off = (~hidden & blank) | (~hidden & ~blank & (shown != want))
    audit.exposed += int(off.sum())
    for i in np.flatnonzero(off)[:5]:
        audit.tightest.append({"cell": str(frame["id"].iloc[i]) if "id" in frame else str(i), "column": column,
                               "note": f"{column} = {shown[i]:g} is not the sum of the density's published {what} "
                                       f"({'blank' if blank[i] else f'{want[i]:g}'})"})


def _audit_cell_sums(settings, folder: Path, name: str, public: set[str], k: int, ptable) -> CollectionAudit | None:
    """Counts around areas are sums of the density's published cells (`estgeo.layers.cellsums`):
    recomputed here from the published geometry, the configured distance and the published
    density, every published count must be that sum and every blank one a sum with a
    blank term — then the collection tells nothing the density does not, and whatever
    the density withholds stays withheld (it is audited above). A count that differs is
    a look at the incidents through another window, and counted as exposed. None when
    the density of that resolution is not public (then there is nothing to sum)."""
    import pyogrio

    from estgeo.layers import cellsums

    spec = _cell_sum_spec(settings, name)
    if spec is None or f"incident-density-r{spec['res']}" not in public:
        return None
    density = _read(folder, f"incident-density-r{spec['res']}")
    frame = pyogrio.read_dataframe(folder / f"{name}.gpkg")
    if density is None:
        return None
    audit = CollectionAudit(name)
    distance = spec["distance"]
    if isinstance(distance, str):
        distance = pd.to_numeric(frame[distance], errors="coerce").to_numpy(dtype=np.float64)
    pairs = cellsums.touched_cells(frame.geometry.to_numpy(), distance, spec["res"])
    since = None
    if spec["since"] is not None and spec["since"] in frame and frame[spec["since"]].notna().any():
        since = frame[spec["since"]].dropna().iloc[0]
    for column, terms in spec["columns"].items():
        if column not in frame:
            continue
        shown = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        expect, blank = cellsums.published_sums(pairs, len(frame), density, terms, spec["kind"], since)
        hidden = np.isnan(shown)
        audit.withheld += int(hidden.sum()) if ptable is None else int((~hidden).sum())
        _compare_sums(audit, frame, column, shown, expect, blank, "cells")
    audit.notes.append(f"every count a sum of the published incident-density-r{spec['res']} cells its area touches")
    return audit


def _audit_follow_up_sums(settings, folder: Path, public: set[str], audit: CollectionAudit) -> bool:
    """interventions: before_count and after_count must be sums of the density's published
    week counts of the target's cells (`cellsums.follow_up_sums`), over the weeks the
    collection says (before_from, after_from, window_weeks); any other value is a window
    of its own on the incidents and counted as exposed. False when there is nothing to
    check against (a build without the density, or counts not taken from it)."""
    import pyogrio

    from estgeo.layers import cellsums

    frame = pyogrio.read_dataframe(folder / "interventions.gpkg")
    if not {"before_from", "after_from", "window_weeks"}.issubset(frame.columns) or frame.empty:
        return False
    layer: dict[str, Any] = next((lay for lay in settings.layers
                                  if any(c["id"] == "interventions" for c in lay.get("collections", []))), {})
    res = int((layer.get("params") or {}).get("area_counts_resolution") or max(settings.h3_resolutions))

    def density(r: int) -> pd.DataFrame | None:
        name = f"incident-density-r{r}"
        return _read(folder, name) if name in public else None

    areas = [None if g is None or g.is_empty else g for g in frame.geometry.to_numpy()]
    sums = cellsums.follow_up_sums(frame["target"].fillna("").astype(str).tolist(), areas, frame["before_from"],
                                   frame["after_from"], int(frame["window_weeks"].iloc[0]), density, res)
    if sums is None:
        return False
    for column, (expect, blank) in zip(("before_count", "after_count"), sums, strict=True):
        shown = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        _compare_sums(audit, frame, column, shown, expect, blank, "weeks")
    audit.notes.append("before_count and after_count sums of the published density weeks of the target's cells")
    return True


def _audit_area_counts(name: str, frame: pd.DataFrame, columns: list[str], k: int, ptable) -> CollectionAudit:
    """Counts over a collection's own areas, on their own: a withheld count is [1, k − 1]
    on its own, a perturbed one the support of its value. (Against the density cells and
    each other these counts are not modelled yet: the report says so.)"""
    audit = CollectionAudit(name)
    widths: list[np.ndarray] = []
    for column in columns:
        if column not in frame:
            continue
        value = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        if ptable is not None:
            lo, hi = ptable.support(np.nan_to_num(value).astype(np.int64))
            audit.withheld += int(np.isfinite(value).sum())
            width = (hi - lo).astype(np.float64)
            narrow = (width < max(k - 2, 1)) & (lo <= k - 1) & (hi >= 1)
        else:
            hidden = np.isnan(value)
            audit.withheld += int(hidden.sum())
            width = np.full(int(hidden.sum()), float(k - 2))
            narrow = np.zeros(hidden.sum(), dtype=bool)
        widths.append(width)
        audit.exposed += int(narrow.sum())
    if widths:
        vals, counts = np.unique(np.minimum(np.concatenate(widths), 99), return_counts=True)
        audit.widths = {("≥99" if v >= 99 else str(int(v))): int(c) for v, c in zip(vals, counts, strict=True)}
    return audit


#: Collections that publish rows of the default-resolution density unchanged: the
#: default collection and the latest lägesbild period (`estgeo.layers.density.latest_lagesbild`).
COPIES = ("incident-density", "incident-density-lagesbild")


def _audit_copies(settings, folder: Path, public: set[str]) -> list[CollectionAudit]:
    """Each row of a copy must be a row of `incident-density-r<default>` with every value
    the same (withheld where it is withheld): a copy then tells nothing the density does
    not, and the density is audited. A row the density does not have, or any value that
    differs, is counted as exposed — a copy that published its own numbers would be a
    second, unaudited look at the incidents."""
    res = int((settings.project.get("h3") or {}).get("default_resolution", 9))
    source_name = f"incident-density-r{res}"
    names = [n for n in COPIES if n in public and (folder / f"{n}.gpkg").exists()]
    if not names or not (folder / f"{source_name}.gpkg").exists():
        return []
    import pyogrio

    source = pyogrio.read_dataframe(folder / f"{source_name}.gpkg", read_geometry=False).set_index("id")
    out = []
    for name in names:
        copy = pyogrio.read_dataframe(folder / f"{name}.gpkg", read_geometry=False)
        audit = CollectionAudit(name)
        found = copy["id"].isin(source.index).to_numpy()
        audit.exposed += int((~found).sum())
        theirs = copy[found].set_index("id")
        ours = source.loc[theirs.index]
        differ = np.zeros(len(theirs), dtype=bool)
        first = np.full(len(theirs), "", dtype=object)
        for column in theirs.columns:
            if column not in ours.columns:
                audit.exposed += len(theirs)
                audit.notes.append(f"{column}: not a column of {source_name}")
                continue
            a, b = theirs[column], ours[column]
            same = (a.to_numpy() == b.to_numpy()) | (a.isna().to_numpy() & b.isna().to_numpy())
            first[~same & ~differ] = column
            differ |= ~same
            if pd.api.types.is_numeric_dtype(a):
                audit.withheld += int(a.isna().sum())
        audit.exposed += int(differ.sum())
        for i in np.flatnonzero(differ)[:5]:
            row = theirs.iloc[int(i)]
            audit.tightest.append({"cell": str(row.get("h3", theirs.index[i])), "period_kind": str(row.get("period_kind", "")),
                                   "period": str(row.get("period_start", ""))[:10], "column": first[i],
                                   "note": f"not the value of {source_name}"})
        bad = theirs.index[differ][:5].tolist() + copy["id"][~found].head(5).tolist()
        audit.notes.append(f"{len(copy):,} rows, each a row of {source_name}"
                           + ("" if not audit.exposed else f"; not so for {audit.exposed}: {', '.join(map(str, bad[:5]))}"))
        out.append(audit)
    return out


def _audit_derived(frame: pd.DataFrame, k: int, ptable=None) -> CollectionAudit:
    """interventions: no change, percentage or flag beside a withheld before/after count,
    and every published change and percentage what the published counts give (one from
    the true counts would give them away)."""
    audit = CollectionAudit("interventions")
    before = pd.to_numeric(frame.get("before_count"), errors="coerce")
    after = pd.to_numeric(frame.get("after_count"), errors="coerce")
    withheld = before.isna() | after.isna()
    audit.withheld = int(before.isna().sum() + after.isna().sum()) if ptable is None else int(before.notna().sum() + after.notna().sum())
    shown_change = pd.to_numeric(frame.get("change"), errors="coerce")
    shown_pct = pd.to_numeric(frame.get("change_pct"), errors="coerce")
    both = ~withheld
    off_change = both & shown_change.notna() & (shown_change != after - before)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.round(100.0 * (after - before) / before.where(before > 0), 1)
    off_pct = both & shown_pct.notna() & ((shown_pct - pct).abs() > 0.05 + 1e-9)
    for column, off in (("change", off_change), ("change_pct", off_pct)):
        if off.any():
            audit.exposed += int(off.sum())
            for _, r in frame[off].head(5).iterrows():
                audit.tightest.append({"cell": str(r.get("id")), "column": column,
                                       "note": f"{column} = {r[column]} is not what the published counts give"})
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
        row = [c.collection, f"{c.withheld:,}", "" if c.sensitive is None else f"{c.sensitive:,}", f"{c.exposed:,}",
               f"{c.exact:,}"]
        if report.method == "cell-key":
            row += ["" if c.mean_abs_perturbation is None else f"{c.mean_abs_perturbation:.2f}",
                    "" if c.exact_published is None else f"{100 * c.exact_published:.1f} %",
                    "" if c.exact_averaged is None else f"{100 * c.exact_averaged:.1f} %"]
        out.append([*row, widths])
    return out
