"""The lägesbild report: the same data the map shows, written up as HTML and PDF.

Every week or two the EST operative group needs a *lägesbild* (situation picture); once a
year the municipality documents its mapping and analysis under Lag (2023:196) §4. This
package writes that document from the published layers (public profile) or from the store
(internal profile): summary figures against the previous period and last year with exact
tests, maps, the busiest cells, unsafe places, lamps out near hot spots, intervention
follow-up, an analysis of what changed significantly, and the data sources.

Modules: `periods` (which windows), `area` (which cells), `data` (where the numbers come
from, per profile), `stats` (the tests), `figures` (matplotlib), `texts` (Swedish and
English), `content` (what each section says), `render` (HTML and PDF).

The weekday × hour table needs single incidents' times, which no public layer carries, so
it appears in the internal report only; the public report shows the daylight/darkness
split instead, which is published.
"""

from __future__ import annotations

from pathlib import Path

from estgeo.config import Settings


def make_report(settings: Settings, period: str = "latest", area: str | None = None, profile: str = "public",
                lang: str = "sv", out_dir: Path | None = None, store=None, pdf: bool = True) -> dict[str, Path]:
    """Compose and write the report; return the paths of the HTML and PDF files.

    The public profile needs only the published layers (the store, when given, adds the
    ingest log to the data sources section); the internal profile needs the store.
    """
    from estgeo.report.content import ReportOptions, compose
    from estgeo.report.render import write_report

    report = compose(settings, ReportOptions(period=period, area=area, profile=profile, lang=lang), store=store)
    return write_report(report, Path(out_dir or settings.workspace / "reports"), pdf=pdf)
