"""Run the generated pygeoapi under gunicorn, and reload it after a build.

pygeoapi reads its configuration when `pygeoapi.flask_app` is imported, so the server
runs in a child process whose environment carries `PYGEOAPI_CONFIG` and
`PYGEOAPI_OPENAPI` from the start; this process never imports the Flask app. gunicorn
(not Flask's debug server) serves it. Ctrl-C reaches gunicorn directly from the
terminal; a SIGINT/SIGTERM sent to this process alone is passed on, so it never leaves
an orphaned server.

A finished build switches `published/current`; the provider notices new files by
itself, but new or removed collections and new extents need a fresh configuration:
`reload(settings)` rewrites it and sends SIGHUP, on which gunicorn replaces its
workers gracefully and they import the new configuration.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from urllib.parse import urlparse

import yaml

import estgeo
from estgeo.config import Settings
from estgeo.publish.pygeoapi_config import public_collections, pygeoapi_dir, write_pygeoapi_files

WSGI_APP = "estgeo.publish.wsgi:APP"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::")


def pid_file(settings: Settings) -> Path:
    """gunicorn's master pid, for `reload`."""
    return pygeoapi_dir(settings) / "gunicorn.pid"


def public_url(settings: Settings, host: str, port: int) -> str:
    """The URL clients use: `server.url`, unless that names this machine on another
    host/port than the one served (then links must follow the real port)."""
    configured = str(settings.server.get("url", "")).rstrip("/")
    parsed = urlparse(configured)
    if configured and parsed.hostname not in LOCAL_HOSTS:
        return configured  # a public name (behind a proxy) does not change with the bind
    if configured and parsed.port == port:
        return configured
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}"


def gunicorn_command(settings: Settings, host: str, port: int, workers: int) -> list[str]:
    """The gunicorn command line (pid file for `reload`; no shared control socket)."""
    return [
        sys.executable, "-m", "gunicorn",
        "--bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "--workers", str(workers),
        "--threads", str(int(settings.server.get("threads", 4))),
        "--timeout", str(int(settings.server.get("timeout", 120))),
        "--graceful-timeout", "10",
        "--pid", str(pid_file(settings)),
        "--pythonpath", str(Path(estgeo.__file__).resolve().parent.parent),
        "--access-logfile", "-",
        # gunicorn ≥ 26 opens ~/.gunicorn/gunicorn.ctl by default, shared by every
        # instance of the user; two servers (or tests in parallel) would collide.
        "--no-control-socket",
        WSGI_APP,
    ]  # fmt: skip


def serve(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    url: str | None = None,
) -> int:
    """Write the pygeoapi files and serve them until interrupted; return the exit code.

    Defaults come from `server:` in config/estgeo.yml. `url` is the public base URL
    (set it when behind a proxy); by default it follows `server.url` or host/port.
    """
    host = host or str(settings.server.get("host", "127.0.0.1"))
    port = int(port or settings.server.get("port", 5000))
    workers = int(workers or settings.server.get("workers", 2))
    base = (url or public_url(settings, host, port)).rstrip("/")
    config_path, openapi_path = write_pygeoapi_files(settings, url=base)

    env = dict(os.environ, PYGEOAPI_CONFIG=str(config_path), PYGEOAPI_OPENAPI=str(openapi_path))
    print_urls(settings, base)
    process = subprocess.Popen(gunicorn_command(settings, host, port, workers), env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        process.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def print_urls(settings: Settings, base: str) -> None:
    """Tell the user where to look before the server log takes over the terminal."""
    lines = [f"estgeo: serving on {base}/", f"  collections: {base}/collections"]
    collections = public_collections(settings)
    for collection in collections:
        lines.append(f"  {collection['id']}: {base}/collections/{collection['id']}/items")
    if not collections:
        lines.append("  (no public layers built yet: run the build, then reload)")
    print("\n".join(lines), flush=True)


def reload(settings: Settings) -> bool:
    """Regenerate the pygeoapi files and make a running server load them.

    Keeps the public URL the server was started with. Returns False when no server is
    running for this workspace (the files are still written for the next start).
    """
    config_path = pygeoapi_dir(settings) / "pygeoapi-config.yml"
    url = None
    if config_path.exists():
        url = yaml.safe_load(config_path.read_text(encoding="utf-8"))["server"]["url"]
    write_pygeoapi_files(settings, url=url)
    try:
        pid = int(pid_file(settings).read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.exists() and b"gunicorn" not in _read_bytes(cmdline):
        return False  # a stale pid file from a crashed server; the pid is someone else's
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return False
    return True


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
