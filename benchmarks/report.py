"""Benchmark: time to write the lägesbild report (HTML and PDF) for a built workspace.

    python benchmarks/report.py --workspace var                       # the demo (./dev run)
    python benchmarks/report.py --workspace /tmp/big --repeat 3       # e.g. after `estgeo demo --incidents 1000000`

For each profile (public: published layers only; internal: the store) and each step —
composing the content (reading layers or the store, statistics, matplotlib figures),
rendering the HTML, rendering the PDF with WeasyPrint — the script prints the median
wall time over `--repeat` runs, the report's size and the number of incidents behind it.
Peak memory is the process's maximum resident set size (ru_maxrss) after all runs.
Each profile runs in a fresh child process so one does not inherit the other's peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_profile(workspace: Path, profile: str, repeat: int, period: str) -> dict[str, object]:
    from estgeo.config import load_settings
    from estgeo.report.content import ReportOptions, compose
    from estgeo.report.render import render_html, render_pdf
    from estgeo.store import SqliteStore

    settings = load_settings(workspace=workspace)
    store = SqliteStore(settings.store_path, settings.model)
    times: dict[str, list[float]] = {"compose": [], "html": [], "pdf": []}
    for _ in range(repeat):
        started = time.perf_counter()
        report = compose(settings, ReportOptions(period=period, profile=profile), store=store)
        times["compose"].append(time.perf_counter() - started)
        started = time.perf_counter()
        html = render_html(report)
        times["html"].append(time.perf_counter() - started)
        started = time.perf_counter()
        pdf = render_pdf(html)
        times["pdf"].append(time.perf_counter() - started)
    total = next(r for r in report.data["summary"]["rows"] if r["column"] == "count")
    return {
        "profile": profile,
        "incidents_in_store": store.count("incidents"),
        "incidents_in_period": total["current"],
        "period": report.data["meta"]["period"]["current"]["start"] + ".." + report.data["meta"]["period"]["current"]["last_day"],
        **{f"{step}_s": round(statistics.median(values), 2) for step, values in times.items()},
        "total_s": round(sum(statistics.median(v) for v in times.values()), 2),
        "html_mb": round(len(html.encode("utf-8")) / 1e6, 2),
        "pdf_mb": round(len(pdf) / 1e6, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True, help="A workspace after `estgeo demo` and `estgeo build`.")
    parser.add_argument("--profiles", nargs="+", default=["public", "internal"], choices=["public", "internal"])
    parser.add_argument("--period", default="latest")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_profile(args.workspace, args.profiles[0], args.repeat, args.period)))
        return
    header = ("profile", "incidents_in_store", "incidents_in_period", "compose_s", "html_s", "pdf_s", "total_s", "html_mb",
              "pdf_mb", "peak_rss_mb")
    print("\t".join(header))
    for profile in args.profiles:
        child = subprocess.run([sys.executable, __file__, "--workspace", str(args.workspace), "--profiles", profile,
                                "--repeat", str(args.repeat), "--period", args.period, "--child"],
                               capture_output=True, text=True, check=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print("\t".join(str(result[h]) for h in header), flush=True)


if __name__ == "__main__":
    main()
