"""Benchmark: the privacy audit beside the build it audits.

    python benchmarks/privacy.py [--incidents 1000000 10000000] [--method cell-key|suppression]
                                 [--rows sparse|grid] [--lp-max-vars 0]

For each size, in a fresh child process and on the same synthetic incidents as
benchmarks/density.py, the script times:

* **the anchor, the density build**: `estgeo.layers.density.build` (all resolutions,
  period kinds, Gi*, the frames; with cell-key (the default) the perturbation and the
  audit rounds that withhold what is still exposed, `protect_perturbed`; with
  suppression the rules — with `--rows grid` also the audited complements) plus writing
  the public density collections as GeoPackages;
* **the audit**: `estgeo.build.audit.audit_folder` on those files, with the true counts
  recomputed (as `estgeo build` runs it), bound propagation and, with `--lp-max-vars`,
  the LP/ILP pieces.

Printed: seconds of each; the audit's share: the audit after the build plus the audit
rounds inside it (cell-key's protect step, the whole of it: its audits, the tables it
builds for them and the choice of what to withhold), against the build without them, and that
share against the target (at most 25 %); sensitive counts (true 1–4), withheld and
exposed ones; peak memory.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET_SHARE = 0.25


class _Incidents:
    def __init__(self, frame):
        self.frame = frame

    def read(self, kind):
        return self.frame


def one(n: int, method: str, rows: str, lp_max_vars: int, max_values: int | None = None,
        secret: str = "bench7secret0016") -> dict:
    from density import synthetic_incidents

    from estgeo.build import audit as public
    from estgeo.config import load_settings
    from estgeo.layers import density
    from estgeo.layers.context import BuildContext

    work = Path(tempfile.mkdtemp(prefix="estgeo-privacy-bench-"))
    settings = load_settings(workspace=work)
    project = copy.deepcopy(settings.project)
    project["privacy"]["rows"] = rows
    project["privacy"]["method"] = method
    if max_values is not None:
        project["privacy"]["audit_max_values"] = max_values
    settings = dataclasses.replace(settings, project=project)
    # One secret for every run: the perturbations (and so what the audit rounds withhold)
    # are then the same from run to run, and two versions of the code compare like with like.
    from estgeo.layers import disclosure

    disclosure.write_secret(settings, secret)
    incidents = synthetic_incidents(n, settings=settings)
    started = time.perf_counter()
    ctx = BuildContext(settings=settings, read=lambda kind: incidents, out_dir=work)
    layer = next(lay for lay in settings.layers if lay["builder"] == "density")
    frames = density.build(ctx, dict(layer.get("params") or {}))
    built = time.perf_counter()
    folder = work / "build"
    folder.mkdir()
    for name, frame in frames.items():
        if name.startswith("incident-density-r") or name == "hotspots":
            frame.to_file(folder / f"{name}.gpkg", layer=name, driver="GPKG", engine="pyogrio")
    written = time.perf_counter()
    withheld = sum(int(f[[c for c in f.columns if c == "count" or c.startswith(("grp_", "cat_", "light_"))]].isna().to_numpy().sum())
                   for k, f in frames.items() if k.startswith("incident-density-r"))
    density_rows = int(sum(len(f) for k, f in frames.items() if k.startswith("incident-density-r")))
    # As `estgeo build` does: the frames are written and let go before the audit reads the files.
    proof = (ctx.built.get("density:privacy") or {}).pop("proof", None)
    protect = (ctx.built.get("density:privacy") or {}).get("protect")
    del frames
    ctx.built = {}
    auditing = time.perf_counter()
    # privacy.audit_max_values (the build's guard: the attacker's system needs about 600
    # bytes per unknown) unless --max-values says otherwise.
    # With the build's proof, as `estgeo build` runs it (`estgeo.audit.density.reuse`).
    report = public.audit_folder(settings, folder, truth_store=_Incidents(incidents), lp_max_vars=lp_max_vars,
                                 max_values=max_values, averaging=False, proof=proof)
    audited = time.perf_counter()
    dens = [c for c in report.collections if c.collection.startswith("incident-density-r") and "Gi" not in c.collection]
    return {"incidents": n, "method": method, "rows": rows, "protect_s": round(protect.seconds, 2) if protect else 0.0,
            "protect_rounds": protect.rounds if protect else 0, "withheld_published": withheld, "density_rows": density_rows,
            "build_s": round(built - started, 2), "write_s": round(written - built, 2), "audit_s": round(audited - auditing, 2),
            "withheld": sum(c.withheld for c in dens), "sensitive": sum(c.sensitive or 0 for c in dens),
            "exposed": report.exposed, "skipped": report.skipped, "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--method", choices=["cell-key", "suppression"], default="cell-key")
    parser.add_argument("--rows", choices=["sparse", "grid"], default="sparse")
    parser.add_argument("--lp-max-vars", type=int, default=0)
    parser.add_argument("--max-values", type=int, default=None, help="privacy.audit_max_values for this run")
    parser.add_argument("--secret", default="bench7secret0016", help="the cell-key secret (16 characters)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.method, args.rows, args.lp_max_vars, args.max_values, args.secret)))
        return
    print(f"{'incidents':>11} {'method':>11} {'density rows':>13} {'build s':>8} {'of it audit':>11} {'write s':>8} "
          f"{'audit s':>8} {'audit/build':>11} {'vs target':>9} {'sensitive':>10} {'withheld':>9} {'exposed':>8} {'peak MB':>8}")
    for n in args.incidents:
        extra = ["--max-values", str(args.max_values)] if args.max_values is not None else []
        done = subprocess.run([sys.executable, __file__, "--child", str(n), "--method", args.method, "--rows", args.rows,
                               "--lp-max-vars", str(args.lp_max_vars), "--secret", args.secret, *extra], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{n:>11,} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        anchor = r["build_s"] - r["protect_s"] + r["write_s"]
        share = (r["audit_s"] + r["protect_s"]) / anchor if anchor else float("nan")
        method = r["method"] + ("" if r["method"] == "cell-key" else f"/{r['rows']}")
        print(f"{r['incidents']:>11,} {method:>11} {r['density_rows']:>13,} {r['build_s']:>8.1f} {r['protect_s']:>11.1f} "
              f"{r['write_s']:>8.1f} {r['audit_s']:>8.1f} {share:>10.0%} {share / TARGET_SHARE:>8.2f}x {r['sensitive']:>10,} "
              f"{r['withheld_published']:>9,} {r['exposed']:>8,} {r['peak_mb']:>8,}")
        if r["skipped"]:
            print(f"{'':>11} not audited: {r['skipped']}")


if __name__ == "__main__":
    main()
