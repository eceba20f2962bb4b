"""A real estgeo server (granian + pygeoapi) on a free loopback port, for tests.

Not a test module: the access, transaction, privacy, fuzz and load tests import it (by
its own name; pytest puts tests/ on sys.path) to start the server exactly as
`estgeo serve` does, in a child process with its own session so it can be stopped with
everything it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(base: str, process: subprocess.Popen, log: Path, timeout: float = 90.0,
                       headers: dict[str, str] | None = None) -> None:
    """Return once `base` answers `/conformance` (200, or 401 for the internal profile);
    raise with the server's log if the process ends first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{base}/conformance", headers=headers, timeout=5).status_code in (200, 401):
                return
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start:\n{log.read_text()}")
        time.sleep(0.3)


@contextmanager
def live_server(workspace: Path, *, profile: str = "public", config_dir: Path | None = None,
                layers_dir: Path | None = None, workers: int = 1, env: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, url: str | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve `workspace` with `estgeo.publish.serve.serve`; yield (base URL, process).

    `url` is the public address the server puts in its links (several servers behind one
    address share it); by default its own."""
    port = free_port()
    script = (
        "import sys\n"
        "from estgeo.config import load_settings\n"
        "from estgeo.publish.serve import serve\n"
        f"s = load_settings(workspace={str(workspace)!r}, config_dir={str(config_dir) if config_dir else None!r}, "
        f"layers_dir={str(layers_dir) if layers_dir else None!r})\n"
        f"sys.exit(serve(s, '127.0.0.1', {port}, {workers}, profile={profile!r}, url={url!r}))\n"
    )
    log = workspace / f"serve-{profile}-{port}.log"
    child_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=child_env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, log, headers=headers)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # Workers that outlive their master (seen with granian) belong to the same session.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def server_pids(process: subprocess.Popen) -> list[int]:
    """The serve process and everything under it (granian master and workers)."""
    import psutil

    root = psutil.Process(process.pid)
    return [root.pid, *(child.pid for child in root.children(recursive=True))]
