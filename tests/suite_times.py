"""Time per suite of each `./dev test` pass, from the passes' JUnit XML (not a test module).

    python tests/suite_times.py SYNC_DIR embedded postgis

A suite is a folder of tests/ (tests/publish, tests/clients, …) or a top-level test file.
A test's time is its setup, call and teardown (pytest's JUnit default), so a module's
server start counts where it happens. Printed after the passes so that the time a
suite costs is in every CI log, next to the wall time of each pass.
"""

from __future__ import annotations

import collections
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def suite_seconds(report: Path) -> dict[str, float]:
    seconds: dict[str, float] = collections.defaultdict(float)
    for case in ET.parse(report).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")  # tests.publish.test_load[.Class]
        folder = len(parts) > 2 and not parts[1].startswith("test_")
        suite = "/".join(parts[:2]) if folder else "/".join(parts[:2]) + ".py"
        seconds[suite] += float(case.get("time") or 0)
    return seconds


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):d}:{int(seconds % 60):02d}"


def main(sync: Path, passes: list[str]) -> None:
    seconds = {name: suite_seconds(sync / f"{name}.xml") if (sync / f"{name}.xml").exists() else {}
               for name in passes}
    print(f"{'suite (min:s)':<28}" + "".join(f"{name:>14}" for name in passes))
    for suite in sorted(set().union(*seconds.values())):
        print(f"{suite:<28}" + "".join(f"{_clock(seconds[name].get(suite, 0)):>14}" for name in passes))
    print(f"{'sum':<28}" + "".join(f"{_clock(sum(seconds[name].values())):>14}" for name in passes))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
