"""Hostile input and concurrency (the findings of the attacker's review), each reproduced.

1. anonymous denial of service: huge `q`, huge `IN`, huge HTML pages, slow requests
   starving cheap ones → 4xx/503 at once, cheap requests answered meanwhile;
2. the ingest following symlinks, and a world-readable workspace;
3. two ingests at once;
4. a GeoJSON nested 1,500 levels deep;
5. a file name that is not UTF-8;
6. proxy header smuggling (tests/publish/test_access.py, against the real internal server);
plus the 100,000-column CSV and the report jobs.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from demo_workspace import demo_workspace
from live_server import live_server

from estgeo.config import Settings
from estgeo.ingest.pipeline import files_to_ingest, ingest_file
from estgeo.publish import budget
from estgeo.publish.limits import RateLimiter, RequestLimits, Slots, client_address, limits_middleware

REPO = Path(__file__).resolve().parents[2]
GOOD_CSV = "id;source_org;category;occurred_from;x;y\nM-1;kommun;Skadegörelse;2025-05-01 12:00;395936;6634672\n"


# The limits, in process ------------------------------------------------------------------
class Recorder:
    """A WSGI app that records whether it was reached and how much time it had."""

    def __init__(self) -> None:
        self.calls = 0
        self.remaining: float | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls += 1
        self.remaining = budget.remaining()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


def call(app: Any, path: str, query: str = "", method: str = "GET", body: bytes = b"",
         content_type: str = "", **environ: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": "203.0.113.9",
           "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": content_type, "wsgi.input": io.BytesIO(body), **environ}
    result = app(env, start_response)
    payload = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return seen["status"], seen["headers"], json.loads(payload or b"{}")


@pytest.fixture
def guarded(tmp_path: Path) -> tuple[Any, Recorder]:
    inner = Recorder()
    return limits_middleware(inner, RequestLimits(), tmp_path / "slots"), inner


ITEMS = "/collections/incident-density-r10/items"


def test_oversized_requests_are_refused_before_the_app(guarded: tuple[Any, Recorder]) -> None:
    app, inner = guarded
    limits = RequestLimits()
    status, _, error = call(app, ITEMS, "f=json&limit=1&q=" + "+".join(["z"] * 21_000))  # the 42 kB URL of the finding
    assert status.startswith("414") and "max_url_bytes" in error["description"]
    status, _, error = call(app, ITEMS, "q=" + "+".join(f"t{i}" for i in range(limits.max_q_terms + 1)))
    assert status.startswith("400") and "max_q_terms" in error["description"]
    status, _, error = call(app, ITEMS, "f=html&limit=10000")
    assert status.startswith("400") and "max_html_items" in error["description"]
    in_60000 = json.dumps({"op": "in", "args": [{"property": "count"}, list(range(60_000))]}).encode()
    status, _, error = call(app, ITEMS, "f=json", method="POST", body=in_60000, content_type="application/json")
    assert status.startswith("413") and "max_query_body_bytes" in error["description"]
    in_600 = json.dumps({"op": "in", "args": [{"property": "count"}, list(range(600))]}).encode()
    status, _, error = call(app, ITEMS, "f=json", method="POST", body=in_600, content_type="application/json")
    assert status.startswith("400") and "max_in_values" in error["description"]
    deep = "count = 1"
    for level in range(limits.max_filter_depth + 1):  # AND and OR alternating: each one a level deeper
        deep = f"count = {level} {'AND' if level % 2 else 'OR'} ({deep})"
    status, _, error = call(app, ITEMS, "filter=" + requests.utils.quote(deep))
    assert status.startswith("400") and "max_filter_depth" in error["description"]
    many = " OR ".join(f"count = {i}" for i in range(limits.max_filter_nodes))
    status, _, error = call(app, ITEMS, "filter=" + requests.utils.quote(many))
    assert status.startswith("400") and "max_filter_nodes" in error["description"]
    assert inner.calls == 0


def test_ordinary_requests_pass_with_a_time_budget(guarded: tuple[Any, Recorder]) -> None:
    app, inner = guarded
    chain = " OR ".join(f"count = {i}" for i in range(40))  # a long OR chain is one level, not forty
    for query in ("f=json&limit=100&bbox=13.1,59.8,13.2,59.9", "q=klotter+brand", "filter=" + requests.utils.quote(chain),
                  "f=html&limit=200", "f=json&limit=10000"):
        status, _, _ = call(app, ITEMS, query, REMOTE_ADDR=f"203.0.113.{len(query) % 250}")  # each its own client
        assert status.startswith("200"), query
        assert inner.remaining is not None and 0 < inner.remaining <= RequestLimits().time_budget_s
    assert budget.remaining() is None  # the deadline ends with the request
    status, _, _ = call(app, ITEMS, "f=json", method="POST", content_type="application/json",
                        body=json.dumps({"op": "in", "args": [{"property": "count"}, [1, 2, 3]]}).encode())
    assert status.startswith("200")


def test_the_time_budget_stops_the_work() -> None:
    budget.begin(0.05)
    try:
        budget.check("the filter")
        time.sleep(0.06)
        with pytest.raises(budget.OverBudget) as raised:
            budget.check("the filter")
        assert raised.value.http_status_code == 503 and "time_budget_s" in raised.value.message
    finally:
        budget.end()
    budget.check("outside a request")  # no deadline, nothing raised


def test_expensive_requests_share_slots_across_processes(tmp_path: Path) -> None:
    slots = Slots(tmp_path / "slots", 2)
    held = [slots.acquire(0.0), slots.acquire(0.0)]
    assert all(fd is not None for fd in held)
    assert slots.acquire(0.05) is None  # both taken: refused after the wait
    # Another process sees the same slots taken (flock is per open file, across processes).
    probe = ("import sys; from pathlib import Path; from estgeo.publish.limits import Slots; "
             f"sys.exit(0 if Slots(Path({str(tmp_path / 'slots')!r}), 2).acquire(0.05) is None else 1)")
    assert subprocess.run([sys.executable, "-c", probe], cwd=REPO).returncode == 0
    Slots.release(held.pop())
    assert slots.acquire(0.0) is not None


def test_busy_slots_answer_503_and_cheap_requests_pass(tmp_path: Path) -> None:
    limits = RequestLimits(expensive_slots=1, expensive_wait_s=0.01)
    app = limits_middleware(Recorder(), limits, tmp_path / "slots")
    fd = Slots(tmp_path / "slots", 1).acquire(0.0)  # a long filter request holds the only slot
    status, headers, error = call(app, ITEMS, "filter=count%3E1")
    assert status.startswith("503") and headers["Retry-After"] == "1" and error["code"] == "ServerBusy"
    assert call(app, ITEMS, "f=json&limit=10")[0].startswith("200")  # a cheap page does not wait
    assert call(app, "/collections")[0].startswith("200")
    Slots.release(fd)
    assert call(app, ITEMS, "filter=count%3E1")[0].startswith("200")


def test_the_slot_is_free_as_soon_as_the_answer_is_made(tmp_path: Path) -> None:
    """The server closes a response body after sending it, on its own schedule; a slot
    held until then made a client's next expensive request a 503."""

    class Body:
        closed = False

        def __iter__(self) -> Any:
            return iter([b"{}"])

        def close(self) -> None:
            Body.closed = True

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/json")])
        return Body()

    limits = RequestLimits(expensive_slots=1, expensive_wait_s=0.0)
    guarded = limits_middleware(app, limits, tmp_path / "slots")
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": ITEMS, "QUERY_STRING": "filter=count%3E1", "REMOTE_ADDR": "203.0.113.9",
           "wsgi.input": io.BytesIO(b"")}
    answer = guarded(env, lambda status, headers, exc_info=None: None)  # not yet iterated, not yet closed by a server
    assert answer == [b"{}"] and Body.closed
    fd = Slots(tmp_path / "slots", 1).acquire(0.0)
    assert fd is not None  # free for the next request at once
    Slots.release(fd)
    assert budget.remaining() is None


def test_the_proxy_host_and_authenticated_profiles_are_not_queued(tmp_path: Path) -> None:
    limits = RequestLimits(expensive_slots=1, expensive_wait_s=0.0)
    held = Slots(tmp_path / "slots", 1).acquire(0.0)  # the one slot is taken
    public = limits_middleware(Recorder(), limits, tmp_path / "slots")
    assert call(public, ITEMS, "filter=count%3E1")[0].startswith("503")  # a stranger waits
    assert call(public, ITEMS, "filter=count%3E1", REMOTE_ADDR="127.0.0.1")[0].startswith("200")  # QGIS on the host
    internal = limits_middleware(Recorder(), limits, tmp_path / "slots", rate_limited=False)
    assert call(internal, ITEMS, "filter=count%3E1")[0].startswith("200")
    Slots.release(held)


def test_rate_limit_per_client() -> None:
    rates = RateLimiter(rate_per_s=10, burst=3)
    assert [rates.take("a", 1, now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rates.take("a", 1, now=0.0) == pytest.approx(0.1)
    assert rates.take("b", 1, now=0.0) == 0.0  # another client has its own bucket
    assert rates.take("a", 1, now=0.2) == 0.0  # refilled
    trusted = frozenset({"127.0.0.1"})
    assert client_address({"REMOTE_ADDR": "198.51.100.7"}, trusted) == "198.51.100.7"
    assert client_address({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "10.0.0.5, 198.51.100.7"}, trusted) \
        == "198.51.100.7"
    assert client_address({"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "10.9.9.9"}, trusted) == "198.51.100.7"
    assert client_address({"REMOTE_ADDR": "127.0.0.1"}, trusted) is None  # the proxy's own host


def test_rate_limit_answers_429(tmp_path: Path) -> None:
    app = limits_middleware(Recorder(), RequestLimits(rate_per_s=1, burst=2), tmp_path / "slots")
    assert [call(app, "/collections")[0][:3] for _ in range(2)] == ["200", "200"]
    status, headers, error = call(app, "/collections")
    assert status.startswith("429") and int(headers["Retry-After"]) >= 1 and "rate_per_s" in error["description"]
    assert call(app, "/collections", REMOTE_ADDR="198.51.100.8")[0].startswith("200")


def test_limits_are_configuration(settings: Settings) -> None:
    from estgeo.publish.limits import LimitsConfigError

    assert RequestLimits.from_settings(settings) == RequestLimits()  # config/estgeo.yml states the defaults
    settings.project["server"]["limits"] = {"max_q_terms": 3}
    assert RequestLimits.from_settings(settings).max_q_terms == 3
    settings.project["server"]["limits"] = {"max_terms": 3}
    with pytest.raises(LimitsConfigError, match="max_terms"):
        RequestLimits.from_settings(settings)


# The limits, on the real server ----------------------------------------------------------
@pytest.fixture(scope="module")
def public_demo() -> Any:
    with live_server(demo_workspace(), workers=2) as (base, _):
        yield base


@pytest.mark.serial  # the request limits and the time budget, measured on the machine alone
def test_hostile_requests_against_the_real_server(public_demo: str) -> None:
    items = f"{public_demo}/collections/incident-density-r10/items"
    started = time.monotonic()
    answer = requests.get(f"{items}?f=json&limit=1&q=" + "+".join(["z"] * 21_000), timeout=30)
    assert answer.status_code == 414 and answer.json()["code"] == "RequestTooLarge"
    answer = requests.post(f"{items}?f=json", json={"op": "in", "args": [{"property": "count"}, list(range(60_000))]},
                           timeout=30)
    assert answer.status_code == 413
    assert requests.get(f"{items}?f=html&limit=10000", timeout=30).status_code == 400
    assert time.monotonic() - started < 10  # refused, not worked through (each took 29–126 s before)
    # The most expensive requests the limits allow, eight at once, while a cheap one is asked.
    heavy = {"op": "or", "args": [{"op": "like", "args": [{"property": "id"}, f"%{i}a%"]} for i in range(80)]}

    def expensive(i: int) -> requests.Response:
        return requests.post(f"{items}?f=json&limit=1000&sortby=-count", json=heavy, timeout=60)

    # Alone, it runs: the limits allow it (asked up to three times: the first may find the
    # worker's caches cold and overrun the 0.8 s budget on a busy 2-core machine).
    alone = []
    for _ in range(3):
        alone.append(expensive(0).status_code)
        if alone[-1] == 200:
            break
    assert alone[-1] == 200, alone
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        running = [pool.submit(expensive, i) for i in range(8)]
        cheap = requests.get(f"{public_demo}/collections?f=json", timeout=10)
        answers = [f.result() for f in running]
    assert cheap.status_code == 200
    # Eight at once: each runs in the one slot, is refused at once (Retry-After), or is
    # stopped at its time budget — an OGC ServerBusy that names the limit either way. Which runs, and
    # whether it stays within 0.8 s while the other seven are turned away, depends on the
    # machine's load, so none is required to.
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 503}, codes
    refused = [a for a in answers if a.status_code == 503]
    assert all(a.json()["code"] == "ServerBusy" for a in refused)


# The inbox is a boundary -------------------------------------------------------------------
def _cli(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESTGEO_HOME": str(workspace), "PYTHONPATH": str(REPO)}  # ESTGEO_STORE: the backend under test
    return subprocess.run([sys.executable, "-m", "estgeo.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def test_inbox_refuses_links_and_special_files_and_goes_on(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    inbox = workspace / "inbox"
    inbox.mkdir(parents=True)
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret-hash:19000:0:99999:7:::\n", encoding="utf-8")
    (inbox / "polisen_x.csv").symlink_to(secret)
    (inbox / "a_good.csv").write_text(GOOD_CSV, encoding="utf-8")
    (inbox / "deep.geojson").write_text('{"type":"FeatureCollection","features":' + "[" * 1500 + "]" * 1500 + "}")
    (inbox / "wide.csv").write_text(";".join(f"c{i}" for i in range(100_000)) + "\n", encoding="utf-8")
    os.mkfifo(inbox / "pipe.csv")
    (inbox / os.fsdecode(b"z_fil\xff\xfe.csv")).write_text(GOOD_CSV.replace("M-1", "M-2"), encoding="utf-8")
    result = _cli(workspace, "ingest", "--kind", "incidents")
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    output = result.stdout + result.stderr
    assert "polisen_x.csv: is a symbolic link" in output
    assert "deep.geojson: nested too deeply" in output
    assert "wide.csv: the header has 100,000 columns" in output
    assert "pipe.csv: is a named pipe" in output
    assert result.returncode == 3  # files were rejected
    from estgeo.config import load_settings
    from estgeo.store import open_store

    store = open_store(load_settings(workspace=workspace))
    runs = store.read_runs()
    assert len(runs) == 6  # every file has its run record, the refused ones too
    assert set(store.read("incidents")["id"]) == {"M-1", "M-2"}  # both good files, the odd name too
    quarantine = store.read_quarantine()
    assert "secret-hash" not in quarantine.to_csv()
    kept = sorted(p.name for p in (workspace / "quarantine").iterdir())
    assert not any(name.endswith("_polisen_x.csv") for name in kept)  # the link's target is never copied
    assert any(name.endswith("_polisen_x.csv.reason.txt") for name in kept)
    assert not any(name.endswith("_pipe.csv") for name in kept)
    assert all("secret-hash" not in p.read_text(errors="replace") for p in (workspace / "quarantine").iterdir())
    # Private to the service's user: folders 0700, files 0600.
    for path in [workspace, workspace / "quarantine", workspace / "published"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in (workspace / "quarantine").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    for path in workspace.glob("store.sqlite*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_a_file_named_on_the_command_line_may_be_a_link(settings: Settings, store: Any, tmp_path: Path) -> None:
    real = tmp_path / "export.csv"
    real.write_text(GOOD_CSV, encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    files, skipped = files_to_ingest([link, settings.inbox])
    assert files == [(link, True)] and skipped == []
    summary = ingest_file(settings, store, link, kind="incidents", follow_links=True)
    assert summary.ingested == 1 and not summary.error
    refused = ingest_file(settings, store, link, kind="incidents")
    assert "symbolic link" in refused.error


def test_two_ingests_of_the_same_file_at_once(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    export = tmp_path / "export.csv"
    lines = ["id;source_org;category;occurred_from;x;y"]
    lines += [f"P-{i};kommun;Skadegörelse;2025-05-{1 + i % 28:02d} 12:00;{395500 + i % 900};{6634300 + i // 200}"
              for i in range(60_000)]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "ESTGEO_HOME": str(workspace), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "estgeo.cli", "ingest", "--kind", "incidents", str(export)]
    from estgeo.config import load_settings
    from estgeo.store import open_store

    holder = open_store(load_settings(workspace=workspace))
    # This process holds the ingest lock while both start, so both meet it whatever their
    # start-up times (on PostGIS the first could otherwise finish before the second began).
    with holder.ingest_lock():
        first, second = (subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True) for _ in range(2))
        time.sleep(8)
        assert first.poll() is None and second.poll() is None  # both wait for the lock
    outputs = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert "quarantined" not in "".join(err for _, err in outputs), outputs
    assert not any("Traceback" in out + err for out, err in outputs)
    assert all("waiting for it to finish" in " ".join(err.split()) for _, err in outputs), [err[-600:] for _, err in outputs]
    store = holder
    assert store.count("incidents") == 60_000  # each row once
    runs = store.read_runs()
    assert len(runs) == 2
    assert sorted(runs["ingested"]) == [0, 60_000] and sorted(runs["unchanged"]) == [0, 60_000]
    assert (runs["read"] == runs["ingested"] + runs["updated"] + runs["unchanged"] + runs["quarantined"]).all()


# Report jobs ---------------------------------------------------------------------------------
def test_report_jobs_are_bounded_expired_and_not_listed(tmp_path: Path) -> None:
    from estgeo.publish.jobs import BoundedJobManager, TooManyJobs

    manager = BoundedJobManager({"name": "x", "connection": str(tmp_path / "jobs.json"), "output_dir": str(tmp_path),
                                 "max_active": 1, "keep_hours": 1})
    now = dt.datetime.now(dt.UTC)
    old_result = tmp_path / "old-result.pdf"
    old_result.write_bytes(b"%PDF")
    manager.add_job({"identifier": "old", "status": "successful", "finished": (now - dt.timedelta(hours=2)).isoformat(),
                     "location": str(old_result), "process_id": "lagesbild"})
    manager.add_job({"identifier": "fresh", "status": "successful", "finished": now.isoformat(), "location": None,
                     "process_id": "lagesbild"})
    manager.add_job({"identifier": "busy", "status": "running", "process_id": "lagesbild", "location": None})
    assert manager.get_jobs() == {"jobs": [], "numberMatched": 0}
    assert manager.expire() == 1 and not old_result.exists()
    assert manager.get_job("fresh")["identifier"] == "fresh"
    with pytest.raises(TooManyJobs) as raised:
        manager.execute_process("lagesbild", {})
    assert raised.value.http_status_code == 503
    import pygeoapi.process.manager.base as base

    assert base.uuid.uuid1().version == 4  # job ids cannot be guessed from one's own


def test_a_full_disk_is_reported_as_such(settings: Settings, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest and build on a full disk ended in tracebacks ("cannot rollback – no
    transaction is active", a rasterio error); the store's and GDAL's ways of saying it
    are recognised, and the command line says "the disk is full"."""
    import errno
    import sqlite3

    from click.testing import CliRunner

    from estgeo import cli
    from estgeo.ingest import pipeline

    assert pipeline.is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert pipeline.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("TIFFWriteEncodedStrip failed") from inner  # as rasterio wraps it
    except RuntimeError as wrapped:
        assert pipeline.is_disk_full(wrapped)
    assert not pipeline.is_disk_full(ValueError("bad value"))

    def full(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(pipeline, "_ingest_file", full)
    export = settings.inbox / "a_good.csv"
    export.write_text(GOOD_CSV, encoding="utf-8")
    with pytest.raises(pipeline.DiskFull):
        ingest_file(settings, store, export, kind="incidents")
    result = CliRunner().invoke(cli.main, ["--workspace", str(settings.workspace), "ingest", "--kind", "incidents"])
    assert result.exit_code == 1 and "the disk is full" in result.output and result.exception.__class__ is SystemExit
