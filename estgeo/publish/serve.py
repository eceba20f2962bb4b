"""Run the generated pygeoapi under granian, and reload it after a build.

The server runs in a child process; this process never imports the Flask app. Its
workers build it with `estgeo.publish.app.build_app` from the settings, which reach them
in the variables the CLI reads (`ESTGEO_HOME`, `ESTGEO_CONFIG`, `ESTGEO_LAYERS`) and the
profile in `ESTGEO_PROFILE`; the pygeoapi files are written here first. granian
(a production WSGI server with its HTTP layer in Rust; not Flask's debug server) serves
it. It replaced gunicorn because a web map asks for tiles by the hundred: gunicorn's
Python HTTP handling alone caps a tile at about a tenth of what nginx serves from disk,
granian's at about as much (benchmarks/serving.py). Ctrl-C reaches granian directly from
the terminal; a SIGINT/SIGTERM sent to this process alone is passed on, so it never
leaves an orphaned server.

A finished build switches `published/current`; the provider notices new files by
itself, but new or removed collections and new extents need a fresh configuration:
`reload(settings)` rewrites it and sends SIGHUP, on which granian replaces its
workers gracefully and they import the new configuration.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from urllib.parse import urlparse

import yaml

import estgeo
from estgeo.build.tiles import ARCHIVE, TILES_DIR
from estgeo.config import Settings
from estgeo.publish.pygeoapi_config import is_coverage, public_collections, pygeoapi_dir, write_pygeoapi_files

WSGI_APP = "estgeo.publish.wsgi:APP"
ASGI_APP = "estgeo.publish.asgi:APP"
PROJECT_ROOT = Path(estgeo.__file__).resolve().parent.parent
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::")


SERVER = b"granian"


def pid_file(settings: Settings, profile: str = "public") -> Path:
    """The server's main pid, for `reload`."""
    return pygeoapi_dir(settings, profile) / "server.pid"


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


def server_command(settings: Settings, host: str, port: int, workers: int, profile: str = "public") -> list[str]:
    """The granian command line (WSGI; pid file for `reload`).

    `server.threads` is the number of requests a worker runs at once (the rest wait in
    the queue); `server.access_log` (default on) logs every request to stdout.
    """
    access_log = bool(settings.server.get("access_log", True))
    return [
        sys.executable, "-m", "granian",
        # The internal profile runs behind the ASGI guard against header smuggling
        # (estgeo.publish.asgi); the public one on granian's WSGI interface.
        "--interface", "asgi" if profile == "internal" else "wsgi",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        # WSGI: requests at once per worker; under ASGI a2wsgi's pool has that many threads.
        *(["--blocking-threads", str(int(settings.server.get("threads", 4)))] if profile != "internal" else []),
        "--respawn-failed-workers",
        # On SIGHUP each worker is replaced by a new one and stopped this many seconds
        # later: longer than a worker takes to start, so no request finds none listening.
        "--respawn-interval", str(float(settings.server.get("respawn_interval", 10.0))),
        "--workers-kill-timeout", str(int(settings.server.get("graceful_timeout", 10))),
        "--pid-file", str(pid_file(settings, profile)),
        "--working-dir", str(PROJECT_ROOT),
        "--log-level", "warning",
        "--access-log" if access_log else "--no-access-log",
        ASGI_APP if profile == "internal" else WSGI_APP,
    ]  # fmt: skip


def serve(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    url: str | None = None,
    profile: str = "public",
) -> int:
    """Write the pygeoapi files and serve them until interrupted; return the exit code.

    Defaults come from `server:` in config/estgeo.yml. `url` is the public base URL
    (set it when behind a proxy); by default it follows `server.url` or host/port.
    `profile="internal"` serves the authenticated internal profile
    (`estgeo.publish.access`) with defaults from `access.internal`; it refuses to start
    without API keys or a proxy header to authenticate with.
    """
    from estgeo.publish.access import internal_config, policy_for

    policy_for(settings, profile)  # a wrong access block or key file fails here, not in a worker
    if profile == "internal":
        internal = internal_config(settings)
        host = host or str(internal.get("host", "127.0.0.1"))
        port = int(port or internal.get("port", 5001))
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        base = (url or str(internal.get("url") or f"http://{shown}:{port}")).rstrip("/")
    else:
        host = host or str(settings.server.get("host", "127.0.0.1"))
        port = int(port or settings.server.get("port", 5000))
        base = (url or public_url(settings, host, port)).rstrip("/")
    workers = int(workers or settings.server.get("workers", 2))
    write_pygeoapi_files(settings, url=base, profile=profile)
    env = dict(os.environ, ESTGEO_PROFILE=profile, ESTGEO_HOME=str(settings.workspace),
               ESTGEO_CONFIG=str(settings.config_dir), ESTGEO_LAYERS=str(settings.layers_dir))
    print_urls(settings, base, profile)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    pid_file(settings, profile).unlink(missing_ok=True)  # left by a killed server, granian would refuse to start
    # granian runs in a process group of its own, so that stopping can reach every worker
    # even when the master dies first (granian workers have been seen to outlive it).
    process = subprocess.Popen(server_command(settings, host, port, workers, profile), env=env, start_new_session=True)
    grace = float(settings.server.get("graceful_timeout", 10)) + 5.0
    stopping = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():  # a second Ctrl-C: stop now
            _signal_group(process.pid, signal.SIGKILL)
            return
        stopping.set()
        # To the master only: it stops its workers in order. Signalling the workers too
        # makes the master see them fail and respawn them.
        process.send_signal(signal.SIGINT)
        threading.Thread(target=_kill_after, args=(process, grace), daemon=True).start()

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = process.wait()
        stopped = code in (0, -signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL)
        return 0 if stopping.is_set() and stopped else code
    finally:
        _signal_group(process.pid, signal.SIGKILL)  # whatever is left of the group
        # granian removes its pid file only when it stops in time; one killed after the
        # grace period left it, and `estgeo publish` would then signal a pid that may
        # belong to another process by now.
        if process.poll() is not None:
            pid_file(settings, profile).unlink(missing_ok=True)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_after(process: subprocess.Popen, seconds: float) -> None:
    """A graceful stop gets `seconds`; after that the server is killed outright."""
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)


def print_urls(settings: Settings, base: str, profile: str = "public") -> None:
    """Tell the user where to look before the server log takes over the terminal."""
    lines = [f"estgeo: serving the {profile} profile on {base}/", f"  collections: {base}/collections"]
    collections = public_collections(settings)
    for collection in collections:
        route = "coverage" if is_coverage(collection) else "items"
        lines.append(f"  {collection['id']}: {base}/collections/{collection['id']}/{route}")
    if (settings.published_dir / "current" / TILES_DIR / ARCHIVE).exists():
        lines.append(f"  vector tiles, one file for any web server: {settings.published_dir / 'current' / TILES_DIR / ARCHIVE}")
    if not collections:
        lines.append("  (no public layers built yet: run the build, then reload)")
    if profile == "internal":
        lines.append("  every request needs an API key (Authorization: Bearer <key>) or the proxy's user header")
    print("\n".join(lines), flush=True)


def reload(settings: Settings) -> bool:
    """Regenerate the pygeoapi files and make the running servers load them.

    Keeps the URL each server was started with. Returns False when no server is
    running for this workspace (the files are still written for the next start).
    """
    reloaded = False
    for profile in ("public", "internal"):
        config_path = pygeoapi_dir(settings, profile) / "pygeoapi-config.yml"
        if profile != "public" and not config_path.exists():
            continue  # the internal profile was never served here
        url = None
        if config_path.exists():
            url = yaml.safe_load(config_path.read_text(encoding="utf-8"))["server"]["url"]
        write_pygeoapi_files(settings, url=url, profile=profile)
        reloaded = _hup(pid_file(settings, profile)) or reloaded
    return reloaded


def _hup(pid_path: Path) -> bool:
    try:
        pid = int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.exists() and SERVER not in _read_bytes(cmdline):
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
