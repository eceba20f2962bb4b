"""The `estgeo` command: demo, ingest, build, serve, status, publish, apikey, report.

Every subcommand takes the workspace from --workspace or ESTGEO_HOME (default ./var);
long steps show a rich progress display; user errors end with a message, not a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from estgeo import __version__
from estgeo.config import Settings, load_settings
from estgeo.errors import EstgeoError

console = Console(stderr=True)
out = Console()


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=console, transient=False)


class _Commands(click.Group):
    """The command group: every `EstgeoError` (estgeo.errors) that reaches it is printed as
    its message, without a traceback, and exits 1 — caught here once for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EstgeoError as exc:
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise click.ClickException(message) from exc


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workspace", "-w", type=click.Path(file_okay=False, path_type=Path), envvar="ESTGEO_HOME",
              help="Workspace folder with inbox/, the store, quarantine/ and published/ (default ./var, or ESTGEO_HOME).")
@click.version_option(__version__, prog_name="estgeo")
@click.pass_context
def main(ctx: click.Context, workspace: Path | None) -> None:
    """estgeo — insecurity layers for EST, published over OGC APIs."""
    settings = load_settings(workspace=workspace)  # a ConfigError is an EstgeoError: _Commands prints it
    # Everything written from here on (store, quarantine, builds, the server's files) is
    # private to the service's user, or group-readable by `workspace_group`.
    os.umask(settings.workspace_umask())
    settings.ensure_workspace()
    ctx.obj = settings


def _store(settings: Settings):
    from estgeo.store import open_store

    try:
        return open_store(settings)
    except Exception as exc:  # a wrong URL or an unreachable database: say so, no traceback
        raise click.ClickException(f"cannot open the store {settings.store_url!r}: {exc}") from exc


@main.command()
@click.option("--incidents", "n_incidents", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="Number of incident reports to generate.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed; the same seed gives the same data.")
@click.option("--no-ingest", is_flag=True, help="Only write the source files to the inbox.")
@click.pass_obj
def demo(settings: Settings, n_incidents: int, seed: int, no_ingest: bool) -> None:
    """Generate a realistic demo municipality (a Sunne-sized town) and ingest it.

    Writes the files each organisation would export (police CSV, housing company CSV,
    EST-app GeoJSON, lighting GeoPackage, trygghetsvandringar, åtgärder) into the inbox,
    then ingests them exactly as real exports are ingested.
    """
    from estgeo.demo import generate_demo

    with _progress() as progress:
        result = generate_demo(settings, n_incidents=n_incidents, seed=seed, progress=progress)
    console.print(f"[green]Demo files written to {settings.inbox}[/green]")
    if not no_ingest:
        _ingest_paths(settings, [Path(p) for p in result.files], None, None, None)


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(["incidents", "walks", "lights", "interventions"]),
              help="What the files hold, when no mapping in config/sources matches their names.")
@click.option("--crs", help="The files' coordinate reference system (e.g. EPSG:3006, EPSG:4326, EPSG:3021); detected when absent.")
@click.option("--source", help="Name of the column mapping in config/sources/ to use (default: matched by file name, "
                                "else the columns are recognised).")
@click.option("--sheet", help="The sheet of a workbook (.xlsx, .xls, .ods) to read, by name or number (default: the first).")
@click.pass_obj
def ingest(settings: Settings, files: tuple[Path, ...], kind: str | None, crs: str | None, source: str | None,
           sheet: str | None) -> None:
    """Ingest CSV, Excel/LibreOffice, GeoJSON and GeoPackage files (or folders of them; default: the inbox).

    Columns are read by the file's mapping in config/sources/, or recognised by their
    names and values when none fits (`estgeo sources suggest FILE` shows how). Bad rows
    go to the quarantine with file, row, field, value and reason; good rows of the same
    file are ingested. Re-ingesting a file adds nothing.
    """
    paths = list(files) or [settings.inbox]
    failed = _ingest_paths(settings, paths, kind, crs, source, sheet)
    if failed:
        sys.exit(3)


def _ingest_paths(settings: Settings, paths: list[Path], kind: str | None, crs: str | None, source: str | None,
                  sheet: str | None = None) -> int:
    from estgeo.ingest.pipeline import DiskFull, display_name, files_to_ingest, ingest_file, new_run_id

    files, skipped = files_to_ingest(paths)
    if skipped:
        console.print(f"[yellow]Not read (not a file type estgeo ingests): "
                      f"{', '.join(display_name(p) for p in skipped)}[/yellow]")
    if not files:
        console.print("[yellow]No files to ingest.[/yellow]")
        return 0
    store = _store(settings)
    summaries = []
    try:
        with store.ingest_lock(on_wait=lambda message: console.print(f"[yellow]{message}[/yellow]")):
            run_id = new_run_id()
            with _progress() as progress:
                task = progress.add_task("ingesting", total=len(files))
                for path, named in files:
                    progress.update(task, description=f"ingesting {display_name(path)}")
                    summaries.append(ingest_file(settings, store, path, kind=kind, crs=crs, source_name=source,
                                                 run_id=run_id, follow_links=named, sheet=sheet))
                    progress.advance(task)
    except DiskFull as exc:
        raise click.ClickException(f"{exc.strerror}; {len(summaries)} of {len(files)} files were ingested first") from exc
    table = Table(title="Ingest summary")
    for col in ("file", "kind", "source", "read", "ingested", "updated", "unchanged", "quarantined"):
        table.add_column(col, justify="right" if col in ("read", "ingested", "updated", "unchanged", "quarantined") else "left")
    for s in summaries:
        table.add_row(display_name(Path(s.file)), s.kind, s.source, *(f"{v:,}" for v in (s.read, s.ingested, s.updated, s.unchanged, s.quarantined)))
    out.print(table)
    for s in summaries:
        if s.recognised:
            console.print(f"{escape(display_name(Path(s.file)))}: {escape(s.recognised)}", highlight=False)
        if s.error:
            console.print(f"[red]{escape(display_name(Path(s.file)))}: rejected whole: {escape(s.error)}[/red]")
        elif s.quarantined:
            console.print(f"[yellow]{Path(s.file).name}: {s.quarantined:,} rows quarantined — see {settings.quarantine_dir}[/yellow]")
        elif s.read == 0:
            console.print(f"[yellow]{Path(s.file).name}: no rows to ingest (only a header, or an empty collection)[/yellow]")
        if s.notes:
            console.print(f"[yellow]{Path(s.file).name}: {s.notes:,} rows ingested with a note (e.g. a time in the "
                          "daylight-saving overlap, window widened) — see `estgeo status`[/yellow]")
    return sum(1 for s in summaries if s.error)


@main.command()
@click.option("--only", multiple=True, help="Build only these layers (names of layers/*.yml).")
@click.pass_obj
def build(settings: Settings, only: tuple[str, ...]) -> None:
    """Build every layer declared in layers/ and publish them atomically."""
    from estgeo.build.run import build_layers

    store = _store(settings)
    if store.count("incidents") == 0:
        raise click.ClickException(f"the store ({settings.store_url}) holds no incidents yet: "
                                   "ingest some first (`estgeo ingest FILE`, or `estgeo demo`)")
    with _progress() as progress:
        task = progress.add_task("building layers", total=None)
        try:
            result = build_layers(settings, store, lambda m: progress.update(task, description=m), list(only) or None)
        except EstgeoError:
            raise  # BuildBusy, PrivacyLeak, …: their message is the answer (_Commands)
        except Exception as exc:
            from estgeo.ingest.pipeline import is_disk_full

            if is_disk_full(exc):  # SQLite, GDAL and OSError each say it their own way
                raise click.ClickException(
                    f"the disk is full: the build was not published and the previous layers are still served "
                    f"(free space for {settings.workspace} and build again; the unfinished build is removed then)") from exc
            raise
        progress.update(task, total=1, completed=1, description="layers built")
    table = Table(title=f"Build {result.build_id} ({result.seconds:.1f} s)")
    table.add_column("collection")
    table.add_column("features", justify="right")
    for cid, n in result.collections.items():
        table.add_row(cid, f"{n:,}")
    out.print(table)
    if result.audit is not None:
        what = "perturbed or withheld" if result.audit.method == "cell-key" else "withheld"
        if result.audit.ok:
            console.print(f"Privacy audit ({result.audit.method}): no {what} count exposed ({result.audit.seconds:.1f} s).")
        elif result.audit.skipped:
            console.print(f"[yellow]Privacy audit: {result.audit.skipped}.[/yellow]")
        else:
            console.print(f"[yellow]Privacy audit ({result.audit.method}): {result.audit.exposed:,} {what} counts an attacker can narrow to ±1 "
                          f"— {result.audit.first_leak()}. Report: {result.audit_file}; see `estgeo privacy audit` "
                          f"and privacy.method / privacy.enforce in config/estgeo.yml.[/yellow]")
    from estgeo.publish.serve import reload

    if reload(settings):
        console.print("[green]Running server reloaded with the new layers.[/green]")


@main.group()
def sources() -> None:
    """Column mappings of partners' exports (config/sources/)."""


@sources.command("suggest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(["incidents", "walks", "lights", "interventions"]), help="What the file holds.")
@click.option("--sheet", help="The sheet of a workbook, by name or number (default: the first).")
@click.option("--rows", "preview_rows", default=5, show_default=True, help="Rows to preview.")
@click.option("--write", "name", help="Write the mapping to config/sources/NAME.yml.")
@click.pass_obj
def sources_suggest(settings: Settings, file: Path, kind: str | None, sheet: str | None, preview_rows: int,
                    name: str | None) -> None:
    """The mapping estgeo would use for FILE, with its first rows as they would be read."""
    from estgeo.ingest.suggest import preview, suggest, write_mapping

    found = suggest(settings, file, kind, sheet)
    console.print(escape(found.describe()), highlight=False)
    out.print(preview(settings, file, found, sheet, preview_rows))
    if name:
        path = write_mapping(settings, file, found, name)
        console.print(f"[green]Wrote {escape(str(path))}[/green]: files matching its patterns are read with it from now on.")


@main.group()
def quarantine() -> None:
    """Rows ingest could not take: list, show, retry, accept, drop."""


def _selection(file: str | None, row: int | None, run: str | None, reason: str | None):
    from estgeo.ingest.quarantine import Selection

    return Selection(file=file, row=row, run=run, reason=reason)


@quarantine.command("list")
@click.option("--file", help="Only this file (its name as ingested).")
@click.pass_obj
def quarantine_list(settings: Settings, file: str | None) -> None:
    """Open quarantined rows by file and reason."""
    from estgeo.ingest.quarantine import open_entries, summary

    table = summary(open_entries(_store(settings), _selection(file, None, None, None)))
    if table.empty:
        console.print("[green]Nothing is open in the quarantine.[/green]")
        return
    view = Table(title=f"Quarantine: {table['rows'].sum():,} open rows (a row with two problems counts under both)")
    for col in ("file", "field", "reason", "rows", "example", "suggestion"):
        view.add_column(col, justify="right" if col == "rows" else "left", overflow="fold")
    for r in table.itertuples():
        view.add_row(escape(str(r.file)), str(r.field), escape(str(r.reason)), f"{r.rows:,}",
                     escape(str(r.example or "")[:60]), escape(str(r.suggestion or "")))
    out.print(view)
    console.print("Next: add a synonym to config/vocabulary.yml (or fix the mapping) and `estgeo quarantine retry`; "
                  "`estgeo quarantine show FILE` for the rows.")


@quarantine.command("show")
@click.argument("file")
@click.option("--row", type=int, help="Only this row.")
@click.option("--limit", default=50, show_default=True)
@click.pass_obj
def quarantine_show(settings: Settings, file: str, row: int | None, limit: int) -> None:
    """The open quarantined rows of FILE: each problem and the row as it was read."""
    from estgeo.ingest.quarantine import open_entries

    entries = open_entries(_store(settings), _selection(file, row, None, None))
    if entries.empty:
        raise click.ClickException(f"no open quarantined rows for {file}" + (f" row {row}" if row is not None else ""))
    view = Table(title=f"{file}: {entries['row'].nunique():,} open rows")
    for col in ("row", "field", "value", "reason", "suggestion", "record"):
        view.add_column(col, overflow="fold")
    for r in entries.head(limit).itertuples():
        view.add_row(str(r.row), str(r.field), escape(str(r.value or "")[:80]), escape(str(r.reason)),
                     escape(str(r.suggestion or "")), escape(str(r.record or "")[:200]))
    out.print(view)


@quarantine.command("retry")
@click.option("--file", help="Only this file.")
@click.option("--row", type=int, help="Only this row.")
@click.option("--reason", help="Only rows whose reason contains this text.")
@click.pass_obj
def quarantine_retry(settings: Settings, file: str | None, row: int | None, reason: str | None) -> None:
    """Read the open quarantined rows again with today's mappings and vocabularies."""
    from estgeo.ingest.quarantine import retry

    store = _store(settings)
    with store.ingest_lock(on_wait=lambda message: console.print(f"[yellow]{message}[/yellow]")):
        result = retry(settings, store, _selection(file, row, None, reason))
    view = Table(title="Retry")
    for col in ("file", "read", "ingested", "updated", "unchanged", "quarantined"):
        view.add_column(col, justify="left" if col == "file" else "right")
    for s in result.summaries:
        view.add_row(escape(Path(s.file).name), *(f"{v:,}" for v in (s.read, s.ingested, s.updated, s.unchanged, s.quarantined)))
    out.print(view)
    for name, number, why in result.skipped:
        console.print(f"[yellow]{escape(name)} row {number}: not retried — {escape(why)}[/yellow]")


@quarantine.command("accept")
@click.argument("file")
@click.argument("row", type=int)
@click.option("--use", type=click.Choice(["new", "stored"]), required=True,
              help="new: store the quarantined version; stored: keep the one already stored.")
@click.pass_obj
def quarantine_accept(settings: Settings, file: str, row: int, use: str) -> None:
    """Settle a duplicate id with different content (FILE ROW, as `quarantine list` shows)."""
    from estgeo.ingest.quarantine import accept

    store = _store(settings)
    with store.ingest_lock(on_wait=lambda message: console.print(f"[yellow]{message}[/yellow]")):
        console.print(f"{escape(file)} row {row}: {accept(settings, store, file, row, use)}")


@quarantine.command("drop")
@click.option("--file", help="Only this file.")
@click.option("--row", type=int, help="Only this row.")
@click.option("--reason", help="Only rows whose reason contains this text.")
@click.option("--why", required=True, help="Why the rows are given up (recorded, with your user name).")
@click.pass_obj
def quarantine_drop(settings: Settings, file: str | None, row: int | None, reason: str | None, why: str) -> None:
    """Give quarantined rows up, with the reason recorded."""
    from estgeo.ingest.quarantine import drop

    if file is None and row is None and reason is None:
        raise click.ClickException("name what to drop: --file, --row and/or --reason")
    count = drop(_store(settings), _selection(file, row, None, reason), why)
    console.print(f"{count:,} rows dropped: {escape(why)}")


@main.group()
def privacy() -> None:
    """What the public layers give away: the attacker's audit."""


@privacy.command("audit")
@click.option("--build", "build_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Build folder to audit (default: published/current).")
@click.option("--no-truth", is_flag=True, help="Do not read the store: judge every withheld value that could be small.")
@click.option("--lp-max-vars", type=int, default=60, show_default=True,
              help="Solve pieces of up to this many withheld values exactly (LP/ILP); 0: bound propagation only.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.pass_obj
def privacy_audit(settings: Settings, build_dir: Path | None, no_truth: bool, lp_max_vars: int, as_json: bool) -> None:
    """Play the attacker with every public collection; exit 1 when a withheld count is exposed."""
    from estgeo.build.audit import audit_folder, format_report
    from estgeo.build.run import current_build

    folder = build_dir or current_build(settings)
    if folder is None:
        raise click.ClickException(f"nothing is published in {settings.published_dir} yet: run `estgeo build` first")
    report = audit_folder(settings, folder, truth_store=None if no_truth else _store(settings), lp_max_vars=lp_max_vars,
                          averaging=True)
    if as_json:
        out.print_json(report.to_json())
    else:
        table = Table(title=f"Privacy audit of build {report.build} ({report.method}, threshold {report.min_count}, "
                            f"{report.seconds:.1f} s)")
        perturbed = report.method == "cell-key"
        names = ["collection", "perturbed" if perturbed else "withheld", f"sensitive (1–{report.min_count - 1})",
                 "exposed (±1)", "exact"]
        if perturbed:
            names += ["mean |perturbation|", "small shown exactly", "small got by averaging"]
        for name in [*names, "interval widths of sensitive counts"]:
            table.add_column(name, justify="left" if name.startswith(("collection", "interval")) else "right")
        for row in format_report(report):
            table.add_row(*row)
        out.print(table)
        for c in report.collections:
            for note in c.notes:
                out.print(f"{c.collection}: {note}")
            for case in c.tightest[:5]:
                out.print(f"  {c.collection}: " + ", ".join(f"{k} {v}" for k, v in case.items()))
        if report.skipped:
            out.print(f"[red]Not audited: {report.skipped}.[/red]")
        for note in report.notes:
            out.print(f"Note: {note}.")
        if report.not_modelled:
            out.print("Not modelled yet: " + "; ".join(report.not_modelled))
        what = "perturbed" if perturbed else "withheld"
        if report.ok:
            out.print(f"[green]No {what} count is exposed.[/green]")
        elif report.exposed:
            out.print(f"[red]{report.exposed:,} {what} counts are exposed.[/red]")
    sys.exit(0 if report.ok else 1)


@privacy.command("ptable")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the table (config/perturbation.csv is the one the build reads).")
@click.option("--max", "max_perturbation", type=click.IntRange(1, 30), default=8, show_default=True,
              help="Largest perturbation D (at least privacy.min_count − 1).")
@click.option("--variance", type=click.FloatRange(0.1, 50), default=2.0, show_default=True,
              help="Variance of the perturbation of a count.")
@click.pass_obj
def privacy_ptable(settings: Settings, output: Path, max_perturbation: int, variance: float) -> None:
    """Write a cell-key perturbation table (maximum entropy, unbiased, a 0 stays 0)."""
    from estgeo.audit import cellkey

    need = settings.privacy_min_count - 1
    if max_perturbation < need:
        raise click.ClickException(f"--max {max_perturbation}: with privacy.min_count {settings.privacy_min_count} "
                                   f"the largest perturbation must be at least {need}")
    table = cellkey.generate(max_perturbation, variance)
    table.to_csv(output)
    out.print(f"{output}: perturbations −{max_perturbation} … +{max_perturbation}, variance "
              f"{', '.join(f'{v:.2f}' for v in table.variance[1:])} for counts 1 … {max_perturbation}+")


@main.command()
@click.option("--host", default=None, help="Address to listen on (default from config/estgeo.yml).")
@click.option("--port", type=int, default=None, help="Port (default from config/estgeo.yml: 5000, internal 5001).")
@click.option("--workers", type=int, default=None, help="Number of server worker processes.")
@click.option("--profile", type=click.Choice(["public", "internal"]), default="public", show_default=True,
              help="public: read-only public layers. internal: adds internal and editable collections, "
                   "every request authenticated (access.internal in config/estgeo.yml).")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, workers: int | None, profile: str) -> None:
    """Serve the published layers over OGC APIs (pygeoapi behind granian)."""
    from estgeo.publish.serve import serve as run_server

    sys.exit(run_server(settings, host, port, workers, profile=profile))


@main.command()
@click.argument("name")
@click.pass_obj
def apikey(settings: Settings, name: str) -> None:
    """Make an API key for the internal profile and add it to the key file.

    The key is printed once; the file (access.internal.api_keys_file, in the workspace)
    keeps only its sha256 hash. Give it to one person or device (QGIS, QField) and
    remove its line from the file to revoke it.
    """
    from estgeo.publish.access import add_api_key

    key, path = add_api_key(settings, name)
    console.print(f"API key '{name}' added to {path} (only its hash is stored). The key, shown this once:")
    out.print(key, markup=False, highlight=False)


@main.command()
@click.option("--print-config", is_flag=True, help="Print the generated pygeoapi configuration.")
@click.pass_obj
def publish(settings: Settings, print_config: bool) -> None:
    """Generate the pygeoapi configuration and OpenAPI document from config/ and layers/."""
    import yaml

    from estgeo.publish.pygeoapi_config import pygeoapi_config, write_pygeoapi_files

    if print_config:
        out.print(yaml.safe_dump(pygeoapi_config(settings), allow_unicode=True, sort_keys=False), markup=False, highlight=False, soft_wrap=True)
        return
    config_path, openapi_path = write_pygeoapi_files(settings)
    console.print(f"pygeoapi config: {config_path}\nOpenAPI document: {openapi_path}")


@main.command()
@click.option("--period", default="latest", show_default=True,
              help="'latest' (the latest complete lägesbild period) or FIRST..LAST days, e.g. 2026-01-01..2026-12-31.")
@click.option("--area", default=None, help="An H3 cell id, a WKT/GeoJSON polygon (lon/lat or SWEREF 99 TM) or a vector file.")
@click.option("--profile", type=click.Choice(["public", "internal"]), default="public", show_default=True,
              help="public: only what the published layers show; internal: exact counts from the store.")
@click.option("--lang", type=click.Choice(["sv", "en"]), default="sv", show_default=True)
@click.option("--output", "-o", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the HTML and PDF into.")
@click.pass_obj
def report(settings: Settings, period: str, area: str | None, profile: str, lang: str, out_dir: Path) -> None:
    """Write the lägesbild report (self-contained HTML and PDF) from the published layers."""
    from estgeo.report import make_report

    paths = make_report(settings, period, area, profile, lang, out_dir, store=_store(settings))
    for path in paths.values():
        out.print(str(path))


@main.command("qgis-project")
@click.option("--url", help="The estgeo server's base URL (default: server.url in config/estgeo.yml).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("estgeo.qgz"), show_default=True,
              help="Project file to write (.qgz, or .qgs for plain XML).")
@click.option("--lang", type=click.Choice(["sv", "en"]), default="sv", show_default=True, help="Language of layer names and legends.")
@click.option("--period", "period_kind", type=click.Choice(["week", "lagesbild", "month", "all"]), default="lagesbild",
              show_default=True, help="Which period the density shows: the latest complete one of this kind.")
@click.pass_obj
def qgis_project(settings: Settings, url: str | None, output: Path, lang: str, period_kind: str) -> None:
    """Write a QGIS project (EPSG:3006) with every layer of the server, styled.

    Feature collections are OGC API Features layers, tiled ones also vector tile layers,
    the modelled light a raster; the styles come from layers/styles/.
    """
    from estgeo.clients.qgis_project import make_project

    base = url or str(settings.server.get("url", "http://localhost:5000"))
    from estgeo import styles

    path, collections = make_project(base, output, lang=lang, taxonomy=settings.taxonomy,
                                     first=styles.first_class(settings), count_style=styles.styles(settings)["count"],
                                     period_kind=period_kind)
    console.print(f"[green]QGIS project written to {path}[/green] ({len(collections)} collections from {base})")


@main.command()
@click.pass_obj
def status(settings: Settings) -> None:
    """What is in the workspace: records per kind, quarantine, last ingests, published build."""
    from estgeo.build.run import current_build

    store = _store(settings)
    out.print(f"Workspace: {settings.workspace}")
    table = Table(title="Store")
    table.add_column("kind")
    table.add_column("records", justify="right")
    for kind in settings.model:
        table.add_row(kind, f"{store.count(kind):,}")
    quarantine = store.read_quarantine()
    table.add_row("quarantine entries", f"{len(quarantine):,}")
    table.add_row("ingest notes", f"{len(store.read_notes()):,}")
    out.print(table)
    runs = store.read_runs().tail(10)
    if not runs.empty:
        recent = Table(title="Last ingests")
        for col in ("file", "kind", "read", "ingested", "updated", "unchanged", "quarantined"):
            recent.add_column(col)
        for _, r in runs.iterrows():
            recent.add_row(Path(r["file"]).name, r["kind"], *(f"{int(r[c]):,}" for c in ("read", "ingested", "updated", "unchanged", "quarantined")))
        out.print(recent)
    build_dir = current_build(settings)
    out.print(f"Published build: {build_dir.name if build_dir else 'none yet (run estgeo build)'}")
    if build_dir:
        for path in sorted(build_dir.glob("*.gpkg")):
            out.print(f"  {path.stem}")


def run() -> None:
    """Console-script entry point: user errors as one line, not a traceback."""
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    run()
