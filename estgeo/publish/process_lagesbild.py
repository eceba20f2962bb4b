"""The OGC API – Processes process `lagesbild`: the lägesbild report, asked of the server.

A client POSTs ``/processes/lagesbild/execution`` with ``{"inputs": {"period": "latest",
"area": "<H3 cell or polygon>", "language": "sv", "format": "pdf"}}`` and gets the PDF (or
the self-contained HTML) back — synchronously, or as a job with ``Prefer: respond-async``
(pygeoapi's TinyDB job manager, a file in the workspace: no database server).

The server's profile decides what the report may contain: the public server writes the
public report, built from the published layers only; the authenticated internal server
(`estgeo.publish.access`) writes the internal one. A client cannot choose the profile.

`processes(settings, profile)` and `process_manager(settings, profile)` are what
`estgeo.publish.pygeoapi_config` merges into the generated configuration. The report
machinery (matplotlib, WeasyPrint) is imported only when the process runs.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from estgeo.config import Settings
from estgeo.errors import EstgeoError

PROCESS_ID = "lagesbild"
PROCESSOR = "estgeo.publish.process_lagesbild.LagesbildProcessor"
FORMATS = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": PROCESS_ID,
    "title": {"sv": "Lägesbild", "en": "Situation report (lägesbild)"},
    "description": {
        "sv": (
            "Skriver lägesbilden för en period som PDF eller fristående HTML: händelser mot föregående period och samma "
            "period i fjol med exakta test, kartor över täthet, hot spots och framväxande hot spots, dagsljus och mörker, "
            "de mest belastade cellerna, otrygga platser, släckta lampor nära hot spots, uppföljning av åtgärder, analys "
            "och datakällor. Den offentliga servern bygger rapporten enbart från de publicerade lagren."
        ),
        "en": (
            "Writes the situation report (lägesbild) for a period as PDF or self-contained HTML: incidents against the "
            "previous period and the same period last year with exact tests, maps of density, hot spots and emerging hot "
            "spots, daylight and darkness, the busiest cells, unsafe places, lamps out near hot spots, intervention "
            "follow-up, analysis and data sources. The public server builds it from the published layers only."
        ),
    },
    "jobControlOptions": ["sync-execute", "async-execute"],
    "outputTransmission": ["value"],
    "keywords": ["EST", "lägesbild", "trygghet", "rapport", "report"],
    "links": [],
    "inputs": {
        "period": {
            "title": {"sv": "Period", "en": "Period"},
            "description": {
                "sv": "'latest' (senaste hela lägesbildsperiod) eller första..sista dag, t.ex. 2026-01-01..2026-12-31 (hela veckor, lägesbildsperioder eller månader).",
                "en": "'latest' (the latest complete lägesbild period) or first..last day, e.g. 2026-01-01..2026-12-31 (whole weeks, lägesbild periods or months).",
            },
            "schema": {"type": "string", "default": "latest"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "area": {
            "title": {"sv": "Område", "en": "Area"},
            "description": {
                "sv": "Ett H3-cell-id eller en polygon som WKT eller GeoJSON (lon/lat, eller SWEREF 99 TM öst/nord). Utan: hela kommunen.",
                "en": "An H3 cell id or a polygon as WKT or GeoJSON (lon/lat, or SWEREF 99 TM easting/northing). Without: the whole municipality.",
            },
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "language": {
            "title": {"sv": "Språk", "en": "Language"},
            "schema": {"type": "string", "enum": ["sv", "en"], "default": "sv"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "format": {
            "title": {"sv": "Format", "en": "Format"},
            "description": {"sv": "pdf eller html", "en": "pdf or html"},
            "schema": {"type": "string", "enum": list(FORMATS), "default": "pdf"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "report": {
            "title": {"sv": "Lägesbild", "en": "Situation report"},
            "schema": {"oneOf": [
                {"type": "string", "contentEncoding": "binary", "contentMediaType": "application/pdf"},
                {"type": "string", "contentMediaType": "text/html"},
            ]},
        }
    },
    "example": {"inputs": {"period": "latest", "language": "sv", "format": "pdf"}},
}


class LagesbildInputError(ProcessorExecuteError):
    """An input the report cannot use; pygeoapi answers 400 with the message."""

    http_status_code = HTTPStatus.BAD_REQUEST
    ogc_exception_code = "InvalidParameterValue"


def processes(settings: Settings, profile: str = "public") -> dict[str, Any]:
    """The `resources` entry of the process, with what the processor needs to find the workspace;
    empty until a build has published the density layer the report is made from."""
    default = settings.project.get("h3", {}).get("default_resolution")
    if not (settings.published_dir / "current" / f"incident-density-r{default}.gpkg").exists():
        return {}
    return {
        PROCESS_ID: {
            "type": "process",
            "processor": {
                "name": PROCESSOR,
                "workspace": str(settings.workspace),
                "config_dir": str(settings.config_dir),
                "layers_dir": str(settings.layers_dir),
                "profile": profile,
            },
        }
    }


def process_manager(settings: Settings, profile: str = "public") -> dict[str, Any]:
    """The job manager (`estgeo.publish.jobs`): pygeoapi's TinyDB manager, jobs and their
    results as files in the workspace (async without a database), with bounds."""
    folder = settings.workspace / ("jobs" if profile == "public" else f"jobs-{profile}")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    jobs = dict(settings.server.get("jobs") or {})
    return {"name": "estgeo.publish.jobs.BoundedJobManager", "connection": str(folder / "jobs.json"),
            "output_dir": str(folder), "max_active": int(jobs.get("max_active", 2)),
            "keep_hours": float(jobs.get("keep_hours", 24))}


class LagesbildProcessor(BaseProcessor):
    """Runs `estgeo.report` for one request; see the module docstring."""

    def __init__(self, processor_def: dict[str, Any]):
        super().__init__(processor_def, PROCESS_METADATA)
        self.supports_outputs = True
        self.workspace = processor_def["workspace"]
        self.config_dir = processor_def.get("config_dir")
        self.layers_dir = processor_def.get("layers_dir")
        self.profile = processor_def.get("profile", "public")

    def execute(self, data: dict[str, Any], outputs: dict[str, Any] | None = None) -> tuple[str, bytes]:
        from estgeo.config import load_settings
        from estgeo.report.content import ReportOptions, compose
        from estgeo.report.render import render_html, render_pdf
        from estgeo.store import open_store

        data = data or {}
        language = str(data.get("language") or "sv")
        if language not in ("sv", "en"):
            raise LagesbildInputError(user_msg=f"language {language!r}: expected 'sv' or 'en'")
        fmt = _requested_format(data, outputs)
        settings = load_settings(self.workspace, self.config_dir, self.layers_dir)
        store = open_store(settings, create=False) if settings.store_url != "embedded" or settings.store_path.exists() else None
        options = ReportOptions(period=str(data.get("period") or "latest"), area=data.get("area") or None,
                                profile=self.profile, lang=language)
        try:
            report = compose(settings, options, store=store)
        except EstgeoError as exc:  # a period, area or layer the report cannot use: the caller's to fix
            raise LagesbildInputError(user_msg=str(exc)) from exc
        html = render_html(report)
        if fmt == "html":
            return FORMATS["html"], html.encode("utf-8")
        return FORMATS["pdf"], render_pdf(html)

    def __repr__(self) -> str:
        return f"<LagesbildProcessor> {self.profile}"


def _requested_format(data: dict[str, Any], outputs: dict[str, Any] | None) -> str:
    """`format` input, or the media type asked for the `report` output; PDF by default."""
    fmt = data.get("format")
    wanted = ((outputs or {}).get("report") or {}).get("format", {}) if isinstance(outputs, dict) else {}
    media = wanted.get("mediaType") if isinstance(wanted, dict) else None
    if fmt is None and media:
        fmt = next((name for name, mime in FORMATS.items() if mime.split(";")[0] == str(media).split(";")[0]), None)
        if fmt is None:
            raise LagesbildInputError(user_msg=f"output media type {media!r}: expected application/pdf or text/html")
    fmt = str(fmt or "pdf").lower()
    if fmt not in FORMATS:
        raise LagesbildInputError(user_msg=f"format {fmt!r}: expected 'pdf' or 'html'")
    return fmt
