"""The `estgeo` command: demo, ingest, build, serve, status, publish.

Every subcommand takes the workspace from --workspace or ESTGEO_HOME (default ./var);
long steps show a rich progress display; user errors end with a message, not a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from estgeo import __version__
from estgeo.config import ConfigError, Settings, load_settings

console = Console(stderr=True)
out = Console()


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=console, transient=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workspace", "-w", type=click.Path(file_okay=False, path_type=Path), envvar="ESTGEO_HOME",
              help="Workspace folder with inbox/, the store, quarantine/ and published/ (default ./var, or ESTGEO_HOME).")
@click.version_option(__version__, prog_name="estgeo")
@click.pass_context
def main(ctx: click.Context, workspace: Path | None) -> None:
    """estgeo — insecurity layers for EST, published over OGC APIs."""
    try:
        settings = load_settings(workspace=workspace)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    settings.ensure_workspace()
    ctx.obj = settings


def _store(settings: Settings):
    from estgeo.store import Store

    return Store(settings.store_path, settings.model)


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
@click.option("--source", help="Name of the column mapping in config/sources/ to use (default: matched by file name).")
@click.pass_obj
def ingest(settings: Settings, files: tuple[Path, ...], kind: str | None, crs: str | None, source: str | None) -> None:
    """Ingest CSV, GeoJSON and GeoPackage files (or folders of them; default: the inbox).

    Bad rows go to the quarantine with file, row, field, value and reason; good rows of
    the same file are ingested. Re-ingesting a file adds nothing.
    """
    paths = list(files) or [settings.inbox]
    failed = _ingest_paths(settings, paths, kind, crs, source)
    if failed:
        sys.exit(3)


def _ingest_paths(settings: Settings, paths: list[Path], kind: str | None, crs: str | None, source: str | None) -> int:
    from estgeo.ingest.pipeline import READABLE_SUFFIXES, ingest_file, new_run_id

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in READABLE_SUFFIXES)
        else:
            files.append(path)
    if not files:
        console.print("[yellow]No files to ingest.[/yellow]")
        return 0
    store = _store(settings)
    run_id = new_run_id()
    summaries = []
    with _progress() as progress:
        task = progress.add_task("ingesting", total=len(files))
        for path in files:
            progress.update(task, description=f"ingesting {path.name}")
            summaries.append(ingest_file(settings, store, path, kind=kind, crs=crs, source_name=source, run_id=run_id))
            progress.advance(task)
    table = Table(title="Ingest summary")
    for col in ("file", "kind", "source", "read", "ingested", "updated", "unchanged", "quarantined"):
        table.add_column(col, justify="right" if col in ("read", "ingested", "updated", "unchanged", "quarantined") else "left")
    for s in summaries:
        table.add_row(Path(s.file).name, s.kind, s.source, *(f"{v:,}" for v in (s.read, s.ingested, s.updated, s.unchanged, s.quarantined)))
    out.print(table)
    for s in summaries:
        if s.error:
            console.print(f"[red]{Path(s.file).name}: rejected whole: {s.error}[/red]")
        elif s.quarantined:
            console.print(f"[yellow]{Path(s.file).name}: {s.quarantined:,} rows quarantined — see {settings.quarantine_dir}[/yellow]")
    return sum(1 for s in summaries if s.error)


@main.command()
@click.option("--only", multiple=True, help="Build only these layers (names of layers/*.yml).")
@click.pass_obj
def build(settings: Settings, only: tuple[str, ...]) -> None:
    """Build every layer declared in layers/ and publish them atomically."""
    from estgeo.layers.run import build_layers

    with _progress() as progress:
        task = progress.add_task("building layers", total=None)
        result = build_layers(settings, _store(settings), lambda m: progress.update(task, description=m), list(only) or None)
        progress.update(task, total=1, completed=1, description="layers built")
    table = Table(title=f"Build {result.build_id} ({result.seconds:.1f} s)")
    table.add_column("collection")
    table.add_column("features", justify="right")
    for cid, n in result.collections.items():
        table.add_row(cid, f"{n:,}")
    out.print(table)
    from estgeo.publish.serve import reload

    if reload(settings):
        console.print("[green]Running server reloaded with the new layers.[/green]")


@main.command()
@click.option("--host", default=None, help="Address to listen on (default from config/estgeo.yml).")
@click.option("--port", type=int, default=None, help="Port (default from config/estgeo.yml, 5000).")
@click.option("--workers", type=int, default=None, help="Number of server worker processes.")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the published layers over OGC APIs (pygeoapi behind gunicorn)."""
    from estgeo.publish.serve import serve as run_server

    server = settings.server
    run_server(settings, host or server.get("host", "127.0.0.1"), port or int(server.get("port", 5000)),
               workers or int(server.get("workers", 2)))


@main.command()
@click.option("--print-config", is_flag=True, help="Print the generated pygeoapi configuration.")
@click.pass_obj
def publish(settings: Settings, print_config: bool) -> None:
    """Generate the pygeoapi configuration and OpenAPI document from config/ and layers/."""
    import yaml

    from estgeo.publish.pygeoapi_config import pygeoapi_config, write_pygeoapi_files

    if print_config:
        out.print(yaml.safe_dump(pygeoapi_config(settings), allow_unicode=True, sort_keys=False), markup=False, highlight=False)
        return
    config_path, openapi_path = write_pygeoapi_files(settings)
    console.print(f"pygeoapi config: {config_path}\nOpenAPI document: {openapi_path}")


@main.command()
@click.pass_obj
def status(settings: Settings) -> None:
    """What is in the workspace: records per kind, quarantine, last ingests, published build."""
    from estgeo.layers.run import current_build

    store = _store(settings)
    out.print(f"Workspace: {settings.workspace}")
    table = Table(title="Store")
    table.add_column("kind")
    table.add_column("records", justify="right")
    for kind in settings.model:
        table.add_row(kind, f"{store.count(kind):,}")
    quarantine = store.read_quarantine()
    table.add_row("quarantine entries", f"{len(quarantine):,}")
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
